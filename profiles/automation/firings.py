"""Time triggers firing: act on the firings the due-scan claimed, in
batches, by the precedence rules (profiles.automation.precedence)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portal import bulk
from profiles.automation import acting
from profiles.automation.precedence import Decision, Outcome, Source, TriggerFired, decide
from profiles.models import Account, PresenceProfile, Selection, Trigger, TriggerFiring
from profiles.services import Switch, SwitchOutcome, SwitchResult, switch_profiles


def trigger_detail(trigger: Trigger) -> str:
    return f"time trigger at {trigger.time_of_day:%H:%M}"


def apply_firings(
    firing_ids: list[int],
    *,
    now: dt.datetime | None = None,
    converge: Callable[[list[int]], None] | None = None,
) -> dict[int, Decision]:
    """Act on claimed firings, each exactly once: the firing rows are locked
    and must still be pending; their outcomes are written in the same
    transaction as the switches, so a retried or duplicated batch finds them
    done. A constant number of queries per batch (switch_profiles);
    a user with two firings in one batch gets them one after the other.
    ``converge(user_ids)`` converges the switched users of a batch on
    commit (the task passes its batch converge task); without it the
    services enqueue the usual converges."""
    now = now or timezone.now()
    results: dict[int, Decision] = {}
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
) -> dict[int, Decision]:
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
        for s in Selection.objects.select_for_update(of=("self",))
        .select_related("profile", "previous_profile", "until_profile")
        .filter(user_id__in=owners)
    }
    results: dict[int, Decision] = {}
    remembered: dict[str, list[Selection]] = {"previous_profile": [], "until_profile": []}
    switches: dict[int, TriggerFiring] = {}
    for firing in firings:
        trigger, profile = firing.trigger, firing.trigger.profile
        selection = selections.get(profile.owner_id)
        state = acting.state_of(accounts.get(profile.owner_id), selection)
        event = TriggerFired(
            profile=acting.ref(profile),
            label=trigger_detail(trigger),
            scheduled_for=firing.scheduled_for,
            now=now,
            grace=grace,
            trigger_enabled=trigger.enabled,
        )
        decision = results[firing.pk] = decide(state, event)
        if decision.remember is not None:
            where, _ = decision.remember
            setattr(selection, where, profile)
            remembered[where].append(selection)
        elif decision.switch is not None:
            switches[profile.owner_id] = firing
    for where, changed in remembered.items():
        bulk.bulk_update(Selection, changed, [where])
    if switches:
        last_values = acting.last_values_many(list(switches))
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
            if not outcomes[user_id].switched:
                results[firing.pk] = _refusal(outcomes[user_id], firing.trigger.profile)
    for firing in firings:
        firing.outcome, firing.detail, firing.fired_at = (
            results[firing.pk].outcome,
            results[firing.pk].detail[:200],
            now,
        )
    bulk.bulk_update(TriggerFiring, firings, ["outcome", "detail", "fired_at"])
    return results


def _refusal(result: SwitchResult, profile: PresenceProfile) -> Decision:
    """The switching services' refusal of one switch as a Decision."""
    if result.outcome == SwitchOutcome.PROMPT_REQUIRED:
        return acting.prompt_failure(profile.name, result.message)
    return acting.refusal(result)
