"""Event services: client sessions, hot desk, administrator's and service
start's re-apply, reconcile, preview, and the simulated handset."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from devices import converge, services
from devices.drivers.simulated import SimulatedDriver
from devices.models import ApplyRun, ClientSession, Extension, Mismatch, TargetState
from devices.state import Command
from profiles import events
from profiles.errors import InUse, NotAllowed
from profiles.models import SwitchEvent
from profiles.services import preview_changes, reapply_many, select_profile
from tests.factories import client_profile, make_user, profile_named

# The default transactional test case: where a test's assertions depend on
# what runs on commit (converges, mismatch checks), each step runs inside
# committed(), as it commits in production.
pytestmark = pytest.mark.django_db


def device(number: str):
    return SimulatedDriver().read([number])[number]


def softphone(owner, number="2000"):
    return Extension.objects.create(number=number, kind=Extension.Kind.SOFTPHONE, owner=owner)


def count(func) -> int:
    with CaptureQueriesContext(connection) as ctx:
        func()
    return len(ctx.captured_queries)


# --- client sessions ----------------------------------------------------------------------


def test_connecting_twice_is_not_a_second_event():
    alice = make_user("alice", "1000")
    phone = softphone(alice)
    events.connect_client(user=alice, extension=phone)
    events.connect_client(user=alice, extension=phone)
    assert ClientSession.objects.filter(user=alice).count() == 1
    assert SwitchEvent.objects.filter(user=alice, event="session_connect").count() == 1


def test_bob_cannot_connect_to_alices_softphone():
    alice = make_user("alice", "1000")
    bob = make_user("bob", "1001")
    phone = softphone(alice)
    with pytest.raises(NotAllowed):
        events.connect_client(user=bob, extension=phone)
    shared = softphone(None, "2001")
    events.connect_client(user=alice, extension=shared)
    with pytest.raises(InUse):
        events.connect_client(user=bob, extension=shared)
    assert not ClientSession.objects.filter(user=bob).exists()


def test_a_client_connects_only_to_a_softphone():
    alice = make_user("alice", "1000")
    with pytest.raises(NotAllowed):
        events.connect_client(user=alice, extension=alice.account.primary_extension)


def test_disconnecting_without_a_session_changes_nothing():
    alice = make_user("alice", "1000")
    assert events.disconnect_client(user=alice, extension=softphone(alice)) is False
    assert not SwitchEvent.objects.filter(user=alice, event="session_disconnect").exists()


def test_switching_while_connected_updates_the_softphone_too(committed):
    with committed():
        alice = make_user("alice", "1000")
    with committed():
        events.connect_client(user=alice, extension=softphone(alice))
    with committed():
        select_profile(user=alice, profile=profile_named(alice, "Working from home"), prompt_values={"forward": "1099"})
    assert device("2000").forward == "1099"
    assert device("2000").presence == "Working from home"


def test_a_manual_change_on_a_released_softphone_is_no_mismatch(committed):
    with committed():
        alice = make_user("alice", "1000")
    phone = softphone(alice)
    with committed():
        events.connect_client(user=alice, extension=phone)
    with committed():
        events.disconnect_client(user=alice, extension=phone)
    with committed():
        services.manual_change(extension="2000", command=Command("2000", "set_dnd", {"on": True}))
    with committed():
        services.reconcile_users([alice.pk])
    assert not Mismatch.objects.filter(user=alice).exists()
    assert device("2000").dnd is True


# --- hot desk -----------------------------------------------------------------------------


def test_hot_desk_login_twice_is_one_event():
    frank = make_user("frank", "1005", hot_desk=True)
    primary = frank.account.primary_extension
    assert events.hot_desk_logout(extension=primary) is True
    assert events.hot_desk_logout(extension=primary) is False
    assert events.hot_desk_login(extension=primary) is True
    assert list(
        SwitchEvent.objects.filter(user=frank, event__startswith="hot_desk")
        .order_by("id")
        .values_list("event", flat=True)
    ) == ["hot_desk_logout", "hot_desk_login"]


def test_hot_desk_login_needs_a_hot_desk_device():
    alice = make_user("alice", "1000")
    with pytest.raises(NotAllowed):
        events.hot_desk_logout(extension=alice.account.primary_extension)


def test_switching_while_logged_out_keeps_dee_and_ucd_off(committed):
    policy = client_profile("Hot desk", disable_dee_ucd_when_logged_out=True)
    with committed():
        frank = make_user("frank", "1005", teams=["Sales"], client=policy, hot_desk=True)
    with committed():
        events.hot_desk_logout(extension=frank.account.primary_extension)
    with committed():
        select_profile(user=frank, profile=profile_named(frank, "In the office"))
    state = device("1005")
    assert state.presence == "In the office"
    assert all(not d.active for d in state.destinations.values())
    assert all(not t.logged_in for t in state.teams.values())


# --- administrator's re-apply and service start ------------------------------------------------


def test_administrator_reapplies_one_user_and_the_audit_says_who(committed):
    with committed():
        admin = make_user("admin", "1009", enable=False)
    with committed():
        alice = make_user("alice", "1000")
    with committed():
        services.manual_change(extension="1000", command=Command("1000", "set_dnd", {"on": True}))
    with committed():
        events.reapply_user(user=alice, actor=admin)
    assert device("1000").dnd is False
    event = SwitchEvent.objects.filter(user=alice).first()
    assert (event.event, event.source, event.actor) == ("reapply", "admin", admin)


def test_reapplying_a_client_profile_reaches_only_its_users(committed):
    other = client_profile("Other")
    with committed():
        alice = make_user("alice", "1000")
    with committed():
        bob = make_user("bob", "1001", client=other)
    for number in ("1000", "1001"):
        with committed():
            services.manual_change(extension=number, command=Command(number, "set_dnd", {"on": True}))
    with committed():
        assert events.reapply_client_profile(client_profile=alice.account.client_profile) == 1
    assert device("1000").dnd is False
    assert device("1001").dnd is True
    assert SwitchEvent.objects.filter(user=bob, event="reapply").count() == 0


def test_service_start_reapplies_everyone(committed):
    with committed():
        users = [make_user(name, str(1000 + i)) for i, name in enumerate(("alice", "bob", "carol"))]
    for user in users:
        number = user.account.primary_extension.number
        with committed():
            services.manual_change(extension=number, command=Command(number, "set_forward", {"target": "1099"}))
    with committed():
        call_command("reapply_all")
    assert [device(u.account.primary_extension.number).forward for u in users] == ["", "", ""]
    assert SwitchEvent.objects.filter(event="service_start", source="system").count() == 3


@pytest.mark.django_db  # in the test's transaction: the converges are not run
def test_a_reapply_batch_costs_the_same_queries_for_two_or_twenty_users():
    users = [make_user(f"user{i}", str(1100 + i), teams=["Sales"]) for i in range(20)]
    ids = [u.pk for u in users]
    small = count(lambda: reapply_many(user_ids=ids[:2], event="reapply"))
    large = count(lambda: reapply_many(user_ids=ids, event="reapply"))
    assert small == large
    assert SwitchEvent.objects.filter(event="reapply").count() == 22


def test_reconcile_of_a_batch_costs_the_same_queries_for_two_or_twenty_users(committed):
    with committed():
        users = [make_user(f"user{i}", str(1100 + i), teams=["Sales"]) for i in range(20)]
    for user in users:
        number = user.account.primary_extension.number
        with committed():
            services.manual_change(extension=number, command=Command(number, "set_dnd", {"on": True}))
    ids = [u.pk for u in users]
    small = count(lambda: services.reconcile_users(ids[:2]))
    large = count(lambda: services.reconcile_users(ids))
    assert small == large
    assert Mismatch.objects.filter(op="set_dnd").count() == 20


def test_reconcile_keeps_a_known_mismatch_and_its_detection_time(committed):
    with committed():
        alice = make_user("alice", "1000")
    with committed():
        services.manual_change(extension="1000", command=Command("1000", "set_dnd", {"on": True}))
    first = Mismatch.objects.get(user=alice)
    with committed():
        services.reconcile_users([alice.pk])
    again = Mismatch.objects.get(user=alice)
    assert (again.pk, again.detected_at) == (first.pk, first.detected_at)


@pytest.mark.django_db  # in the test's transaction: the switch's converge does not run
def test_reconcile_skips_users_with_a_pending_target():
    alice = make_user("alice", "1000")
    converge.converge(user_id=alice.pk)
    services.manual_change(extension="1000", command=Command("1000", "set_dnd", {"on": True}))
    select_profile(user=alice, profile=profile_named(alice, "On holiday"))
    assert TargetState.objects.get(user=alice).status == "pending"
    assert services.reconcile_users([alice.pk]) == 0
    assert not Mismatch.objects.filter(user=alice).exists()


def test_reconcile_all_task_flags_everyone_in_batches(settings, committed):
    from devices.tasks import reconcile_all

    with committed():
        alice = make_user("alice", "1000")
    with committed():
        bob = make_user("bob", "1001")
    for number in ("1000", "1001"):
        with committed():
            services.manual_change(extension=number, command=Command(number, "set_dnd", {"on": True}))
    Mismatch.objects.all().delete()
    with committed():
        assert reconcile_all.delay().get() == 2
    assert set(Mismatch.objects.values_list("user_id", flat=True)) == {alice.pk, bob.pk}


def test_mismatches_read_like_sentences(committed):
    with committed():
        alice = make_user("alice", "1000")
    with committed():
        services.manual_change(extension="1000", command=Command("1000", "set_forward", {"target": "1099"}))
    [mismatch] = services.mismatches_for(alice)
    assert mismatch.description == "Differs from your profile; re-applying would remove forward"


# --- preview ------------------------------------------------------------------------------------


def test_preview_lists_exactly_the_commands_the_switch_then_sends(committed):
    with committed():
        alice = make_user("alice", "1000", teams=["Sales"])
    meeting = profile_named(alice, "In a meeting")
    preview = preview_changes(user=alice, profile=meeting)
    assert TargetState.objects.get(user=alice).status == "applied"  # nothing stored
    assert device("1000").presence == "In the office"  # nothing sent
    with committed():
        select_profile(user=alice, profile=meeting)
    run = ApplyRun.objects.filter(user=alice).first()
    sent = [(s.extension, s.op, s.args) for s in run.steps.all()]
    assert [(c.extension, c.op, c.args) for c in preview] == sent
    assert "1000: turn DND on" in [c.describe() for c in preview]


# --- the simulated handset and faults -------------------------------------------------------------


def test_handset_change_is_recorded_on_the_device_only(committed):
    with committed():
        alice = make_user("alice", "1000", teams=["Sales"])
    version = TargetState.objects.get(user=alice).version
    team = str(alice.account.primary_extension.teams.get().pk)
    with committed():
        services.manual_change(extension="1000", command=Command("1000", "team_logout", {"team": team}))
    assert device("1000").teams[team].logged_in is False
    assert TargetState.objects.get(user=alice).version == version  # not an event
    assert Mismatch.objects.filter(user=alice, op="team_login").exists()


def test_set_fault_refuses_an_unknown_fault():
    from django.core.exceptions import ValidationError

    make_user("alice", "1000")
    with pytest.raises(ValidationError):
        services.set_fault(extension=Extension.objects.get(number="1000"), fault="explode")


@pytest.mark.django_db  # converges run by hand: nothing is committed in this test
def test_a_switch_right_after_a_disconnect_still_clears_the_softphone():
    alice = make_user("alice", "1000")
    phone = softphone(alice)
    converge.converge(user_id=alice.pk)
    events.connect_client(user=alice, extension=phone)
    converge.converge(user_id=alice.pk)
    assert device("2000").presence == "In the office"
    events.disconnect_client(user=alice, extension=phone)
    # Switched again before the disconnect's target was applied: the new
    # target carries the released softphone along.
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    converge.converge(user_id=alice.pk)
    assert (device("2000").presence, device("2000").dnd) == ("", False)
    assert device("1000").presence == "In a meeting"
