"""Converge many users at once: what devices.services.converge does per
user, with one driver read, one apply and one verify read for the whole
batch and a constant number of queries to record the outcome.

Used where hundreds of users switch together (time triggers at one minute:
bench/triggers.py). The per-user converge stays the reference: any user
whose batch step failed, whose target changed meanwhile or who shares an
extension with another user of the batch is handed to it, so errors,
retries and superseded targets keep their one implementation.
"""

from __future__ import annotations

import time
from collections import Counter

from django.db import transaction
from django.utils import timezone

from devices import services
from devices.drivers import DriverError, get_driver
from devices.models import ApplyRun, ApplyStep, TargetState
from devices.state import UserState, diff_user
from portal import bulk


def converge_many(user_ids: list[int], *, reason: str = "") -> list[int]:
    """Converge ``user_ids``; returns the users left to the per-user path
    (the caller runs services.converge or enqueues converge_user for them).
    Device I/O happens outside any transaction."""
    # Only pending targets, as the tasks' converge(only_pending=True): a
    # redelivered batch must not overwrite a handset change made since the
    # apply (rule 4).
    targets = {
        t.user_id: t
        for t in TargetState.objects.filter(user_id__in=list(user_ids))
        if not (t.status == TargetState.Status.APPLIED and t.applied_version == t.version)
    }
    desired = {uid: UserState.from_json(t.state) for uid, t in targets.items()}
    owners = Counter(n for state in desired.values() for n in state.extensions)
    shared = {uid for uid, state in desired.items() if any(owners[n] > 1 for n in state.extensions)}
    batch = [uid for uid in desired if uid not in shared]
    if not batch:
        return sorted(shared)
    started_at = timezone.now()
    clock = time.perf_counter()
    driver = get_driver()
    numbers = sorted({n for uid in batch for n in desired[uid].extensions})
    try:
        actual = driver.read(numbers)
        commands = {uid: diff_user(UserState(extensions=_subset(actual, desired[uid])), desired[uid]) for uid in batch}
        steps = driver.apply([c for uid in batch for c in commands[uid]])
        if any(not s.ok for s in steps) or len(steps) != sum(len(c) for c in commands.values()):
            # A step failed (the driver stops at the first failure): the
            # per-user path records and retries it. For users whose commands
            # went through it finds nothing left to send and records that.
            return sorted(set(desired))
        changed = [n for uid in batch if commands[uid] for n in desired[uid].extensions]
        after = driver.read(sorted(set(changed))) if changed else {}
    except DriverError:
        return sorted(set(desired))
    duration_ms = int((time.perf_counter() - clock) * 1000 / max(len(batch), 1))

    step_iter = iter(steps)
    steps_by_user = {uid: [next(step_iter) for _ in commands[uid]] for uid in batch}
    remaining = {
        uid: diff_user(UserState(extensions=_subset(after, desired[uid])), desired[uid]) if commands[uid] else []
        for uid in batch
    }
    now = timezone.now()
    left = set(shared)
    with transaction.atomic():
        current = {
            uid: version
            for uid, version in TargetState.objects.select_for_update()
            .filter(user_id__in=batch)
            .values_list("user_id", "version")
        }
        fresh = [uid for uid in batch if current.get(uid) == targets[uid].version]
        left |= set(batch) - set(fresh)  # superseded: the per-user path converges the newer target
        for uid in fresh:
            target = targets[uid]
            target.status = TargetState.Status.APPLIED
            target.applied_version = target.version
            target.applied_state = target.state
            target.error = ""
            target.error_permanent = False
            target.updated_at = now
        bulk.bulk_update(
            TargetState,
            [targets[uid] for uid in fresh],
            ["status", "applied_version", "applied_state", "error", "error_permanent", "updated_at"],
        )
        services._replace_mismatches({uid: remaining[uid] for uid in fresh}, now)
        runs = ApplyRun.objects.bulk_create(
            ApplyRun(
                user_id=uid,
                target_version=targets[uid].version,
                reason=reason[:32],
                started_at=started_at,
                duration_ms=duration_ms,
                result=ApplyRun.Result.APPLIED if steps_by_user[uid] else ApplyRun.Result.NOTHING,
            )
            for uid in fresh
        )
        ApplyStep.objects.bulk_create(
            row for run in runs for row in services.step_rows(run, steps_by_user[run.user_id])
        )
    return sorted(left)


def _subset(states: dict, desired: UserState) -> dict:
    return {n: states[n] for n in desired.extensions if n in states}
