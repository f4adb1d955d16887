"""The precedence rules, as one pure function: ``decide(state, event)``
returns a Decision (an Outcome, a why, and what to change). No database,
no clock: the callers (firings, clear_after, meetings) read the state under
the user's lock, call decide, and carry the decision out
(profiles.automation.acting).

    the user's own choice > sticky chosen by hand > meeting > clear-after > time trigger

- The user's own choice (select_profile with source user/admin/API) always
  applies and ends whatever was active: a meeting then no longer returns,
  a pending timer is replaced. It never passes through decide.
- Sticky: no automatic source leaves a sticky profile that the user (or
  an administrator, or a time trigger) selected. A time trigger is recorded
  "skipped: sticky"; a meeting start is ignored; a timer that ends on a
  sticky profile is dropped.
- Meeting (or calendar event): what a meeting selected, the meeting also
  ends, sticky or not (pascom: pin the meeting profile so time triggers
  cannot end the meeting; after it the user returns). A timer does not fire
  during a meeting; it is suspended and, when the meeting ends, resumes (or,
  if it ended meanwhile, the user goes straight to the timer's profile). A
  time trigger firing during a meeting does not end it: its profile becomes
  the one to return to afterwards.
- Clear-after (timer): a time trigger firing while a timer runs does not cut
  it short: its profile becomes the one the timer returns to.
- A plain selection (by hand without a timer, or by an earlier trigger) is
  no state that blocks anything: the next trigger switches at its time.
- Session triggers (the user's last client left; a client is back): the
  last client leaving switches like a meeting starting (a sticky profile
  chosen by hand is not left, a running meeting is not interrupted, the
  profile left is remembered); a client connecting again returns only from
  the profile the session trigger selected itself, sticky or not. The
  session's profile is a plain selection otherwise: a later time trigger
  switches at its time.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from profiles.models import Outcome, Selection

Source = Selection.Source

__all__ = [
    "Decision",
    "MeetingEnded",
    "ClientBack",
    "ClientsLeft",
    "MeetingStarted",
    "Outcome",
    "Phase",
    "Ref",
    "TimerEnded",
    "TriggerFired",
    "UserState",
    "decide",
]


class Phase(enum.StrEnum):
    """What is active for a user, highest precedence first."""

    NONE = "none"
    MEETING = "meeting"
    STICKY = "sticky"
    TIMER = "timer"
    PLAIN = "plain"


@dataclass(frozen=True)
class Ref:
    """A profile as the rules see it."""

    id: int
    name: str
    sticky: bool = False


@dataclass(frozen=True)
class UserState:
    """The user's selection and account, as read under their lock."""

    enabled: bool = True  # an account with presence profiles enabled
    profile: Ref | None = None
    source: str = ""
    until: dt.datetime | None = None
    previous: Ref | None = None
    until_profile: Ref | None = None

    @property
    def phase(self) -> Phase:
        if self.profile is None:
            return Phase.NONE
        # A meeting's own selection is the meeting's, sticky or not: the
        # meeting's end returns from it (pascom's pinned meeting profile).
        if self.source == Source.MEETING:
            return Phase.MEETING
        if self.profile.sticky:
            return Phase.STICKY
        if self.until is not None:
            return Phase.TIMER
        return Phase.PLAIN


@dataclass(frozen=True)
class TriggerFired:
    profile: Ref
    label: str  # "time trigger at 08:00"
    scheduled_for: dt.datetime
    now: dt.datetime
    grace: dt.timedelta
    trigger_enabled: bool = True


@dataclass(frozen=True)
class TimerEnded:
    now: dt.datetime


@dataclass(frozen=True)
class MeetingStarted:
    profile: Ref | None  # the user's meeting profile; None without a trigger
    label: str  # "meeting (Teams)"
    already_reported: bool = False  # this source said so before


@dataclass(frozen=True)
class MeetingEnded:
    label: str
    now: dt.datetime
    was_reported: bool = True  # this source had reported the meeting
    another_meeting: bool = False  # another source still reports one


