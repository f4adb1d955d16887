"""Meetings: a connector (webhook, Microsoft 365, calendar) says a user's
meeting started or ended; switch and return by the precedence rules."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from profiles.automation.precedence import Outcome, Result, Source, State, lock_user, state_of, switch
from profiles.models import MeetingPresence, PresenceProfile, Selection, StatusConnector, Trigger


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
) -> Result:
    """The connector says the user's meeting started: switch to the meeting
    trigger's profile, remembering where to return."""
    now = now or timezone.now()
    with transaction.atomic():
        account, selection = lock_user(user_id)
        if not _record_presence(connector, user_id, True, activity, now):
            return Result("unchanged", "already in a meeting")
        profile = meeting_profile_for(user_id)
        if profile is None:
            return Result("ignored", "the user has no meeting trigger")
        if account is None:
            return Result(Outcome.SKIPPED_DISABLED, "presence profiles are not set up for this user")
        state = state_of(selection)
        if state == State.STICKY:
            return Result(Outcome.SKIPPED_STICKY, f"{selection.profile.name} is sticky")
        if state == State.MEETING:
            return Result("unchanged", "already switched for a meeting")
        if selection is not None and selection.profile_id == profile.pk:
            return Result(Outcome.SKIPPED_SAME, f"{profile.name} is already selected")
        # A running timer is suspended: its end time and its profile ride
        # along on the meeting selection (meeting > clear-after).
        until = selection.until if state == State.TIMER else None
        until_profile = selection.previous_profile if state == State.TIMER else None
        result = switch(
            account.user,
            profile,
            source=Source.MEETING,
            source_detail=f"meeting ({connector.name})",
            until=until,
            previous_profile=selection.profile if selection else None,
        )
        if result.outcome == Outcome.APPLIED:
            Selection.objects.filter(user_id=user_id).update(until_profile=until_profile)
        return result


def meeting_ended(
    *, user_id: int, connector: StatusConnector, activity: str = "", now: dt.datetime | None = None
) -> Result:
    """The connector says the meeting ended: return to the profile before,
    unless the user chose another profile meanwhile."""
    now = now or timezone.now()
    with transaction.atomic():
        account, selection = lock_user(user_id)
        if not _record_presence(connector, user_id, False, activity, now):
            return Result("unchanged", "was not in a meeting")
        if MeetingPresence.objects.filter(user_id=user_id, in_meeting=True).exclude(connector=connector).exists():
            return Result("unchanged", "another connector still reports a meeting")
        if selection is None or account is None or selection.source != Source.MEETING:
            return Result("unchanged", "the user chose another profile meanwhile")
        if selection.profile.sticky:
            return Result(Outcome.SKIPPED_STICKY, f"{selection.profile.name} is sticky")
        back = selection.previous_profile
        if selection.until is not None and selection.until <= now:
            # The suspended timer ran out during the meeting.
            back = selection.until_profile or back
            if back is None:
                return Result("unchanged", "nothing to return to")
            return switch(account.user, back, source=Source.CLEAR_AFTER, source_detail="timer ended during a meeting")
        if back is None:
            return Result("unchanged", "nothing to return to")
        return switch(
            account.user,
            back,
            source=Source.MEETING_END,
            source_detail=f"meeting ({connector.name}) ended",
            until=selection.until,
            previous_profile=selection.until_profile if selection.until is not None else None,
        )
