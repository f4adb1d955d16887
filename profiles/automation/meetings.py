"""Meetings: a connector (webhook, Microsoft 365, calendar) says a user's
meeting started or ended; switch and return by the precedence rules."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from profiles.automation import acting
from profiles.automation.precedence import Decision, MeetingEnded, MeetingStarted, decide
from profiles.models import MeetingPresence, PresenceProfile, StatusConnector, Trigger


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
    *, user_id: int, connector: StatusConnector, activity: str = "", now: dt.datetime | None = None
) -> Decision:
    """The connector says the user's meeting started: switch to the meeting
    trigger's profile, remembering where to return."""
    now = now or timezone.now()
    with transaction.atomic():
        account, selection = acting.lock_user(user_id)
        changed = _record_presence(connector, user_id, True, activity, now)
        profile = meeting_profile_for(user_id) if changed else None
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
        another = (
            changed
            and MeetingPresence.objects.filter(user_id=user_id, in_meeting=True).exclude(connector=connector).exists()
        )
        event = MeetingEnded(
            label=f"meeting ({connector.name})", now=now, was_reported=changed, another_meeting=another
        )
        decision = decide(acting.state_of(account, selection), event)
        return acting.carry_out(decision, account, selection, acting.profiles_of(selection))
