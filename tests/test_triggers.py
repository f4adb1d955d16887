"""Time and meeting triggers: creating, changing, authorising, scheduling."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ValidationError

from profiles.automation import triggers
from profiles.errors import NotAllowed, PortalError
from profiles.models import PresenceProfile, StatusConnector, Trigger
from tests.factories import make_user, profile_named

pytestmark = pytest.mark.django_db(transaction=True)

MON_FRI = 0b0011111
UTC = dt.UTC


@pytest.fixture
def alice():
    return make_user("alice", "1000")


@pytest.fixture
def bob():
    return make_user("bob", "1001", time_zone="America/New_York")


@time_machine.travel(dt.datetime(2026, 6, 1, 5, 0, tzinfo=UTC), tick=False)  # a Monday, 07:00 in Berlin
def test_create_time_trigger_schedules_next_local_occurrence_in_utc(alice):
    trigger = triggers.create_time_trigger(
        user=alice, profile=profile_named(alice, "In the office"), time_of_day=dt.time(8, 0), weekdays=MON_FRI
    )
    assert trigger.kind == Trigger.Kind.TIME
    assert trigger.next_fire_at == dt.datetime(2026, 6, 1, 6, 0, tzinfo=UTC)  # 08:00 CEST


@time_machine.travel(dt.datetime(2026, 6, 5, 7, 0, tzinfo=UTC), tick=False)  # Friday 09:00 Berlin
def test_weekdays_skip_the_weekend(alice):
    trigger = triggers.create_time_trigger(
        user=alice, profile=profile_named(alice, "In the office"), time_of_day=dt.time(8, 0), weekdays=MON_FRI
    )
    assert trigger.next_fire_at == dt.datetime(2026, 6, 8, 6, 0, tzinfo=UTC)  # Monday


@time_machine.travel(dt.datetime(2026, 12, 23, 12, 0, tzinfo=UTC), tick=False)
def test_public_holidays_of_the_chosen_region_are_skipped(alice):
    trigger = triggers.create_time_trigger(
        user=alice,
        profile=profile_named(alice, "In the office"),
        time_of_day=dt.time(8, 0),
        weekdays=MON_FRI,
        holiday_country="de",
        holiday_subdivision="by",
    )
    # 24 Dec is a working day; 25 and 26 Dec are holidays (26th is a Saturday anyway).
    assert trigger.next_fire_at == dt.datetime(2026, 12, 24, 7, 0, tzinfo=UTC)
    after_christmas_eve = triggers.trigger_next_fire(trigger, "Europe/Berlin", trigger.next_fire_at)
    assert after_christmas_eve == dt.datetime(2026, 12, 28, 7, 0, tzinfo=UTC)
    assert (trigger.holiday_country, trigger.holiday_subdivision) == ("DE", "BY")


@time_machine.travel(dt.datetime(2026, 1, 5, 12, 0, tzinfo=UTC), tick=False)  # 6 Jan: Epiphany in Bavaria only
def test_holidays_follow_the_subdivision(alice):
    office = profile_named(alice, "In the office")
    bavaria = triggers.create_time_trigger(
        user=alice, profile=office, time_of_day=dt.time(8, 0), holiday_country="DE", holiday_subdivision="BY"
    )
    berlin = triggers.create_time_trigger(
        user=alice, profile=office, time_of_day=dt.time(8, 0), holiday_country="DE", holiday_subdivision="BE"
    )
    assert bavaria.next_fire_at.date() == dt.date(2026, 1, 7)
    assert berlin.next_fire_at.date() == dt.date(2026, 1, 6)


@time_machine.travel(dt.datetime(2026, 6, 1, 12, 0, tzinfo=UTC), tick=False)
def test_date_range_limits_firings(alice):
    office = profile_named(alice, "In the office")
    later = triggers.create_time_trigger(
        user=alice,
        profile=office,
        time_of_day=dt.time(8, 0),
        active_from=dt.date(2026, 7, 1),
        active_until=dt.date(2026, 7, 31),
    )
    assert later.next_fire_at == dt.datetime(2026, 7, 1, 6, 0, tzinfo=UTC)
    last = triggers.trigger_next_fire(later, "Europe/Berlin", dt.datetime(2026, 7, 31, 7, 0, tzinfo=UTC))
    assert last is None
    over = triggers.create_time_trigger(
        user=alice,
        profile=office,
        time_of_day=dt.time(8, 0),
        active_from=dt.date(2026, 5, 1),
        active_until=dt.date(2026, 5, 31),
    )
    assert over.next_fire_at is None


@time_machine.travel(dt.datetime(2026, 6, 1, 5, 0, tzinfo=UTC), tick=False)
def test_next_fire_at_is_computed_in_the_owners_time_zone(bob):
    trigger = triggers.create_time_trigger(
        user=bob, profile=profile_named(bob, "In the office"), time_of_day=dt.time(8, 0), weekdays=MON_FRI
    )
    assert trigger.next_fire_at == dt.datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # 08:00 EDT


def test_it_validates_ownership(alice, bob):
    with pytest.raises(NotAllowed):
        triggers.create_time_trigger(user=bob, profile=profile_named(alice, "In the office"), time_of_day=dt.time(8))
    mine = triggers.create_time_trigger(
        user=alice, profile=profile_named(alice, "In the office"), time_of_day=dt.time(8)
    )
    with pytest.raises(NotAllowed):
        triggers.update_time_trigger(user=bob, trigger=mine, time_of_day=dt.time(9))
    with pytest.raises(NotAllowed):
        triggers.set_trigger_enabled(user=bob, trigger=mine, enabled=False)
    with pytest.raises(NotAllowed):
        triggers.delete_trigger(user=bob, trigger=mine)
    with pytest.raises(Trigger.DoesNotExist):
        triggers.get_own_trigger(bob, mine.pk)
    assert triggers.profile_triggers(bob, mine.profile) == []
    mine.refresh_from_db()
    assert mine.time_of_day == dt.time(8) and mine.enabled


def test_system_profiles_take_no_triggers(alice):
    system = PresenceProfile.objects.filter(kind=PresenceProfile.Kind.SYSTEM).first()
    with pytest.raises(NotAllowed):
        triggers.create_time_trigger(user=alice, profile=system, time_of_day=dt.time(8))
    assert not Trigger.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"time_of_day": None}, "time_of_day"),
        ({"weekdays": 0}, "weekdays"),
        ({"weekdays": 128}, "weekdays"),
        ({"holiday_country": "XX"}, "holiday_country"),
        ({"holiday_country": "DE", "holiday_subdivision": "ZZ"}, "holiday_subdivision"),
        ({"holiday_subdivision": "BY"}, "holiday_subdivision"),
        ({"active_from": dt.date(2026, 2, 1), "active_until": dt.date(2026, 1, 1)}, "active_until"),
    ],
)
def test_bad_schedules_are_refused_with_a_message_per_field(alice, fields, field):
    arguments = {"time_of_day": dt.time(8), **fields}
    with pytest.raises(ValidationError) as error:
        triggers.create_time_trigger(user=alice, profile=profile_named(alice, "In the office"), **arguments)
    assert field in error.value.message_dict
    assert not Trigger.objects.exists()


@time_machine.travel(dt.datetime(2026, 6, 1, 5, 0, tzinfo=UTC), tick=False)
def test_update_recomputes_next_fire_at(alice):
    trigger = triggers.create_time_trigger(
        user=alice, profile=profile_named(alice, "In the office"), time_of_day=dt.time(8)
    )
    triggers.update_time_trigger(user=alice, trigger=trigger, time_of_day=dt.time(9, 30), weekdays=0b1000000)
    trigger.refresh_from_db()
    assert trigger.time_of_day == dt.time(9, 30)
    assert trigger.next_fire_at == dt.datetime(2026, 6, 7, 7, 30, tzinfo=UTC)  # Sunday


@time_machine.travel(dt.datetime(2026, 6, 1, 5, 0, tzinfo=UTC), tick=False)
def test_disabled_triggers_leave_the_due_index_and_come_back(alice):
    trigger = triggers.create_time_trigger(
        user=alice, profile=profile_named(alice, "In the office"), time_of_day=dt.time(8)
    )
    triggers.set_trigger_enabled(user=alice, trigger=trigger, enabled=False)
    trigger.refresh_from_db()
    assert (trigger.enabled, trigger.next_fire_at) == (False, None)
    triggers.set_trigger_enabled(user=alice, trigger=trigger, enabled=True)
    trigger.refresh_from_db()
    assert trigger.next_fire_at == dt.datetime(2026, 6, 1, 6, 0, tzinfo=UTC)


def test_delete_trigger(alice):
    trigger = triggers.create_time_trigger(
        user=alice, profile=profile_named(alice, "In the office"), time_of_day=dt.time(8)
    )
    triggers.delete_trigger(user=alice, trigger=trigger)
    assert not Trigger.objects.exists()


def test_profile_triggers_lists_a_profiles_triggers_in_one_query(alice, django_assert_num_queries):
    office = profile_named(alice, "In the office")
    for hour in (9, 7, 8):
        triggers.create_time_trigger(user=alice, profile=office, time_of_day=dt.time(hour))
    with django_assert_num_queries(1):
        listed = triggers.profile_triggers(alice, office)
    assert [t.time_of_day.hour for t in listed] == [7, 8, 9]


def test_meeting_trigger_without_connector_tells_the_user_to_ask_the_administrator(alice):
    with pytest.raises(PortalError) as error:
        triggers.create_meeting_trigger(user=alice, profile=profile_named(alice, "In a meeting"))
    assert "administrator" in error.value.message
    StatusConnector.objects.create(name="Teams", kind=StatusConnector.Kind.M365)  # not configured: no ids
    with pytest.raises(PortalError):
        triggers.create_meeting_trigger(user=alice, profile=profile_named(alice, "In a meeting"))
    assert not Trigger.objects.exists()


def test_meeting_trigger_uses_the_configured_connector_and_is_one_per_user(alice):
    hook = StatusConnector.objects.create(name="Hook", kind=StatusConnector.Kind.WEBHOOK, webhook_secret="s3cret")
    trigger = triggers.create_meeting_trigger(user=alice, profile=profile_named(alice, "In a meeting"))
    assert (trigger.kind, trigger.connector, trigger.next_fire_at) == (Trigger.Kind.MEETING, hook, None)
    assert triggers.meeting_trigger_problem(trigger) == ""
    with pytest.raises(PortalError, match="already have a meeting trigger"):
        triggers.create_meeting_trigger(user=alice, profile=profile_named(alice, "Do Not Disturb"))
    StatusConnector.objects.filter(pk=hook.pk).update(enabled=False)
    trigger.refresh_from_db()
    assert "administrator" in triggers.meeting_trigger_problem(trigger)


def test_time_zone_change_reschedules_the_users_triggers(alice):
    trigger = triggers.create_time_trigger(
        user=alice, profile=profile_named(alice, "In the office"), time_of_day=dt.time(8)
    )
    alice.account.time_zone = "Asia/Tokyo"
    alice.account.save(update_fields=["time_zone"])
    with time_machine.travel(dt.datetime(2026, 6, 1, 0, 0, tzinfo=UTC), tick=False):
        assert triggers.reschedule_user_triggers(alice) == 1
    trigger.refresh_from_db()
    assert trigger.next_fire_at == dt.datetime(2026, 6, 1, 23, 0, tzinfo=UTC)  # 08:00 JST on 2 June
