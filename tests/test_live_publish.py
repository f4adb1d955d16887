"""Live events are published by the services on commit (live/publish.py):
nothing for a rolled-back change, one INSERT for a batch whatever its size,
nothing private in public events, and the replay buffer (live/store.py)
gives each user only their own and public events. No server here; the
stream itself is tested over HTTP in test_live_stream.py."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from devices import services as device_services
from live import store
from live.models import Event
from profiles.models import Selection
from profiles.services import select_profile
from profiles.services.switching import Switch, switch_profiles
from tests.factories import make_user, profile_named

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return make_user("alice", "1000")


@pytest.fixture
def bob():
    return make_user("bob", "1001")


def test_a_rolled_back_switch_publishes_nothing(alice, django_capture_on_commit_callbacks):
    before = list(Event.objects.values_list("id", flat=True))  # alice's first selection's
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
            transaction.set_rollback(True)
    assert list(Event.objects.values_list("id", flat=True)) == before
    assert not callbacks


def test_a_switch_publishes_presence_for_everyone_and_the_apply_result_for_its_owner(
    alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        select_profile(
            user=alice, profile=profile_named(alice, "Working from home"), prompt_values={"forward": "+4930999"}
        )
    presence = Event.objects.filter(kind="presence").latest("id")
    assert presence.owner is None
    assert presence.data["user"] == alice.pk and presence.data["profile"] == "Working from home"
    assert "+4930999" not in str(presence.data)  # prompt values are the user's own
    applied = Event.objects.filter(kind="apply", owner=alice).latest("id")
    assert applied.data["status"] == "applied"


@pytest.mark.parametrize("size", [2, 12])
def test_a_batch_of_switches_publishes_with_one_insert(size, django_capture_on_commit_callbacks):
    users = [make_user(f"user{i}", str(2000 + i)) for i in range(size)]
    switches = [Switch(user_id=u.pk, profile_id=profile_named(u, "In a meeting").pk) for u in users]
    with CaptureQueriesContext(connection) as queries:
        with django_capture_on_commit_callbacks() as callbacks:
            switch_profiles(switches, source=Selection.Source.USER, converge_batch=lambda ids: None)
        for callback in callbacks:
            callback()
    # On PostgreSQL the switch's own statement stores them; elsewhere one INSERT on commit.
    inserts = [q for q in queries if "live_event" in q["sql"]]
    assert len(inserts) == 1
    assert Event.objects.filter(kind="presence", data__profile="In a meeting").count() == size


def test_line_state_changes_are_published_once(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        device_services.record_line_states({"1000": "ringing"})
        device_services.record_line_states({"1000": "ringing"})  # no change: no event
    assert list(Event.objects.filter(kind="line").values_list("data", flat=True)) == [
        {"extension": "1000", "state": "ringing"}
    ]


def test_the_replay_buffer_gives_each_user_their_own_and_public_events(alice, bob):
    start = store.write([("line", None, {})])[0]["id"]
    store.write([("presence", None, {"user": bob.pk}), ("apply", bob.pk, {}), ("apply", alice.pk, {})])
    replay = store.replay(user_id=alice.pk, after_id=start)
    assert [(e["kind"], e["owner_id"]) for e in replay] == [("presence", None), ("apply", alice.pk)]


def test_the_replay_buffer_says_refresh_when_it_no_longer_reaches_back(alice):
    first = store.write([("line", None, {}), ("line", None, {}), ("line", None, {})])
    Event.objects.filter(pk__lte=first[1]["id"]).delete()
    assert store.replay(user_id=alice.pk, after_id=first[0]["id"]) is None
    assert store.replay(user_id=alice.pk, after_id=first[1]["id"]) == [
        {"id": first[2]["id"], "kind": "line", "owner_id": None, "data": {}}
    ]
    assert store.replay(user_id=alice.pk, after_id=first[2]["id"] + 1000) is None  # not an id of this buffer
    assert store.prune(keep_seconds=0) == 1


def test_the_recheck_cuts_off_only_the_logins_it_found_gone(monkeypatch):
    """A stream opened while the periodic check queries the database was
    checked at connect and stays open (found by the 10,000-stream bench)."""
    import asyncio

    from live import hub as hubs
    from live.auth import SESSION, Principal

    gone, staying, joining = (Principal(user_id=n, kind=SESSION, key=f"k{n}") for n in (1, 2, 3))

    async def scenario():
        hub = hubs.Hub()
        subs = {p: hub.subscribe(p) for p in (gone, staying)}

        async def still_allowed_meanwhile(function, principals):
            subs[joining] = hub.subscribe(joining)  # connects during the query
            return principals - {gone}

        monkeypatch.setattr(hubs, "db", still_allowed_meanwhile)
        await hub.recheck()
        return {p: sub.closed for p, sub in subs.items()}

    assert asyncio.run(scenario()) == {gone: True, staying: False, joining: False}


def test_the_re_check_slots_cover_every_stream_once_a_period(monkeypatch, settings):
    """The periodic re-check serves one slot a tick, not all streams at
    once; over the period's slots every stream is checked exactly once (a
    deactivated user is still cut off within LIVE_RECHECK_SECONDS)."""
    import asyncio

    from live import hub as hubs
    from live.auth import SESSION, Principal

    settings.LIVE_RECHECK_SECONDS = 30
    settings.LIVE_TICK_SECONDS = 1
    checked = []

    async def nobody_allowed(function, principals):
        checked.extend(principals)
        return set()

    async def scenario():
        hub = hubs.Hub()
        subs = [hub.subscribe(Principal(user_id=n, kind=SESSION, key=f"k{n}")) for n in range(300)]
        monkeypatch.setattr(hubs, "db", nobody_allowed)
        assert len(hub._checks) == 30
        assert max(len(slot) for slot in hub._checks) < 300  # spread
        for slot in hub._checks:
            await hub.recheck(slot)
        return subs

    subs = asyncio.run(scenario())
    assert sorted(p.user_id for p in checked) == list(range(300))
    assert all(sub.closed for sub in subs)


def test_two_portals_on_one_redis_use_different_channels(settings):
    """Redis pub/sub ignores the database number: the channel is the portal
    database's, or a bench beside a test run would swap events (found by
    the bench, whose viewers received another run's ids)."""
    from live.transport import channel

    here = settings.DATABASES["default"]
    assert channel() == channel(dict(here))
    assert channel() != channel({**here, "NAME": here["NAME"] + "_other"})


