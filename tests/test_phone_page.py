"""The simulated PBX's phone page: handset changes, events, faults; holder
or users allowed to operate every simulated phone."""

import pytest
from django.contrib.auth.models import Permission

from devices.drivers.simulated import SimulatedDriver
from devices.models import ClientSession, Extension, Mismatch, PbxEvent, SimulatedDevice
from tests.commits import commit_each_post
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def device(number: str):
    return SimulatedDriver().read([number])[number]


@pytest.fixture
def client(client, django_capture_on_commit_callbacks):
    """Each POST commits as in production: its on-commit callbacks (the
    converges, the mismatch checks) run when the request ends."""
    return commit_each_post(client, django_capture_on_commit_callbacks)


@pytest.fixture
def alice(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        user = make_user("alice", "1000", teams=["Sales"])
    client.force_login(user)
    return user


def test_owner_sees_the_phone(client, alice, django_assert_max_num_queries):
    with django_assert_max_num_queries(15):
        response = client.get("/phone/1000/")
    assert response.status_code == 200
    assert b"Phone 1000" in response.content


def test_bob_gets_404_for_alices_phone(client, alice):
    bob = make_user("bob", "1001")
    client.force_login(bob)
    assert client.get("/phone/1000/").status_code == 404
    assert client.post("/phone/1000/", {"action": "dnd_on"}).status_code == 404
    assert device("1000").dnd is False


def test_staff_without_the_permission_gets_404_and_changes_nothing(client, alice):
    admin = make_user("admin", "1009", enable=False)
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    client.force_login(admin)
    assert client.get("/phone/1000/").status_code == 404
    for action in ("dnd_on", "forward_set", "fault_permanent"):
        assert client.post("/phone/1000/", {"action": action, "target": "1001"}).status_code == 404
    assert (device("1000").dnd, device("1000").forward) == (False, "")
    assert not SimulatedDevice.objects.filter(extension__number="1000").exclude(fault="").exists()


def test_staff_with_the_permission_may_operate_any_phone(client, alice):
    operator = make_user("operator", "1009", enable=False)
    operator.is_staff = True
    operator.save(update_fields=["is_staff"])
    operator.user_permissions.add(Permission.objects.get(codename="operate_simulated_phone"))
    client.force_login(operator)
    assert client.get("/phone/1000/").status_code == 200
    assert client.post("/phone/1000/", {"action": "dnd_on"}).status_code == 302
    assert device("1000").dnd is True


def test_pressing_dnd_on_the_handset_sticks_and_is_flagged(client, alice):
    response = client.post("/phone/1000/", {"action": "dnd_on", "message": "on a call"})
    assert response.status_code == 302
    assert (device("1000").dnd, device("1000").dnd_message) == (True, "on a call")
    assert Mismatch.objects.filter(user=alice, op="set_dnd").exists()
    assert b"Differs from the profile" in client.get("/phone/1000/").content


def test_a_bad_forward_is_refused_with_a_message(client, alice):
    response = client.post("/phone/1000/", {"action": "forward_set", "target": "call me"})
    assert response.status_code == 400
    assert b"Enter an internal extension" in response.content
    assert device("1000").forward == ""


def test_softphone_connect_and_disconnect_buttons(client, alice):
    Extension.objects.create(number="2000", kind=Extension.Kind.SOFTPHONE, owner=alice)
    client.post("/phone/2000/", {"action": "connect"})
    assert ClientSession.objects.filter(user=alice, extension__number="2000").exists()
    assert device("2000").presence == "In the office"
    client.post("/phone/2000/", {"action": "disconnect"})
    assert not ClientSession.objects.exists()
    assert device("2000").presence == ""


def test_hot_desk_buttons_log_the_user_out_and_in(client):
    frank = make_user("frank", "1005", hot_desk=True)
    client.force_login(frank)
    client.post("/phone/1005/", {"action": "hot_desk_logout"})
    assert Extension.objects.get(number="1005").hot_desk_logged_in is False
    client.post("/phone/1005/", {"action": "hot_desk_login"})
    assert Extension.objects.get(number="1005").hot_desk_logged_in is True


def test_fault_buttons_set_and_clear_a_simulated_fault(client, alice):
    client.post("/phone/1000/", {"action": "fault_permanent"})
    assert SimulatedDevice.objects.get(extension__number="1000").fault == "permanent"
    client.post("/phone/1000/", {"action": "fault_clear"})
    assert SimulatedDevice.objects.get(extension__number="1000").fault == ""


def test_an_unknown_button_changes_nothing(client, alice):
    response = client.post("/phone/1000/", {"action": "self_destruct"})
    assert response.status_code == 400
    assert b"Unknown button" in response.content


def test_a_call_on_the_handset_raises_the_device_state_events(client, alice):
    for action, state in [
        ("call_ring", "RINGING"),
        ("call_answer", "INUSE"),
        ("call_hold", "ONHOLD"),
        ("call_resume", "INUSE"),
        ("call_end", "NOT_INUSE"),
    ]:
        assert client.post("/phone/1000/", {"action": action}).status_code == 302
        assert SimulatedDevice.objects.get(extension__number="1000").line == state
    events = [e.fields for e in PbxEvent.objects.order_by("id")]
    assert [e["State"] for e in events] == ["RINGING", "INUSE", "ONHOLD", "INUSE", "NOT_INUSE"]
    assert {(e["Event"], e["Device"]) for e in events} == {("DeviceStateChange", "PJSIP/1000")}


def test_a_call_button_that_does_not_fit_the_line_is_refused(client, alice):
    response = client.post("/phone/1000/", {"action": "call_hold"})  # no call to hold
    assert response.status_code == 400
    assert b"The phone cannot do that now." in response.content
    assert not PbxEvent.objects.exists()


def test_handset_keys_and_fault_clearing_raise_the_asterisk_events(client, alice):
    client.post("/phone/1000/", {"action": "dnd_on"})
    client.post("/phone/1000/", {"action": "forward_set", "target": "1099"})
    client.post("/phone/1000/", {"action": "fault_clear"})
    events = [e.fields for e in PbxEvent.objects.order_by("id")]
    assert events == [
        {"Event": "DeviceStateChange", "Device": "Custom:DND1000", "State": "BUSY"},
        {"Event": "DeviceStateChange", "Device": "Custom:CF1000", "State": "BUSY"},
        {"Event": "FullyBooted", "Status": "Fully Booted"},
    ]
