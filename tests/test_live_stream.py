"""The event stream over real HTTP: uvicorn serving portal.asgi in a
subprocess on 127.0.0.1, read by a real HTTP client, events published by the
services in this process on commit (tests/stream.py).

alice and bob are colleagues: each sees the other's presence and line, and
only their own apply results and mismatches."""

import os

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone

from devices import services as device_services
from devices.converge import replace_mismatches
from devices.state import Command
from live.models import Event
from profiles.services import select_profile
from tests.factories import make_user, profile_named
from tests.stream import Stream, session_cookie, stream_server

# One xdist worker runs the whole module: its stream server is module-scoped.
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.xdist_group(__name__)]


@pytest.fixture(scope="module")
def module_wake_file(tmp_path_factory):
    """The embedded transport (a file's modification time), as under ./run."""
    return f"file://{tmp_path_factory.mktemp('live') / 'live.wake'}"


@pytest.fixture(scope="module")
def module_server(django_db_setup, module_wake_file):
    """One server for the module's tests (starting one costs about 2 s):
    each test's data is new (row ids never repeat), and the server
    reads everything it sends from the database."""
    # Catch-up only hourly: an event arriving proves the wake-up worked.
    with stream_server(LIVE_TRANSPORT_URL=module_wake_file, LIVE_RECHECK_SECONDS=1, LIVE_CATCH_UP_SECONDS=3600) as base:
        yield base


@pytest.fixture
def wake_file(settings, module_wake_file):
    settings.LIVE_TRANSPORT_URL = module_wake_file
    return module_wake_file


@pytest.fixture
def server(wake_file, module_server):
    return module_server


@pytest.fixture
def alice():
    return make_user("alice", "1000")


@pytest.fixture
def bob():
    return make_user("bob", "1001")


@pytest.fixture
def streams(server):
    opened = []

    def _open(user=None, **options):
        stream = Stream(server, session_cookie(user) if user else None, **options)
        opened.append(stream)
        return stream

    yield _open
    for stream in opened:
        stream.close()


def is_line(event):
    return event["event"] == "line"


def newest_event_id() -> int:
    return Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def kinds_after(events, event_id) -> list[str]:
    """The kinds of the events published after ``event_id``. A stream opened
    after the users' set-up may still be sent a set-up event (the server
    reads the database when the wake-up reaches it, and on a loaded machine
    that can be after the stream was subscribed); the tests look at what
    happened after they opened the streams."""
    return [e["event"] for e in events if e["id"] > event_id]


def test_a_switch_reaches_a_colleagues_stream(streams, alice, bob):
    board = streams(bob)
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    event, _ = board.until(lambda e: e["event"] == "presence" and e["data"]["user"] == alice.pk)
    assert event["data"]["profile"] == "In a meeting"
    assert event["data"]["since"] and event["data"]["colour"].startswith("#")
    assert "prompt_values" not in event["data"]


def test_a_line_state_change_reaches_every_stream(streams, alice, bob):
    mine, theirs = streams(alice), streams(bob)
    device_services.record_line_states({"1000": "ringing"})
    for stream in (mine, theirs):
        event, _ = stream.until(is_line)
        assert event["data"] == {"extension": "1000", "state": "ringing"}


def test_apply_results_and_mismatches_reach_only_their_owner(streams, alice, bob):
    set_up = newest_event_id()
    mine, theirs = streams(alice), streams(bob)
    # alice's switch: public presence, then her apply result (the converge
    # runs on commit); then a mismatch on her devices; then a public line
    # event as a marker: every event before it has been sent by then.
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    replace_mismatches({alice.pk: [Command("1000", "set_dnd", {"on": False})]}, timezone.now())
    device_services.record_line_states({"1001": "on_call"})

    _, alice_saw = mine.until(is_line)
    kinds = [e["event"] for e in alice_saw]
    assert "presence" in kinds and "apply" in kinds and "mismatch" in kinds
    applied = [e["data"] for e in alice_saw if e["event"] == "apply"]
    assert applied[-1]["status"] == "applied" and applied[-1]["version"] >= 1
    assert [e["data"]["count"] for e in alice_saw if e["event"] == "mismatch"] == [1]

    _, bob_saw = theirs.until(is_line)
    assert kinds_after(bob_saw, set_up) == ["presence"]
    private_ids = set(Event.objects.filter(owner=alice).values_list("pk", flat=True))
    assert private_ids and not private_ids & {e["id"] for e in bob_saw}


