"""Client sessions through the API: connect, heartbeat, disconnect; expiry
found by the due-scan (time-machine), releasing the softphone exactly as a
disconnect; reconnecting within the window keeps the session; two clients
on one softphone: one wins, the other gets 409."""

import datetime as dt
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from devices.drivers.simulated import SimulatedDriver
from devices.models import ClientSession, Extension
from profiles import catalog, events
from profiles.automation import tasks
from profiles.models import SwitchEvent
from profiles.services import select_profile
from tests.api_support import ApiClient
from tests.factories import make_user, profile_named

NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


def device(number: str):
    return SimulatedDriver().read([number])[number]


@pytest.fixture
def alice(time_machine):
    time_machine.move_to(NOW, tick=False)
    user = make_user("alice", "1000")
    Extension.objects.create(number="2000", kind=Extension.Kind.SOFTPHONE, owner=user, name="Alice softphone")
    return user


def connect(api, client_id="desk-app-1", extension="2000"):
    return api.post(
        "/api/v1/sessions",
        {"extension": extension, "client_id": client_id, "client_name": "Desk App", "client_version": "1.2"},
    )


@pytest.mark.django_db
def test_connect_heartbeat_disconnect(alice, time_machine):
    api = ApiClient(alice)
    connected = connect(api)
    assert connected.status_code == 201
    body = connected.json()
    assert body["client_name"] == "Desk App" and body["heartbeat_interval"] == 30
    assert body["expires_at"] == "2026-11-30T09:01:30Z"
    time_machine.move_to(NOW + dt.timedelta(seconds=60), tick=False)
    beat = api.post(f"/api/v1/sessions/{body['id']}/heartbeat")
    assert beat.status_code == 200 and beat.json()["expires_at"] == "2026-11-30T09:02:30Z"
    assert [s["id"] for s in api.get("/api/v1/sessions").json()] == [body["id"]]
    assert [s["client_name"] for s in api.get("/api/v1/devices").json()["sessions"]] == ["Desk App"]
    assert api.delete(f"/api/v1/sessions/{body['id']}").status_code == 204
    assert not ClientSession.objects.exists()
    assert SwitchEvent.objects.filter(user=alice, event="session_disconnect").count() == 1


@pytest.mark.django_db
def test_heartbeat_is_one_update(alice, django_assert_num_queries, settings):
    settings.API_TOKEN_TOUCH_SECONDS = 3600
    api = ApiClient(alice)
    session = connect(api).json()
    api.post(f"/api/v1/sessions/{session['id']}/heartbeat")
    with django_assert_num_queries(2) as captured:  # the token, then the UPDATE
        api.post(f"/api/v1/sessions/{session['id']}/heartbeat")
    assert captured.captured_queries[1]["sql"].startswith("UPDATE")


@pytest.mark.django_db
def test_a_heartbeat_leaves_the_catalog_warm(alice):
    """The catalog caches who has a session, not heartbeats: a heartbeat
    does not give it a new version (profiles migration 0015), a connect and
    a disconnect do."""
    api = ApiClient(alice)
    before = catalog.read_version()
    session = connect(api).json()
    connected = catalog.read_version()
    assert connected != before
    assert api.post(f"/api/v1/sessions/{session['id']}/heartbeat").status_code == 200
    assert api.post("/api/v1/sessions/999999/heartbeat").status_code == 404
    assert catalog.read_version() == connected
    api.delete(f"/api/v1/sessions/{session['id']}")
    assert catalog.read_version() != connected


@pytest.mark.django_db
def test_reconnect_within_the_window_keeps_the_session(alice, time_machine):
    api = ApiClient(alice)
    first = connect(api).json()
    time_machine.move_to(NOW + dt.timedelta(seconds=80), tick=False)
    again = connect(api).json()
    assert again["id"] == first["id"]
    assert SwitchEvent.objects.filter(user=alice, event="session_connect").count() == 1


