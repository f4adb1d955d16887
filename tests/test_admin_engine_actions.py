"""Admin actions of the engine: re-apply and reconcile selected users, set
and clear simulated faults; each calls a service."""

import pytest

from devices.drivers.simulated import SimulatedDriver
from devices.models import Mismatch, SimulatedDevice, TargetState
from devices.services import manual_change
from devices.state import Command
from profiles.models import SwitchEvent
from tests.factories import make_user

# The converges run on commit: each step that commits in production runs
# its on-commit callbacks in `committed` here.
pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = make_user("admin", "1009", enable=False)
    admin.is_staff = admin.is_superuser = True
    admin.save(update_fields=["is_staff", "is_superuser"])
    client.force_login(admin)
    return client


def test_admin_reapplies_the_selected_users(admin_client, committed):
    with committed():
        alice = make_user("alice", "1000")
    with committed():
        manual_change(extension="1000", command=Command("1000", "set_dnd", {"on": True}))
    assert SimulatedDriver().read(["1000"])["1000"].dnd is True
    with committed():
        response = admin_client.post(
            "/admin/devices/targetstate/", {"action": "reapply_users", "_selected_action": [alice.pk]}
        )
    assert response.status_code == 302
    assert SimulatedDriver().read(["1000"])["1000"].dnd is False
    event = SwitchEvent.objects.filter(user=alice).first()
    assert (event.event, event.source, event.actor.username) == ("reapply", "admin", "admin")


def test_admin_reconciles_the_selected_users(admin_client, committed):
    with committed():
        alice = make_user("alice", "1000")
    with committed():
        manual_change(extension="1000", command=Command("1000", "set_dnd", {"on": True}))
    Mismatch.objects.all().delete()
    with committed():
        admin_client.post(
            "/admin/devices/targetstate/",
            {"action": "reconcile_users", "_selected_action": [TargetState.objects.get(user=alice).pk]},
        )
    assert Mismatch.objects.filter(user=alice, op="set_dnd").exists()
    assert SimulatedDriver().read(["1000"])["1000"].dnd is True


def test_admin_sets_and_clears_a_simulated_fault(admin_client, committed):
    with committed():
        make_user("alice", "1000")
    device = SimulatedDevice.objects.get(extension__number="1000")
    admin_client.post(
        "/admin/devices/simulateddevice/", {"action": "inject_permanent_fault", "_selected_action": [device.pk]}
    )
    assert SimulatedDevice.objects.get(pk=device.pk).fault == "permanent"
    admin_client.post("/admin/devices/simulateddevice/", {"action": "clear_fault", "_selected_action": [device.pk]})
    assert SimulatedDevice.objects.get(pk=device.pk).fault == ""


@pytest.mark.parametrize(
    ("url", "selected"),
    [
        ("/admin/profiles/account/", lambda alice: alice.account.pk),
        ("/admin/profiles/clientprofile/", lambda alice: alice.account.client_profile_id),
    ],
    ids=["accounts", "client-profiles"],
)
def test_accounts_and_client_profiles_offer_reapply_and_reconcile(admin_client, committed, url, selected):
    with committed():
        alice = make_user("alice", "1000")
    with committed():
        manual_change(extension="1000", command=Command("1000", "set_dnd", {"on": True}))
    Mismatch.objects.all().delete()
    with committed():
        admin_client.post(
            url,
            {
                "action": "reconcile_members" if "client" in url else "reconcile_users",
                "_selected_action": [selected(alice)],
            },
        )
    assert Mismatch.objects.filter(user=alice, op="set_dnd").exists()
    assert SimulatedDriver().read(["1000"])["1000"].dnd is True  # a check never changes a device

    with committed():
        response = admin_client.post(
            url,
            {
                "action": "reapply_users",
                "_selected_action": [selected(alice)],
            },
        )
    assert response.status_code == 302
    assert SimulatedDriver().read(["1000"])["1000"].dnd is False
    event = SwitchEvent.objects.filter(user=alice).first()
    assert (event.event, event.source, event.actor.username) == ("reapply", "admin", "admin")
