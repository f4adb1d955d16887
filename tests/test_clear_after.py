"""Clear-after: a selection made "until" a time returns to the previous
profile then, fired by the due-scan, exactly once."""

import datetime as dt
import threading

import pytest
from django.db import connections

from profiles.automation import clear_after, duescan
from profiles.automation.tasks import clear_after_users, due_scan
from profiles.models import Selection, SwitchEvent
from profiles.services import select_profile
from tests.factories import make_user, profile_named

pytestmark = pytest.mark.django_db(transaction=True)

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
UNTIL = NOW + dt.timedelta(minutes=30)


@pytest.fixture
def alice(time_machine):
    time_machine.move_to(NOW, tick=False)
    user = make_user("alice", "1000")
    select_profile(user=user, profile=profile_named(user, "Out of the office"), until=UNTIL)
    return user


def _selection(user) -> Selection:
    return Selection.objects.select_related("profile").get(user=user)


def _clear_after_switches(user) -> int:
    return SwitchEvent.objects.filter(user=user, source=Selection.Source.CLEAR_AFTER).count()


def test_selection_returns_to_the_previous_profile_when_the_timer_ends(alice, time_machine):
    time_machine.move_to(UNTIL - dt.timedelta(seconds=1), tick=False)
    due_scan()
    assert _selection(alice).profile.name == "Out of the office"
    time_machine.move_to(UNTIL + dt.timedelta(seconds=10), tick=False)
    due_scan()
    selection = _selection(alice)
    assert selection.profile.name == "In the office"
    assert (selection.source, selection.until) == (Selection.Source.CLEAR_AFTER, None)
    assert _clear_after_switches(alice) == 1


def test_timer_fires_once_for_repeated_ticks_and_retried_batches(alice, time_machine):
    time_machine.move_to(UNTIL + dt.timedelta(seconds=10), tick=False)
    due_scan()
    due_scan()
    clear_after_users([alice.pk])
    assert _clear_after_switches(alice) == 1


def test_two_workers_clearing_the_same_user_at_once_switch_once(alice):
    start = threading.Barrier(2)
    outcomes = []

    def clear():
        try:
            start.wait(10)
            outcomes.append(clear_after.clear_after(alice.pk, now=UNTIL + dt.timedelta(seconds=1)).outcome)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=clear) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["applied", "done"]
    assert _clear_after_switches(alice) == 1


def test_choosing_another_profile_by_hand_cancels_the_timer(alice, time_machine):
    select_profile(user=alice, profile=profile_named(alice, "Do Not Disturb"), prompt_values={})
    time_machine.move_to(UNTIL + dt.timedelta(minutes=1), tick=False)
    due_scan()
    assert _selection(alice).profile.name == "Do Not Disturb"
    assert _clear_after_switches(alice) == 0


def test_timers_ending_together_are_sent_as_one_batch(time_machine):
    time_machine.move_to(NOW, tick=False)
    users = [make_user(name, number) for name, number in (("alice", "1000"), ("bob", "1001"), ("carol", "1002"))]
    for user in users:
        select_profile(user=user, profile=profile_named(user, "Out of the office"), until=UNTIL)
    batches = []
    result = duescan.scan(now=UNTIL, send_firings=batches.append, send_clear_after=batches.append)
    assert result.clear_after == 3
    assert batches == [sorted(u.pk for u in users)]
    time_machine.move_to(UNTIL, tick=False)
    clear_after_users(batches[0])
    assert all(_selection(u).profile.name == "In the office" for u in users)


def test_scan_pages_through_many_timers_without_sending_anyone_twice(time_machine):
    time_machine.move_to(NOW, tick=False)
    users = [make_user(f"user{i}", f"20{i:02d}") for i in range(7)]
    for user in users:
        select_profile(user=user, profile=profile_named(user, "Out of the office"), until=UNTIL)
    batches = []
    duescan.scan(now=UNTIL, send_firings=batches.append, send_clear_after=batches.append, batch_size=3)
    assert [len(b) for b in batches] == [3, 3, 1]
    assert sorted(x for b in batches for x in b) == sorted(u.pk for u in users)
