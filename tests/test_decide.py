"""The precedence rules as a pure function (profiles.automation.precedence.decide):
no database, no clock; every phase against every event."""

import datetime as dt

import pytest

from profiles.automation.precedence import (
    MeetingEnded,
    MeetingStarted,
    Outcome,
    Phase,
    Ref,
    TimerEnded,
    TriggerFired,
    UserState,
    decide,
)
from profiles.models import Selection

Source = Selection.Source
NOW = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(minutes=30)
OFFICE, OUT, MEETING, HOLIDAY, DND = (
    Ref(1, "In the office"),
    Ref(2, "Out of the office"),
    Ref(3, "In a meeting"),
    Ref(4, "On holiday", sticky=True),
    Ref(5, "Do Not Disturb"),
)
STICKY_MEETING = Ref(6, "In a meeting (pinned)", sticky=True)

PLAIN = UserState(profile=OFFICE, source=Source.USER, previous=OUT)
TIMER = UserState(profile=OUT, source=Source.USER, until=LATER, previous=OFFICE)
STICKY = UserState(profile=HOLIDAY, source=Source.USER, previous=OFFICE)
IN_MEETING = UserState(profile=MEETING, source=Source.MEETING, previous=OFFICE)
IN_STICKY_MEETING = UserState(profile=STICKY_MEETING, source=Source.MEETING, previous=OFFICE)
MEETING_WITH_TIMER = UserState(profile=MEETING, source=Source.MEETING, until=LATER, previous=OUT, until_profile=OFFICE)


def fired(profile=DND, *, late=dt.timedelta(0), enabled=True):
    return TriggerFired(
        profile=profile,
        label="time trigger at 10:00",
        scheduled_for=NOW - late,
        now=NOW,
        grace=dt.timedelta(minutes=5),
        trigger_enabled=enabled,
    )


def started(profile=MEETING, **kwargs):
    return MeetingStarted(profile=profile, label="meeting (Teams)", **kwargs)


def ended(now=NOW, **kwargs):
    return MeetingEnded(label="meeting (Teams)", now=now, **kwargs)


@pytest.mark.parametrize(
    ("state", "phase"),
    [
        (UserState(), Phase.NONE),
        (PLAIN, Phase.PLAIN),
        (TIMER, Phase.TIMER),
        (STICKY, Phase.STICKY),
        (IN_MEETING, Phase.MEETING),
        (IN_STICKY_MEETING, Phase.MEETING),
        (UserState(profile=HOLIDAY, source=Source.TRIGGER, until=LATER), Phase.STICKY),
    ],
)
def test_phase(state, phase):
    assert state.phase == phase


# --- a time trigger fires ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "outcome", "remember"),
    [
        (UserState(), Outcome.APPLIED, None),
        (PLAIN, Outcome.APPLIED, None),
        (STICKY, Outcome.SKIPPED_STICKY, None),
        (TIMER, Outcome.DEFERRED, ("previous_profile", DND)),
        (IN_MEETING, Outcome.DEFERRED, ("previous_profile", DND)),
        (IN_STICKY_MEETING, Outcome.DEFERRED, ("previous_profile", DND)),
        (MEETING_WITH_TIMER, Outcome.DEFERRED, ("until_profile", DND)),
        (UserState(profile=DND, source=Source.USER), Outcome.SKIPPED_SAME, None),
        (UserState(enabled=False, profile=OFFICE), Outcome.SKIPPED_DISABLED, None),
    ],
)
def test_time_trigger(state, outcome, remember):
    decision = decide(state, fired())
    assert (decision.outcome, decision.remember) == (outcome, remember)
    assert (decision.switch is not None) == (outcome == Outcome.APPLIED)
    if decision.switch:
        assert (decision.switch.profile, decision.switch.source) == (DND, Source.TRIGGER)


def test_time_trigger_too_late_or_turned_off():
    assert decide(PLAIN, fired(late=dt.timedelta(minutes=6))).outcome == Outcome.MISSED
    assert decide(PLAIN, fired(enabled=False)).detail == "the trigger was turned off"


# --- a timer ends ------------------------------------------------------------------------


def test_timer_not_yet_due():
    assert decide(TIMER, TimerEnded(now=NOW)).outcome == Outcome.UNCHANGED
    assert decide(PLAIN, TimerEnded(now=LATER)).outcome == Outcome.UNCHANGED


