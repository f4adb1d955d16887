"""Time triggers firing: act on the firings the due-scan claimed, in
batches, by the precedence rules (profiles.automation.precedence)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portal import bulk
from profiles.automation.precedence import Outcome, Result, Source, State, last_values_many, state_of
from profiles.models import Account, PresenceProfile, Selection, Trigger, TriggerFiring
from profiles.services import Switch, SwitchOutcome, SwitchResult, switch_profiles


def trigger_detail(trigger: Trigger) -> str:
    return f"time trigger at {trigger.time_of_day:%H:%M}"


def apply_firings(
    firing_ids: list[int],
    *,
    now: dt.datetime | None = None,
    converge: Callable[[list[int]], None] | None = None,
) -> dict[int, Result]:
    """Act on claimed firings, each exactly once: the firing rows are locked
    and must still be pending; their outcomes are written in the same
    transaction as the switches, so a retried or duplicated batch finds them
    done. A constant number of queries per batch (switch_profiles);
    a user with two firings in one batch gets them one after the other.
    ``converge(user_ids)`` converges the switched users of a batch on
    commit (the task passes its batch converge task); without it the
    services enqueue the usual converges."""
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
            results.update(_fire_batch(batch, now, converge))
        # A user's second firing in this batch waits for the next round.
        later = {f.pk for f in firings} - {f.pk for f in batch}
        remaining = [pk for pk in remaining if pk in later]
    return results


def _fire_batch(
    firings: list[TriggerFiring], now: dt.datetime, converge: Callable[[list[int]], None] | None
) -> dict[int, Result]:
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
        last_values = last_values_many(list(switches))
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
            converge_batch=converge,
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