@dataclass(frozen=True)
class ClientsLeft:
    """The user's last client session ended (disconnect or expiry)."""

    profile: Ref  # the session trigger's profile
    label: str


@dataclass(frozen=True)
class ClientBack:
    """A client of the user connected again (with "return on connect")."""

    label: str


Event = TriggerFired | TimerEnded | MeetingStarted | MeetingEnded | ClientsLeft | ClientBack


@dataclass(frozen=True)
class Switch:
    """Select ``profile`` with ``source``; ``previous`` is the profile to
    return to (None: the one left), ``until``/``until_profile`` a timer that
    rides along."""

    profile: Ref
    source: str
    detail: str
    until: dt.datetime | None = None
    previous: Ref | None = None
    until_profile: Ref | None = None


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    detail: str
    switch: Switch | None = None
    # Remember a profile to return to without switching: (field, profile),
    # field "previous_profile" or "until_profile".
    remember: tuple[str, Ref] | None = None
    clear_timer: bool = False


def decide(state: UserState, event: Event) -> Decision:
    """What the precedence rules make of ``event`` for a user in ``state``."""
    if isinstance(event, TriggerFired):
        return _trigger_fired(state, event)
    if isinstance(event, TimerEnded):
        return _timer_ended(state, event)
    if isinstance(event, MeetingStarted):
        return _meeting_started(state, event)
    if isinstance(event, MeetingEnded):
        return _meeting_ended(state, event)
    if isinstance(event, ClientsLeft):
        return _clients_left(state, event)
    if isinstance(event, ClientBack):
        return _client_back(state, event)
    raise TypeError(f"not an automation event: {event!r}")


def _trigger_fired(state: UserState, event: TriggerFired) -> Decision:
    profile, phase = event.profile, state.phase
    if event.now - event.scheduled_for > event.grace:
        return Decision(Outcome.MISSED, "handled after the grace window")
    if not event.trigger_enabled:
        return Decision(Outcome.SKIPPED_DISABLED, "the trigger was turned off")
    if not state.enabled:
        return Decision(Outcome.SKIPPED_DISABLED, "presence profiles are not enabled for this user")
    if phase == Phase.MEETING:
        # The trigger's profile is where the user belongs after the meeting
        # (or after the timer the meeting suspended).
        where = "until_profile" if state.until is not None else "previous_profile"
        return Decision(
            Outcome.DEFERRED, f"in a meeting; returns to {profile.name} after it", remember=(where, profile)
        )
    if phase == Phase.STICKY:
        return Decision(Outcome.SKIPPED_STICKY, f"{state.profile.name} is sticky")
    if phase == Phase.TIMER:
        return Decision(
            Outcome.DEFERRED,
            f"a timer runs; returns to {profile.name} when it ends",
            remember=("previous_profile", profile),
        )
    if state.profile is not None and state.profile.id == profile.id:
        return Decision(Outcome.SKIPPED_SAME, f"{profile.name} is already selected")
    return Decision(Outcome.APPLIED, f"switched to {profile.name}", switch=Switch(profile, Source.TRIGGER, event.label))


def _timer_ended(state: UserState, event: TimerEnded) -> Decision:
    if state.until is None or state.until > event.now:
        return Decision(Outcome.UNCHANGED, "no timer due")
    phase = state.phase
    if phase == Phase.MEETING:
        return Decision(Outcome.DEFERRED, "suspended during a meeting")
    # Sticky beats clear-after: the timer is dropped, the profile stays.
    if phase == Phase.STICKY:
        return Decision(Outcome.SKIPPED_STICKY, f"{state.profile.name} is sticky", clear_timer=True)
    if not state.enabled:
        return Decision(Outcome.SKIPPED_DISABLED, "presence profiles are not enabled for this user", clear_timer=True)
    if state.previous is None:
        return Decision(Outcome.DROPPED, "nothing to return to", clear_timer=True)
    return Decision(
        Outcome.APPLIED,
        f"switched to {state.previous.name}",
        switch=Switch(state.previous, Source.CLEAR_AFTER, "timer ended"),
    )