def test_timer_returns_to_the_profile_before():
    decision = decide(TIMER, TimerEnded(now=LATER))
    assert decision.outcome == Outcome.APPLIED
    assert (decision.switch.profile, decision.switch.source) == (OFFICE, Source.CLEAR_AFTER)


@pytest.mark.parametrize(
    ("state", "outcome", "clear"),
    [
        (MEETING_WITH_TIMER, Outcome.DEFERRED, False),
        (UserState(profile=HOLIDAY, source=Source.USER, until=LATER, previous=OFFICE), Outcome.SKIPPED_STICKY, True),
        (UserState(profile=OUT, source=Source.USER, until=LATER), Outcome.DROPPED, True),
        (UserState(enabled=False, profile=OUT, until=LATER, previous=OFFICE), Outcome.SKIPPED_DISABLED, True),
    ],
)
def test_timer_that_cannot_return(state, outcome, clear):
    decision = decide(state, TimerEnded(now=LATER))
    assert (decision.outcome, decision.clear_timer, decision.switch) == (outcome, clear, None)


# --- a meeting starts ------------------------------------------------------------------------


def test_meeting_start_switches_and_remembers_where_to_return():
    decision = decide(PLAIN, started())
    assert decision.outcome == Outcome.APPLIED
    switch = decision.switch
    assert (switch.profile, switch.source, switch.previous, switch.until) == (MEETING, Source.MEETING, OFFICE, None)


def test_meeting_start_suspends_a_timer():
    switch = decide(TIMER, started()).switch
    assert (switch.until, switch.previous, switch.until_profile) == (LATER, OUT, OFFICE)


@pytest.mark.parametrize(
    ("state", "event", "outcome"),
    [
        (PLAIN, started(already_reported=True), Outcome.UNCHANGED),
        (PLAIN, started(profile=None), Outcome.IGNORED),
        (STICKY, started(), Outcome.SKIPPED_STICKY),
        (IN_MEETING, started(), Outcome.UNCHANGED),
        (UserState(profile=MEETING, source=Source.USER), started(), Outcome.SKIPPED_SAME),
        (UserState(enabled=False, profile=OFFICE), started(), Outcome.SKIPPED_DISABLED),
    ],
)
def test_meeting_start_that_does_not_switch(state, event, outcome):
    decision = decide(state, event)
    assert (decision.outcome, decision.switch) == (outcome, None)


# --- a meeting ends ------------------------------------------------------------------------------


def test_meeting_end_returns_to_the_profile_before():
    switch = decide(IN_MEETING, ended()).switch
    assert (switch.profile, switch.source, switch.detail) == (OFFICE, Source.MEETING_END, "meeting (Teams) ended")


def test_meeting_end_returns_from_a_sticky_profile_the_meeting_selected():
    decision = decide(IN_STICKY_MEETING, ended())
    assert decision.outcome == Outcome.APPLIED
    assert decision.switch.profile == OFFICE


def test_meeting_end_leaves_a_sticky_profile_chosen_by_hand():
    # The same sticky profile, chosen by the user: not the meeting's.
    state = UserState(profile=STICKY_MEETING, source=Source.USER, previous=MEETING)
    decision = decide(state, ended())
    assert (decision.outcome, decision.switch) == (Outcome.UNCHANGED, None)


def test_meeting_end_resumes_a_suspended_timer():
    switch = decide(MEETING_WITH_TIMER, ended()).switch
    assert (switch.profile, switch.until, switch.previous) == (OUT, LATER, OFFICE)


def test_meeting_end_after_the_suspended_timer_ran_out_goes_where_the_timer_returns():
    switch = decide(MEETING_WITH_TIMER, ended(now=LATER)).switch
    assert (switch.profile, switch.source, switch.until) == (OFFICE, Source.CLEAR_AFTER, None)


@pytest.mark.parametrize(
    ("state", "event", "detail"),
    [
        (IN_MEETING, ended(was_reported=False), "was not in a meeting"),
        (IN_MEETING, ended(another_meeting=True), "another connector still reports a meeting"),
        (PLAIN, ended(), "the user chose another profile meanwhile"),
        (UserState(profile=MEETING, source=Source.MEETING), ended(), "nothing to return to"),
    ],
)
def test_meeting_end_that_does_not_switch(state, event, detail):
    decision = decide(state, event)
    assert (decision.outcome, decision.detail, decision.switch) == (Outcome.UNCHANGED, detail, None)


def test_an_unknown_event_is_refused():
    with pytest.raises(TypeError):
        decide(PLAIN, object())