def test_the_hub_writes_each_event_inside_its_fan_out_and_keeps_order_when_a_write_waits():
    """After its replay a stream is written by the fan-out itself (no task
    per stream and event); a write the server holds back (a slow reader) is
    finished by a task and what follows waits behind it, in order; events
    the replay already sent are skipped."""
    import asyncio

    from live import hub as hubs
    from live.auth import SESSION, Principal

    async def scenario():
        hub = hubs.Hub()
        sub = hub.subscribe(Principal(user_id=1, kind=SESSION, key="k1"))
        written, held = [], asyncio.get_running_loop().create_future()

        async def send(message):
            if message["body"] == b"held":
                await held
            written.append(message["body"])

        sub.put((7, b"replayed"))  # queued while the stream replays up to 7
        sub.put((8, b"queued"))
        ended = sub.write_directly(send, after=7)
        assert written == [b"queued"]
        sub.put((9, b"direct"))
        assert written == [b"queued", b"direct"]  # written at once, inside put
        sub.put((10, b"held"))
        sub.put((0, b"after"))
        assert written == [b"queued", b"direct"]
        held.set_result(None)
        await sub._writing
        assert written == [b"queued", b"direct", b"held", b"after"]
        sub.put((11, b"again"))
        assert written[-1] == b"again"
        sub.close()
        assert ended.done()

    asyncio.run(scenario())


def test_the_re_check_refuses_ended_sessions_and_deactivated_users_in_one_query_each(alice, bob):
    """live.auth.still_allowed: a logged-out (deleted) or expired session
    and a deactivated user are refused, the rest kept; on PostgreSQL two
    queries whatever the number of streams (one array parameter each)."""
    from datetime import timedelta

    from django.contrib.sessions.models import Session
    from django.test import Client
    from django.utils import timezone

    from live.auth import SESSION, TOKEN, Principal, still_allowed

    carol = make_user("carol", "1002")
    keys = {}
    for user in (alice, bob, carol):
        client = Client()
        client.force_login(user)
        keys[user.username] = client.session.session_key
    staying = Principal(user_id=alice.pk, kind=SESSION, key=keys["alice"])
    expired = Principal(user_id=bob.pk, kind=SESSION, key=keys["bob"])
    Session.objects.filter(session_key=keys["bob"]).update(expire_date=timezone.now() - timedelta(seconds=1))
    deactivated = Principal(user_id=carol.pk, kind=SESSION, key=keys["carol"])
    carol.is_active = False
    carol.save(update_fields=["is_active"])
    logged_out = Principal(user_id=alice.pk, kind=SESSION, key="no-such-session")
    unknown_token = Principal(user_id=alice.pk, kind=TOKEN, key="999999")
    many = {Principal(user_id=alice.pk, kind=SESSION, key=f"gone{n}") for n in range(3000)}

    with CaptureQueriesContext(connection) as queries:
        allowed = still_allowed({staying, expired, deactivated, logged_out, unknown_token, *many})
    assert allowed == {staying}
    if connection.vendor == "postgresql":
        assert len([q for q in queries.captured_queries if "= ANY(" in q["sql"]]) == 2