def _meeting_started(state: UserState, event: MeetingStarted) -> Decision:
    if event.already_reported:
        return Decision(Outcome.UNCHANGED, "already in a meeting")
    profile = event.profile
    if profile is None:
        return Decision(Outcome.IGNORED, "the user has no meeting trigger")
    blocked = _switch_blocked(state, profile, in_meeting="already switched for a meeting")
    if blocked is not None:
        return blocked
    # A running timer is suspended: its end time and its profile ride along
    # on the meeting selection (meeting > clear-after).
    timer = state.phase == Phase.TIMER
    return Decision(
        Outcome.APPLIED,
        f"switched to {profile.name}",
        switch=Switch(
            profile,
            Source.MEETING,
            event.label,
            until=state.until if timer else None,
            previous=state.profile,
            until_profile=state.previous if timer else None,
        ),
    )


def _switch_blocked(state: UserState, profile: Ref, *, in_meeting: str) -> Decision | None:
    """Why an automation may not switch the user to ``profile`` now (None: it may).

    The checks in their order of precedence: presence profiles off, a running
    meeting (which wins; ``in_meeting`` says why), a sticky profile, and the
    profile already selected.
    """
    if not state.enabled:
        return Decision(Outcome.SKIPPED_DISABLED, "presence profiles are not enabled for this user")
    if state.phase == Phase.MEETING:
        return Decision(Outcome.UNCHANGED, in_meeting)
    if state.phase == Phase.STICKY:
        return Decision(Outcome.SKIPPED_STICKY, f"{state.profile.name} is sticky")
    if state.profile is not None and state.profile.id == profile.id:
        return Decision(Outcome.SKIPPED_SAME, f"{profile.name} is already selected")
    return None


def _meeting_ended(state: UserState, event: MeetingEnded) -> Decision:
    if not event.was_reported:
        return Decision(Outcome.UNCHANGED, "was not in a meeting")
    if event.another_meeting:
        return Decision(Outcome.UNCHANGED, "another connector still reports a meeting")
    if state.phase != Phase.MEETING:
        return Decision(Outcome.UNCHANGED, "the user chose another profile meanwhile")
    if not state.enabled:
        return Decision(Outcome.SKIPPED_DISABLED, "presence profiles are not enabled for this user")
    if state.until is not None and state.until <= event.now:
        # The suspended timer ran out during the meeting.
        back = state.until_profile or state.previous
        if back is None:
            return Decision(Outcome.UNCHANGED, "nothing to return to")
        return Decision(
            Outcome.APPLIED,
            f"switched to {back.name}",
            switch=Switch(back, Source.CLEAR_AFTER, "timer ended during a meeting"),
        )
    if state.previous is None:
        return Decision(Outcome.UNCHANGED, "nothing to return to")
    return Decision(
        Outcome.APPLIED,
        f"switched to {state.previous.name}",
        switch=Switch(
            state.previous,
            Source.MEETING_END,
            f"{event.label} ended",
            until=state.until,
            previous=state.until_profile if state.until is not None else None,
        ),
    )


def _clients_left(state: UserState, event: ClientsLeft) -> Decision:
    profile = event.profile
    blocked = _switch_blocked(state, profile, in_meeting="a meeting is running")
    if blocked is not None:
        return blocked
    return Decision(
        Outcome.APPLIED,
        f"switched to {profile.name}",
        switch=Switch(profile, Source.SESSION_END, event.label, previous=state.profile),
    )


def _client_back(state: UserState, event: ClientBack) -> Decision:
    if state.source != Source.SESSION_END:
        return Decision(Outcome.UNCHANGED, "the user chose another profile meanwhile")
    if not state.enabled:
        return Decision(Outcome.SKIPPED_DISABLED, "presence profiles are not enabled for this user")
    if state.previous is None:
        return Decision(Outcome.UNCHANGED, "nothing to return to")
    return Decision(
        Outcome.APPLIED,
        f"switched to {state.previous.name}",
        switch=Switch(state.previous, Source.SESSION_BACK, event.label),
    )
