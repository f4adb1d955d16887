"""Where automatic switches meet the user's state: the precedence rules,
in one place.

    the user's own choice > sticky > meeting > clear-after > time trigger

- The user's own choice (select_profile with source user/admin/API) always
  applies and ends whatever was active: a meeting then no longer returns,
  a pending timer is replaced.
- Sticky: no automatic source leaves a sticky profile. A time trigger is
  recorded "skipped: sticky"; a meeting start is ignored; a timer that
  ends on a sticky profile is dropped.
- Meeting: a timer does not fire during a meeting; it is suspended and,
  when the meeting ends, resumes (or, if it ended meanwhile, the user goes
  straight to the timer's profile). A time trigger firing during a meeting
  does not end it: its profile becomes the one to return to afterwards.
- Clear-after (timer): a time trigger firing while a timer runs does not cut
  it short: its profile becomes the one the timer returns to.
- A plain selection (by hand without a timer, or by an earlier trigger) is
  no state that blocks anything: the next trigger switches at its time.

Each function takes the per-user lock (Account row, as select_profile
does) and re-reads the selection, so concurrent events serialise.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from portal import bulk
from profiles.errors import PortalError, PresenceDisabled, PromptRequired
from profiles.models import (
    Account,
    MeetingPresence,
    PresenceProfile,
    RecentValue,
    Selection,
    StatusConnector,
    Trigger,
    TriggerFiring,
)
from profiles.services import Switch, SwitchOutcome, SwitchResult, select_profile, switch_profiles

Source = Selection.Source
Outcome = TriggerFiring.Outcome


class State(enum.StrEnum):
    """What is active for a user, highest precedence first."""

    NONE = "none"
    STICKY = "sticky"
    MEETING = "meeting"
    TIMER = "timer"
    PLAIN = "plain"


def state_of(selection: Selection | None) -> State:
    if selection is None:
        return State.NONE
    if selection.profile.sticky:
        return State.STICKY
    if selection.source == Source.MEETING:
        return State.MEETING
    if selection.until is not None:
        return State.TIMER
    return State.PLAIN


@dataclass(frozen=True)
class Result:
    outcome: str
    detail: str = ""


def _lock(user_id: int) -> tuple[Account | None, Selection | None]:
    account = Account.objects.select_for_update(of=("self",)).select_related("client_profile").filter(user_id=user_id)
    account = account.first()
    selection = (
        Selection.objects.select_for_update(of=("self",))
        .select_related("profile", "previous_profile", "until_profile", "user")
        .filter(user_id=user_id)
        .first()
    )
    return account, selection


def _last_values(user) -> dict[str, str]:
    """The user's most recent value of each prompt (DND message, forward
    target): what an automatic switch answers when a profile asks."""
    return _last_values_many([user.pk]).get(user.pk, {})


def _last_values_many(user_ids: list[int]) -> dict[int, dict[str, str]]:
    values: dict[int, dict[str, str]] = {}
    for user_id, kind, value in (
        RecentValue.objects.filter(user_id__in=user_ids).order_by("-last_used").values_list("user_id", "kind", "value")
    ):
        values.setdefault(user_id, {}).setdefault(kind, value)
    return values


def _switch(user, profile: PresenceProfile, **kwargs) -> Result:
    """select_profile for an automatic source, its refusals as a Result."""
    try:
        result = select_profile(user=user, profile=profile, prompt_values=_last_values(user), **kwargs)
    except PromptRequired as exc:
        return Result(
            Outcome.FAILED, f"{profile.name} asks for a value ({exc.message}) and there is no earlier one to reuse"
        )
    except PresenceDisabled as exc:
        return Result(Outcome.SKIPPED_DISABLED, exc.message)
    except PortalError as exc:
        return Result(Outcome.FAILED, exc.message)
    if not result.switched:
        return Result(Outcome.SKIPPED_STICKY, "the current profile is sticky")
    return Result(Outcome.APPLIED, f"switched to {profile.name}")


# --- time triggers ----------------------------------------------------------------


def trigger_detail(trigger: Trigger) -> str:
    return f"time trigger at {trigger.time_of_day:%H:%M}"


def apply_firing(firing_id: int, *, now: dt.datetime | None = None) -> Result:
    """apply_firings for one firing."""
    return apply_firings([firing_id], now=now).get(firing_id, Result("done", "already handled"))


def apply_firings(firing_ids: list[int], *, now: dt.datetime | None = None) -> dict[int, Result]:
    """Act on claimed firings, each exactly once: the firing rows are locked
    and must still be pending; their outcomes are written in the same
    transaction as the switches, so a retried or duplicated batch finds them
    done. A constant number of queries per batch (switch_profiles);
    a user with two firings in one batch gets them one after the other."""
    now = now or timezone.now()
    results: dict[int, Result] = {}
    remaining = list(firing_ids)
    while remaining:
        with transaction.atomic():
            firings = list(
                TriggerFiring.objects.select_for_update(of=("self",))
                .select_related("trigger__profile")
                .filter(pk__in=remaining, outcome=Outcome.PENDING)
                .order_by("scheduled_for", "pk")
            )
            first_per_user: dict[int, TriggerFiring] = {}
            for firing in firings:
                first_per_user.setdefault(firing.trigger.profile.owner_id, firing)
            batch = list(first_per_user.values())
            results.update(_fire_batch(batch, now))
        # A user's second firing in this batch waits for the next round.
        later = {f.pk for f in firings} - {f.pk for f in batch}
        remaining = [pk for pk in remaining if pk in later]
    return results


def _fire_batch(firings: list[TriggerFiring], now: dt.datetime) -> dict[int, Result]:
    from django.conf import settings

    if not firings:
        return {}
    grace = dt.timedelta(minutes=settings.TRIGGER_GRACE_MINUTES)
    owners = [f.trigger.profile.owner_id for f in firings]
    accounts = {
        a.user_id: a
        for a in Account.objects.select_for_update(of=("self",))
        .select_related("client_profile")
        .filter(user_id__in=owners)
        .order_by("pk")
    }
    selections = {
        s.user_id: s
        for s in Selection.objects.select_for_update(of=("self",)).select_related("profile").filter(user_id__in=owners)
    }
    results: dict[int, Result] = {}
    deferred: dict[str, list[Selection]] = {"previous_profile": [], "until_profile": []}
    switches: dict[int, TriggerFiring] = {}
    for firing in firings:
        trigger, profile = firing.trigger, firing.trigger.profile
        account, selection = accounts.get(profile.owner_id), selections.get(profile.owner_id)
        state = state_of(selection)
        if now - firing.scheduled_for > grace:
            results[firing.pk] = Result(Outcome.MISSED, "handled after the grace window")
        elif not trigger.enabled:
            results[firing.pk] = Result(Outcome.SKIPPED_DISABLED, "the trigger was turned off")
        elif account is None or not account.presence_enabled:
            results[firing.pk] = Result(Outcome.SKIPPED_DISABLED, "presence profiles are not enabled for this user")
        elif state == State.STICKY:
            results[firing.pk] = Result(Outcome.SKIPPED_STICKY, f"{selection.profile.name} is sticky")
        elif state == State.MEETING:
            # The trigger's profile is where the user belongs after the
            # meeting (or after the timer the meeting suspended).
            field = "until_profile" if selection.until is not None else "previous_profile"
            setattr(selection, field, profile)
            deferred[field].append(selection)
            results[firing.pk] = Result(Outcome.DEFERRED, f"in a meeting; returns to {profile.name} after it")
        elif state == State.TIMER:
            selection.previous_profile = profile
            deferred["previous_profile"].append(selection)
            results[firing.pk] = Result(Outcome.DEFERRED, f"a timer runs; returns to {profile.name} when it ends")
        elif selection is not None and selection.profile_id == profile.pk:
            results[firing.pk] = Result(Outcome.SKIPPED_SAME, f"{profile.name} is already selected")
        else:
            switches[profile.owner_id] = firing
    for field, changed in deferred.items():
        bulk.bulk_update(Selection, changed, [field])
    if switches:
        last_values = _last_values_many(list(switches))
        outcomes = switch_profiles(
            [
                Switch(
                    user_id=user_id,
                    profile_id=firing.trigger.profile_id,
                    source_detail=trigger_detail(firing.trigger),
                    prompt_values=last_values.get(user_id, {}),
                )
                for user_id, firing in switches.items()
            ],
            source=Source.TRIGGER,
            reason="trigger",
            converge_batch=_converge_batch,
        )
        for user_id, firing in switches.items():
            results[firing.pk] = _switch_result(outcomes[user_id], firing.trigger.profile)
    for firing in firings:
        firing.outcome, firing.detail, firing.fired_at = (
            results[firing.pk].outcome,
            results[firing.pk].detail[:200],
            now,
        )
    bulk.bulk_update(TriggerFiring, firings, ["outcome", "detail", "fired_at"])
    return results


def _converge_batch(user_ids: list[int]) -> None:
    """Converge a batch of switched users in one task (profiles.tasks)."""
    from profiles.tasks import converge_switched

    converge_switched.delay(user_ids, "trigger")


def _switch_result(result: SwitchResult, profile: PresenceProfile) -> Result:
    if result.outcome == SwitchOutcome.SWITCHED:
        return Result(Outcome.APPLIED, f"switched to {profile.name}")
    if result.outcome == SwitchOutcome.STICKY:
        return Result(Outcome.SKIPPED_STICKY, "the current profile is sticky")
    if result.outcome == SwitchOutcome.DISABLED:
        return Result(Outcome.SKIPPED_DISABLED, "presence profiles are not enabled for this user")
    if result.outcome == SwitchOutcome.PROMPT_REQUIRED:
        return Result(
            Outcome.FAILED, f"{profile.name} asks for a value ({result.message}) and there is no earlier one to reuse"
        )
    return Result(Outcome.FAILED, result.message)


# --- clear-after ------------------------------------------------------------------


def clear_after(user_id: int, *, now: dt.datetime | None = None) -> Result:
    """Return the user to the profile before, if their timer has ended.
    Exactly once: the check runs under the user's lock, and the switch
    clears ``until``."""
    now = now or timezone.now()
    with transaction.atomic():
        account, selection = _lock(user_id)
        if selection is None or selection.until is None or selection.until > now:
            return Result("done", "no timer due")
        state = state_of(selection)
        if state == State.MEETING:
            return Result("deferred", "suspended during a meeting")
        target = selection.previous_profile
        if state == State.STICKY or target is None or account is None:
            # Sticky beats clear-after: the timer is dropped, the profile stays.
            Selection.objects.filter(pk=selection.pk).update(until=None)
            reason = "sticky" if state == State.STICKY else "nothing to return to"
            return Result(Outcome.SKIPPED_STICKY if state == State.STICKY else "dropped", reason)
        result = _switch(account.user, target, source=Source.CLEAR_AFTER, source_detail="timer ended")
        if result.outcome != Outcome.APPLIED:
            Selection.objects.filter(pk=selection.pk).update(until=None)
        return result


# --- meetings ---------------------------------------------------------------------


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
        account, selection = _lock(user_id)
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
        result = _switch(
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
        account, selection = _lock(user_id)
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
            return _switch(account.user, back, source=Source.CLEAR_AFTER, source_detail="timer ended during a meeting")
        if back is None:
            return Result("unchanged", "nothing to return to")
        return _switch(
            account.user,
            back,
            source=Source.MEETING_END,
            source_detail=f"meeting ({connector.name}) ended",
            until=selection.until,
            previous_profile=selection.until_profile if selection.until is not None else None,
        )
