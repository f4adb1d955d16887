"""Time triggers firing: act on the firings the due-scan claimed, in
batches, by the precedence rules (profiles.automation.precedence)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portal import bulk
from profiles.automation import acting
from profiles.automation.precedence import Decision, Outcome, Ref, Source, TriggerFired, UserState, decide
from profiles.models import Account, Selection, TriggerFiring
from profiles.services import Switch, SwitchOutcome, SwitchResult, switch_profiles


def _detail(time_of_day: dt.time) -> str:
    return f"time trigger at {time_of_day:%H:%M}"


@dataclass(frozen=True)
class _Firing:
    """A claimed firing as the batch reads it: plain values, no model rows."""

    pk: int
    scheduled_for: dt.datetime
    time_of_day: dt.time
    trigger_enabled: bool
    profile: Ref
    owner_id: int


_FIRING_FIELDS = (
    "pk",
    "scheduled_for",
    "trigger__time_of_day",
    "trigger__enabled",
    "trigger__profile_id",
    "trigger__profile__name",
    "trigger__profile__sticky",
    "trigger__profile__owner_id",
)


def apply_firings(
    firing_ids: list[int],
    *,
    now: dt.datetime | None = None,
    converge: Callable[[list[int]], None] | None = None,
) -> dict[int, Decision]:
    """Act on claimed firings, each exactly once: the firing rows are locked
    and must still be pending; their outcomes are written in the same
    transaction as the switches, so a retried or duplicated batch finds them
    done. A constant number of queries per batch (switch_profiles), reading
    and writing plain rows; a user with two firings in one batch gets them
    one after the other. ``converge(user_ids)`` converges the switched users
    of a batch on commit (the task passes its batch converge task); without
    it the services enqueue the usual converges."""
    now = now or timezone.now()
    results: dict[int, Decision] = {}
    remaining = list(firing_ids)
    while remaining:
        with transaction.atomic():
            firings = [
                _Firing(pk, scheduled_for, time_of_day, enabled, Ref(profile_id, name, sticky), owner_id)
                for pk, scheduled_for, time_of_day, enabled, profile_id, name, sticky, owner_id in (
                    TriggerFiring.objects.select_for_update(of=("self",))
                    .filter(bulk.any_of("pk", remaining), outcome=Outcome.PENDING)
                    .order_by("scheduled_for", "pk")
                    .values_list(*_FIRING_FIELDS)
                )
            ]
            first_per_user: dict[int, _Firing] = {}
            for firing in firings:
                first_per_user.setdefault(firing.owner_id, firing)
            batch = list(first_per_user.values())
            results.update(_fire_batch(batch, now, converge))
        # A user's second firing in this batch waits for the next round.
        later = {f.pk for f in firings} - {f.pk for f in batch}
        remaining = [pk for pk in remaining if pk in later]
    return results


def _fire_batch(
    firings: list[_Firing], now: dt.datetime, converge: Callable[[list[int]], None] | None
) -> dict[int, Decision]:
    if not firings:
        return {}
    grace = dt.timedelta(minutes=settings.TRIGGER_GRACE_MINUTES)
    owners = [f.owner_id for f in firings]
    enabled = dict(
        Account.objects.select_for_update(of=("self",))
        .filter(bulk.any_of("user_id", owners))
        .order_by("pk")
        .values_list("user_id", "client_profile__presence_profiles_enabled")
    )
    selections = {row[0]: row[1:] for row in _locked_selections(owners)}
    results: dict[int, Decision] = {}
    remembered: dict[str, dict[int, int]] = {"previous_profile": {}, "until_profile": {}}
    switches: dict[int, _Firing] = {}
    for firing in firings:
        event = TriggerFired(
            profile=firing.profile,
            label=_detail(firing.time_of_day),
            scheduled_for=firing.scheduled_for,
            now=now,
            grace=grace,
            trigger_enabled=firing.trigger_enabled,
        )
        decision = results[firing.pk] = decide(_state(enabled, selections, firing.owner_id), event)
        if decision.remember is not None:
            where, _ = decision.remember
            if firing.owner_id in selections:
                remembered[where][selections[firing.owner_id][0]] = firing.profile.id
        elif decision.switch is not None:
            switches[firing.owner_id] = firing
    for where, changed in remembered.items():
        bulk.update_rows(Selection, list(changed), {where: list(changed.values())})
    if switches:
        last_values = acting.last_values_many(list(switches))
        outcomes = switch_profiles(
            [
                Switch(
                    user_id=user_id,
                    profile_id=firing.profile.id,
                    source_detail=_detail(firing.time_of_day),
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
                results[firing.pk] = _refusal(outcomes[user_id], firing.profile.name)
    pks = [f.pk for f in firings]
    bulk.update_rows(
        TriggerFiring,
        pks,
        {
            "outcome": [results[pk].outcome for pk in pks],
            "detail": [results[pk].detail[:200] for pk in pks],
            "fired_at": [now] * len(pks),
        },
    )
    return results


def _locked_selections(user_ids: list[int]):
    """(user id, selection id, profile id, name, sticky, source, until,
    previous id, name, sticky, until-profile id, name, sticky), locked."""
    return (
        Selection.objects.select_for_update(of=("self",))
        .filter(bulk.any_of("user_id", user_ids))
        .values_list(
            "user_id",
            "pk",
            "profile_id",
            "profile__name",
            "profile__sticky",
            "source",
            "until",
            "previous_profile_id",
            "previous_profile__name",
            "previous_profile__sticky",
            "until_profile_id",
            "until_profile__name",
            "until_profile__sticky",
        )
    )


def _state(enabled: dict[int, bool], selections: dict[int, tuple], user_id: int) -> UserState:
    """What acting.state_of says, from the plain rows."""
    on = bool(enabled.get(user_id))
    row = selections.get(user_id)
    if row is None:
        return UserState(enabled=on)
    _pk, pid, name, sticky, source, until, prev_id, prev_name, prev_sticky, until_id, until_name, until_sticky = row
    return UserState(
        enabled=on,
        profile=Ref(pid, name, sticky) if pid is not None else None,
        source=source,
        until=until,
        previous=Ref(prev_id, prev_name, prev_sticky) if prev_id else None,
        until_profile=Ref(until_id, until_name, until_sticky) if until_id else None,
    )


def _refusal(result: SwitchResult, profile_name: str) -> Decision:
    """The switching services' refusal of one switch as a Decision."""
    if result.outcome == SwitchOutcome.PROMPT_REQUIRED:
        return acting.prompt_failure(profile_name, result.message)
    return acting.refusal(result)
