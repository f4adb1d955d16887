"""Meetings: a connector (webhook, Microsoft 365, calendar) says a user's
meeting started or ended; switch and return by the precedence rules."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from profiles.automation import acting
from profiles.automation.precedence import Decision, MeetingEnded, MeetingStarted, Outcome, decide
from profiles.models import CalendarLink, MeetingPresence, PresenceProfile, StatusConnector, Trigger


def meeting_profile_for(user_id: int) -> PresenceProfile | None:
    trigger = (
        Trigger.objects.filter(
            profile__owner_id=user_id,
            profile__kind=PresenceProfile.Kind.PERSONAL,
            kind=Trigger.Kind.MEETING,
            enabled=True,
        )
        .select_related("profile")
        .first()
    )
    return trigger.profile if trigger else None


def _record_presence(connector: StatusConnector, user_id: int, in_meeting: bool, activity: str, now) -> bool:
    """Store what the connector says; True when it is a change."""
    presence, _ = MeetingPresence.objects.select_for_update().get_or_create(connector=connector, user_id=user_id)
    changed = presence.in_meeting != in_meeting
    presence.in_meeting = in_meeting
    presence.activity = activity[:64]
    if changed:
        presence.changed_at = now
    presence.save(update_fields=["in_meeting", "activity", "changed_at"])
    return changed


def meeting_started(
    *,
    user_id: int,
    connector: StatusConnector,
    activity: str = "",
    now: dt.datetime | None = None,
    profile: PresenceProfile | None = None,
) -> Decision:
    """The connector says the user's meeting started: switch to the meeting
    trigger's profile (or ``profile``: a call's, profiles.automation.calls),
    remembering where to return."""
    now = now or timezone.now()
    with transaction.atomic():
        account, selection = acting.lock_user(user_id)
        changed = _record_presence(connector, user_id, True, activity, now)
        profile = (profile or meeting_profile_for(user_id)) if changed else None
        event = MeetingStarted(
            profile=acting.ref(profile), label=f"meeting ({connector.name})", already_reported=not changed
        )
        decision = decide(acting.state_of(account, selection), event)
        return acting.carry_out(decision, account, selection, acting.profiles_of(selection, profile))


def meeting_ended(
    *, user_id: int, connector: StatusConnector, activity: str = "", now: dt.datetime | None = None
) -> Decision:
    """The connector says the meeting ended: return to the profile before,
    unless the user chose another profile meanwhile; a profile the meeting
    selected is left even when it is sticky."""
    now = now or timezone.now()
    with transaction.atomic():
        account, selection = acting.lock_user(user_id)
        changed = _record_presence(connector, user_id, False, activity, now)
        another = changed and _another_meeting(
            user_id, MeetingPresence.objects.exclude(connector=connector), CalendarLink.objects.all()
        )
        event = MeetingEnded(
            label=f"meeting ({connector.name})", now=now, was_reported=changed, another_meeting=another
        )
        decision = decide(acting.state_of(account, selection), event)
        return acting.carry_out(decision, account, selection, acting.profiles_of(selection))


def _another_meeting(user_id: int, presences, calendars) -> bool:
    """Whether another source still reports a meeting for the user."""
    return (
        presences.filter(user_id=user_id, in_meeting=True).exists()
        or calendars.filter(user_id=user_id, enabled=True, in_event=True).exists()
    )


# --- calendar events: a meeting whose source is the user's calendar ---------------------------


def calendar_event_changed(calendar_id: int, *, in_event: bool, now: dt.datetime | None = None) -> Decision:
    """A calendar's matching event started (``in_event``) or ended: record
    it on the calendar and switch with meeting precedence. The calendar row
    is the presence record (as MeetingPresence is for connectors)."""
    now = now or timezone.now()
    with transaction.atomic():
        calendar = CalendarLink.objects.select_related("profile").filter(pk=calendar_id).first()
        if calendar is None:
            return Decision(Outcome.IGNORED, "the calendar was removed")
        account, selection = acting.lock_user(calendar.user_id)
        calendar = CalendarLink.objects.select_for_update().select_related("profile").get(pk=calendar_id)
        changed = calendar.in_event != in_event
        if changed:
            CalendarLink.objects.filter(pk=calendar.pk).update(in_event=in_event)
        label = f"calendar event ({calendar.name})"
        state = acting.state_of(account, selection)
        if in_event:
            event = MeetingStarted(profile=acting.ref(calendar.profile), label=label, already_reported=not changed)
            decision = decide(state, event)
            return acting.carry_out(decision, account, selection, acting.profiles_of(selection, calendar.profile))
        another = changed and _another_meeting(
            calendar.user_id, MeetingPresence.objects.all(), CalendarLink.objects.exclude(pk=calendar.pk)
        )
        event = MeetingEnded(label=label, now=now, was_reported=changed, another_meeting=another)
        return acting.carry_out(decide(state, event), account, selection, acting.profiles_of(selection))
