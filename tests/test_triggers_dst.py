"""Time triggers across daylight-saving changes fire once, by the README's
rule: a time in the spring-forward gap fires at the first valid instant
after it; a time repeated at fall-back fires at its first occurrence."""

import datetime as dt

import pytest
import time_machine

from profiles.automation import triggers
from profiles.automation.tasks import due_scan
from profiles.models import SwitchEvent, TriggerFiring
from tests.factories import make_user, profile_named

pytestmark = pytest.mark.django_db(transaction=True)

UTC = dt.UTC
EVERY_DAY = 0b1111111


def _z(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def _scan_at(*moments: dt.datetime) -> None:
    for moment in moments:
        with time_machine.travel(moment, tick=False):
            due_scan()


def _trigger(zone: str, time_of_day: dt.time, created: dt.datetime):
    user = make_user("alice", "1000", time_zone=zone)
    with time_machine.travel(created, tick=False):
        trigger = triggers.create_time_trigger(
            user=user, profile=profile_named(user, "Out of the office"), time_of_day=time_of_day, weekdays=EVERY_DAY
        )
    return user, trigger


def _trigger_switches(user) -> int:
    return SwitchEvent.objects.filter(user=user, source="trigger").count()


@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        # 29 March 2026, Berlin: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
        ("Europe/Berlin", dt.date(2026, 3, 29), _z(2026, 3, 29, 1, 0)),
        # 8 March 2026, New York: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
        ("America/New_York", dt.date(2026, 3, 8), _z(2026, 3, 8, 7, 0)),
    ],
)
def test_time_in_the_spring_forward_gap_fires_once_at_the_end_of_the_gap(zone, day, expected):
    created = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(12), tzinfo=UTC)
    alice, trigger = _trigger(zone, dt.time(2, 30), created)
    assert trigger.next_fire_at == expected  # 03:00 local, the first valid instant after the gap

    hour = dt.timedelta(hours=1)
    _scan_at(expected - hour, expected + dt.timedelta(seconds=30), expected + hour, expected + 2 * hour)

    firings = list(TriggerFiring.objects.filter(trigger=trigger))
    assert [(f.scheduled_for, f.outcome) for f in firings] == [(expected, TriggerFiring.Outcome.APPLIED)]
    assert _trigger_switches(alice) == 1
    trigger.refresh_from_db()
    # The next day is a normal day again: 02:30 in summer time.
    next_day = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(2, 30)).replace(tzinfo=trigger_zone(zone))
    assert trigger.next_fire_at == next_day.astimezone(UTC)


@pytest.mark.parametrize(
    ("zone", "time_of_day", "first", "second", "next_day"),
    [
        # 25 October 2026, Berlin: 02:30 happens at 00:30 UTC (CEST) and again at 01:30 UTC (CET).
        ("Europe/Berlin", dt.time(2, 30), _z(2026, 10, 25, 0, 30), _z(2026, 10, 25, 1, 30), _z(2026, 10, 26, 1, 30)),
        # 1 November 2026, New York: 01:30 happens at 05:30 UTC (EDT) and again at 06:30 UTC (EST).
        ("America/New_York", dt.time(1, 30), _z(2026, 11, 1, 5, 30), _z(2026, 11, 1, 6, 30), _z(2026, 11, 2, 6, 30)),
    ],
)
def test_time_repeated_at_fall_back_fires_once_at_its_first_occurrence(zone, time_of_day, first, second, next_day):
    created = first - dt.timedelta(hours=20)
    alice, trigger = _trigger(zone, time_of_day, created)
    assert trigger.next_fire_at == first

    minute = dt.timedelta(minutes=1)
    _scan_at(first + minute, first + 2 * minute, second + minute, second + 10 * minute)

    assert list(TriggerFiring.objects.filter(trigger=trigger).values_list("scheduled_for", "outcome")) == [
        (first, TriggerFiring.Outcome.APPLIED)
    ]
    assert _trigger_switches(alice) == 1
    trigger.refresh_from_db()
    assert trigger.next_fire_at == next_day


@pytest.mark.parametrize(
    ("zone", "day", "expected_utc_hour"),
    [("Europe/Berlin", dt.date(2026, 3, 29), 6), ("America/New_York", dt.date(2026, 11, 1), 13)],
)
def test_times_outside_the_change_keep_their_local_time_on_the_change_day(zone, day, expected_utc_hour):
    created = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(12), tzinfo=UTC)
    _, trigger = _trigger(zone, dt.time(8, 0), created)
    assert trigger.next_fire_at == dt.datetime.combine(day, dt.time(expected_utc_hour), tzinfo=UTC)
    assert trigger.next_fire_at.astimezone(trigger_zone(zone)).time() == dt.time(8, 0)


def trigger_zone(name):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)
