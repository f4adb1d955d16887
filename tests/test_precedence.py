"""Precedence: the user's own choice > sticky > meeting > clear-after >
time trigger (profiles.automation.precedence; README "## Triggers")."""

import datetime as dt

import pytest

from profiles.automation import meetings, triggers
from profiles.automation.tasks import due_scan
from profiles.models import RecentValue, Selection, StatusConnector, Trigger, TriggerFiring
from profiles.services import select_profile, update_profile
from tests.factories import make_user, profile_named

pytestmark = pytest.mark.django_db(transaction=True)

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
MEETING, OFFICE, OUT, DND, HOME, HOLIDAY = (
    "In a meeting",
    "In the office",
    "Out of the office",
    "Do Not Disturb",
    "Working from home",
    "On holiday",
)


@pytest.fixture
def hook():
    return StatusConnector.objects.create(name="Hook", kind=StatusConnector.Kind.WEBHOOK, webhook_secret="s3cret")


@pytest.fixture
def alice(time_machine, hook):
    time_machine.move_to(NOW, tick=False)
    user = make_user("alice", "1000")
    triggers.create_meeting_trigger(user=user, profile=profile_named(user, MEETING))
    return user


def _profile(user) -> str:
    return Selection.objects.select_related("profile").get(user=user).profile.name


def _selection(user) -> Selection:
    return Selection.objects.select_related("profile", "previous_profile").get(user=user)


def _fire_time_trigger(user, profile_name: str, time_machine, at: dt.datetime) -> TriggerFiring:
    trigger = triggers.create_time_trigger(
        user=user, profile=profile_named(user, profile_name), time_of_day=dt.time(8), weekdays=0b1111111
    )
    Trigger.objects.filter(pk=trigger.pk).update(next_fire_at=at)
    time_machine.move_to(at + dt.timedelta(seconds=5), tick=False)
    due_scan()
    return TriggerFiring.objects.get(trigger=trigger, scheduled_for=at)


def _start(user, hook):
    return meetings.meeting_started(user_id=user.pk, connector=hook)


def _end(user, hook):
    return meetings.meeting_ended(user_id=user.pk, connector=hook)


def _make_sticky(user, name):
    update_profile(user=user, profile=profile_named(user, name), sticky=True)


# --- the user's own choice -----------------------------------------------------------


def test_users_choice_beats_sticky(alice):
    _make_sticky(alice, HOLIDAY)
    select_profile(user=alice, profile=profile_named(alice, HOLIDAY))
    select_profile(user=alice, profile=profile_named(alice, OFFICE))
    assert _profile(alice) == OFFICE


def test_users_choice_during_a_meeting_is_kept_when_the_meeting_ends(alice, hook):
    _start(alice, hook)
    assert _profile(alice) == MEETING
    select_profile(user=alice, profile=profile_named(alice, OUT))
    result = _end(alice, hook)
    assert result.detail == "the user chose another profile meanwhile"
    assert _profile(alice) == OUT


def test_users_choice_replaces_a_running_timer(alice, time_machine):
    select_profile(user=alice, profile=profile_named(alice, OUT), until=NOW + dt.timedelta(minutes=30))
    select_profile(user=alice, profile=profile_named(alice, MEETING))
    time_machine.move_to(NOW + dt.timedelta(hours=1), tick=False)
    due_scan()
    assert _profile(alice) == MEETING


def test_a_plain_manual_choice_does_not_block_the_next_time_trigger(alice, time_machine):
    select_profile(user=alice, profile=profile_named(alice, OUT))
    firing = _fire_time_trigger(alice, OFFICE, time_machine, NOW + dt.timedelta(hours=1))
    assert firing.outcome == TriggerFiring.Outcome.APPLIED
    assert _profile(alice) == OFFICE


# --- sticky ------------------------------------------------------------------------------


def test_sticky_beats_meeting(alice, hook):
    _make_sticky(alice, HOLIDAY)
    select_profile(user=alice, profile=profile_named(alice, HOLIDAY))
    assert _start(alice, hook).outcome == TriggerFiring.Outcome.SKIPPED_STICKY
    assert _profile(alice) == HOLIDAY
    _end(alice, hook)
    assert _profile(alice) == HOLIDAY


def test_sticky_beats_clear_after_the_timer_is_dropped(alice, time_machine):
    _make_sticky(alice, HOLIDAY)
    select_profile(user=alice, profile=profile_named(alice, HOLIDAY), until=NOW + dt.timedelta(minutes=30))
    time_machine.move_to(NOW + dt.timedelta(hours=1), tick=False)
    due_scan()
    selection = _selection(alice)
    assert (selection.profile.name, selection.until) == (HOLIDAY, None)


def test_sticky_beats_time_trigger(alice, time_machine):
    _make_sticky(alice, HOLIDAY)
    select_profile(user=alice, profile=profile_named(alice, HOLIDAY))
    firing = _fire_time_trigger(alice, OFFICE, time_machine, NOW + dt.timedelta(hours=1))
    assert firing.outcome == TriggerFiring.Outcome.SKIPPED_STICKY
    assert firing.get_outcome_display() == "Skipped: sticky profile"
    assert _profile(alice) == HOLIDAY