@pytest.mark.django_db
def test_a_second_client_on_the_same_softphone_gets_409(alice):
    api = ApiClient(alice)
    assert connect(api, "desk-app-1").status_code == 201
    refused = connect(api, "phone-app-7")
    assert refused.status_code == 409 and refused.json()["code"] == "conflict"
    assert "Desk App" in refused.json()["message"]


@pytest.mark.django_db
def test_sessions_of_others_are_404_and_their_softphones_too(alice):
    bob = make_user("bob", "1001")
    Extension.objects.create(number="2001", kind=Extension.Kind.SOFTPHONE, owner=bob)
    bobs = connect(ApiClient(bob), extension="2001").json()
    api = ApiClient(alice)
    assert connect(api, extension="2001").status_code == 404
    assert connect(api, extension="1001").status_code == 404  # not a softphone
    assert api.post(f"/api/v1/sessions/{bobs['id']}/heartbeat").status_code == 404
    assert api.delete(f"/api/v1/sessions/{bobs['id']}").status_code == 404
    assert ClientSession.objects.filter(pk=bobs["id"]).exists()


@pytest.mark.django_db
def test_connect_validation_names_the_fields(alice):
    response = ApiClient(alice).post("/api/v1/sessions", {"extension": "", "client_name": "x" * 101})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"extension", "client_id", "client_name"}


@pytest.mark.django_db(transaction=True)
def test_a_silent_client_expires_and_releases_its_softphone_like_a_disconnect(alice, time_machine):
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    api = ApiClient(alice)
    session = connect(api).json()
    assert device("2000").dnd is True and device("1000").dnd is True
    time_machine.move_to(NOW + dt.timedelta(seconds=89), tick=False)
    assert tasks.due_scan()["expired_sessions"] == 0
    time_machine.move_to(NOW + dt.timedelta(seconds=91), tick=False)
    assert api.post(f"/api/v1/sessions/{session['id']}/heartbeat").status_code == 404  # too late
    assert tasks.due_scan()["expired_sessions"] == 1
    assert not ClientSession.objects.exists()
    assert device("2000").dnd is False and device("2000").presence == ""
    assert device("1000").dnd is True  # stays on the primary (rule 6)
    event = SwitchEvent.objects.get(user=alice, event="session_expired")
    assert event.source_detail == "client stopped sending heartbeats"
    assert tasks.due_scan()["expired_sessions"] == 0


@pytest.mark.django_db(transaction=True)
def test_a_heartbeat_after_the_scan_looked_keeps_the_session(alice, time_machine):
    api = ApiClient(alice)
    session = connect(api).json()
    time_machine.move_to(NOW + dt.timedelta(seconds=91), tick=False)
    due = events.due_client_sessions(NOW + dt.timedelta(seconds=91), limit=10)
    # The client reconnects before the batch task runs: the task re-checks.
    assert connect(api).json()["id"] == session["id"]
    assert events.expire_client_sessions(due) == 0
    assert ClientSession.objects.filter(pk=session["id"]).exists()


@pytest.mark.django_db  # converges (on commit) are not part of the count
def test_expiring_many_sessions_costs_a_constant_number_of_queries(time_machine):
    time_machine.move_to(NOW, tick=False)
    counts = []
    for n, base in ((2, 3000), (6, 4000)):
        for i in range(n):
            user = make_user(f"u{base + i}", str(base + i))
            phone = Extension.objects.create(number=str(base + 500 + i), kind=Extension.Kind.SOFTPHONE, owner=user)
            events.connect_client(user=user, extension=phone, client=events.ClientInfo(client_id="c"))
        later = NOW + dt.timedelta(seconds=200 + n)
        due = events.due_client_sessions(later, limit=100)
        assert len(due) == n
        with CaptureQueriesContext(connection) as ctx:
            assert events.expire_client_sessions(due, now=later) == n
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


@pytest.mark.django_db(transaction=True)
def test_two_clients_connecting_at_once_one_wins_the_other_gets_409(alice):
    results = []
    barrier = threading.Barrier(2)

    def run(client_id):
        try:
            barrier.wait(timeout=10)
            results.append(connect(ApiClient(alice), client_id).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(f"client-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [201, 409]
    assert ClientSession.objects.count() == 1