def test_reconnecting_with_last_event_id_replays_what_was_missed(streams, alice, bob):
    first = streams(alice)
    device_services.record_line_states({"1000": "ringing"})
    seen, _ = first.until(is_line)
    first.close()
    # While alice is away: bob switches twice, bob's own apply results are private.
    select_profile(user=bob, profile=profile_named(bob, "In a meeting"))
    select_profile(user=bob, profile=profile_named(bob, "On holiday"))
    device_services.record_line_states({"1000": "idle"})

    again = streams(alice, last_event_id=seen["id"])
    event, missed = again.until(lambda e: is_line(e) and e["data"]["state"] == "idle")
    assert [(e["event"], e["data"]["profile"]) for e in missed] == [
        ("presence", "In a meeting"),
        ("presence", "On holiday"),
    ]
    assert event["id"] > seen["id"]


def test_a_client_away_too_long_gets_a_refresh(streams, alice):
    first = streams(alice)
    device_services.record_line_states({"1000": "ringing"})
    seen, _ = first.until(is_line)
    first.close()
    device_services.record_line_states({"1000": "idle"})
    device_services.record_line_states({"1000": "on_call"})
    # The bounded buffer drops what is older than its window.
    Event.objects.filter(pk__lte=seen["id"] + 1).delete()

    again = streams(alice, last_event_id=seen["id"])
    assert again.next_event()["event"] == "refresh"


@pytest.mark.parametrize("how", ["deactivated", "logged out"])
def test_a_stream_is_cut_off_when_the_login_no_longer_holds(streams, alice, bob, how):
    stream = streams(bob)
    device_services.record_line_states({"1000": "ringing"})
    stream.until(is_line)
    if how == "deactivated":
        bob.is_active = False
        bob.save(update_fields=["is_active"])
    else:
        Session.objects.all().delete()
    # The server re-checks every second (LIVE_RECHECK_SECONDS=1): the stream
    # ends; what is published after that never reaches bob.
    while (event := stream.next_event()) is not None:
        assert is_line(event)
    assert streams(bob).status == (403 if how == "deactivated" else 200)


def test_the_stream_refuses_anonymous_and_a_bad_last_event_id(streams, alice):
    assert streams(None).status == 403
    assert streams(alice, last_event_id="abc").status == 400
    stream = streams(alice, headers={"Origin": "http://127.0.0.1:8000"})
    assert stream.response.getheader("Access-Control-Allow-Origin") == "http://127.0.0.1:8000"
    assert stream.response.getheader("Content-Type").startswith("text/event-stream")
    other = streams(alice, headers={"Origin": "http://evil.example"})
    assert other.response.getheader("Access-Control-Allow-Origin") is None


def test_events_travel_through_redis_pub_sub(settings, alice, bob):
    url = os.environ.get("TEST_BROKER_URL") or "redis://127.0.0.1:6379/15"
    settings.LIVE_TRANSPORT_URL = url
    with stream_server(LIVE_TRANSPORT_URL=url, LIVE_CATCH_UP_SECONDS=3600) as base:
        stream = Stream(base, session_cookie(bob))
        try:
            select_profile(user=alice, profile=profile_named(alice, "On holiday"))
            event, _ = stream.until(lambda e: e["event"] == "presence")
            assert event["data"]["user"] == alice.pk and event["data"]["profile"] == "On holiday"
        finally:
            stream.close()


def test_a_client_reads_its_stream_with_an_api_token_until_it_is_revoked(streams, alice, bob):
    from api.tokens import create_token, revoke_token

    issued = create_token(user=alice, name="Desk phone app")
    set_up = newest_event_id()
    mine = streams(None, headers={"Authorization": f"Bearer {issued.raw}"})
    assert mine.status == 200
    theirs = streams(None, headers={"Authorization": f"Bearer {create_token(user=bob, name='Mobile').raw}"})
    replace_mismatches({alice.pk: [Command("1000", "set_dnd", {"on": False})]}, timezone.now())
    device_services.record_line_states({"1001": "on_call"})
    _, alice_saw = mine.until(is_line)
    assert kinds_after(alice_saw, set_up) == ["mismatch"]
    _, bob_saw = theirs.until(is_line)
    # Not alice's mismatch. (Bob's own first apply result may still be on its
    # way from his set-up; test_apply_results_and_mismatches_reach_only_their_owner
    # shows whose apply results reach whom.)
    assert "mismatch" not in [e["event"] for e in bob_saw]

    revoke_token(token=issued.token)
    # Re-checked every second (LIVE_RECHECK_SECONDS=1): the stream ends.
    while (event := mine.next_event()) is not None:
        assert is_line(event)
    assert streams(None, headers={"Authorization": f"Bearer {issued.raw}"}).status == 403
    assert streams(None, headers={"Authorization": "Bearer pp_not-a-token"}).status == 403