# --- meeting ------------------------------------------------------------------------------


def test_meeting_switches_and_returns_to_the_profile_before(alice, hook):
    select_profile(user=alice, profile=profile_named(alice, OUT))
    assert _start(alice, hook).outcome == TriggerFiring.Outcome.APPLIED
    selection = _selection(alice)
    assert (selection.profile.name, selection.source) == (MEETING, Selection.Source.MEETING)
    assert selection.source_detail == "meeting (Hook)"
    assert _end(alice, hook).outcome == TriggerFiring.Outcome.APPLIED
    selection = _selection(alice)
    assert (selection.profile.name, selection.source) == (OUT, Selection.Source.MEETING_END)


def test_repeated_meeting_events_are_harmless(alice, hook):
    _start(alice, hook)
    assert _start(alice, hook).outcome == "unchanged"
    _end(alice, hook)
    assert _end(alice, hook).outcome == "unchanged"
    assert _profile(alice) == OFFICE


def test_meeting_beats_clear_after_timer_resumes_after_a_short_meeting(alice, hook, time_machine):
    until = NOW + dt.timedelta(minutes=30)
    select_profile(user=alice, profile=profile_named(alice, OUT), until=until)
    _start(alice, hook)
    assert _profile(alice) == MEETING
    time_machine.move_to(NOW + dt.timedelta(minutes=10), tick=False)
    _end(alice, hook)
    selection = _selection(alice)
    assert (selection.profile.name, selection.until, selection.previous_profile.name) == (OUT, until, OFFICE)
    time_machine.move_to(until + dt.timedelta(seconds=5), tick=False)
    due_scan()
    assert _profile(alice) == OFFICE


def test_meeting_beats_clear_after_timer_does_not_fire_during_the_meeting(alice, hook, time_machine):
    until = NOW + dt.timedelta(minutes=30)
    select_profile(user=alice, profile=profile_named(alice, OUT), until=until)
    _start(alice, hook)
    time_machine.move_to(until + dt.timedelta(minutes=5), tick=False)
    due_scan()
    assert _profile(alice) == MEETING
    _end(alice, hook)
    selection = _selection(alice)
    # The timer ran out meanwhile: straight to where the timer returns.
    assert (selection.profile.name, selection.source, selection.until) == (OFFICE, Selection.Source.CLEAR_AFTER, None)


def test_meeting_beats_time_trigger_whose_profile_follows_the_meeting(alice, hook, time_machine):
    _start(alice, hook)
    firing = _fire_time_trigger(alice, OUT, time_machine, NOW + dt.timedelta(minutes=10))
    assert firing.outcome == TriggerFiring.Outcome.DEFERRED
    assert _profile(alice) == MEETING
    _end(alice, hook)
    assert _profile(alice) == OUT


def test_meeting_end_on_a_sticky_meeting_profile_stays(alice, hook):
    _make_sticky(alice, MEETING)
    _start(alice, hook)
    assert _profile(alice) == MEETING
    assert _end(alice, hook).outcome == TriggerFiring.Outcome.SKIPPED_STICKY
    assert _profile(alice) == MEETING


# --- clear-after --------------------------------------------------------------------------


def test_clear_after_beats_time_trigger_whose_profile_follows_the_timer(alice, time_machine):
    until = NOW + dt.timedelta(minutes=30)
    select_profile(user=alice, profile=profile_named(alice, OUT), until=until)
    firing = _fire_time_trigger(alice, DND, time_machine, NOW + dt.timedelta(minutes=10))
    assert firing.outcome == TriggerFiring.Outcome.DEFERRED
    assert _profile(alice) == OUT
    time_machine.move_to(until + dt.timedelta(seconds=5), tick=False)
    due_scan()
    assert _profile(alice) == DND


# --- values asked on selection ----------------------------------------------------------------


def test_trigger_reuses_the_users_last_forward_target(alice, time_machine):
    select_profile(user=alice, profile=profile_named(alice, HOME), prompt_values={"forward": "+4930123456"})
    select_profile(user=alice, profile=profile_named(alice, OFFICE))
    firing = _fire_time_trigger(alice, HOME, time_machine, NOW + dt.timedelta(hours=1))
    assert firing.outcome == TriggerFiring.Outcome.APPLIED
    assert _selection(alice).prompt_values == {"forward": "+4930123456"}


def test_trigger_to_a_profile_asking_a_value_never_given_fails_with_the_reason(alice, time_machine):
    assert not RecentValue.objects.filter(user=alice).exists()
    firing = _fire_time_trigger(alice, HOME, time_machine, NOW + dt.timedelta(hours=1))
    assert firing.outcome == TriggerFiring.Outcome.FAILED
    assert "asks for a value" in firing.detail
    assert _profile(alice) == OFFICE
