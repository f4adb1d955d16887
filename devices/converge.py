"""Converge: drive users' devices to their newest target
(docs/architecture.md#converge).

A pass (``_converge_pass``, the one implementation) reads the devices of a
batch of users through the driver, diffs against their targets, sends only
the differences in one apply and finds what still differs: from the state
the driver reports its apply left (the simulated PBX), or else by one
verify read. ``converge_many`` is a batch; ``converge`` the one-item call of
the same pass. Every pass hands what it did to the one recorder,
``record_attempts``: the ApplyRun with one ApplyStep per command sent, the
target's status, the mismatches, and a superseded target. Reads and writes
are plain rows, no model instances (a batch has hundreds of users).

Superseded (docs/rules.md#rule-15): a pass whose target got a newer version
while it talked to the PBX may have written stale values after the newer
version's own converge read the devices. Its run is recorded as superseded,
with every command it sent, and the user is converged again to the newest
target, even when that one is already marked applied.

No device I/O happens inside a transaction of ours.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from devices.drivers import DriverError, StepResult, get_driver
from devices.models import ApplyRun, ApplyStep, Mismatch, TargetState
from devices.selectors import command_names
from devices.state import NO_NAMES, OPS, Command, CommandNames, UserState, diff_user, one_language
from live import publish as live
from portal import bulk

# A converge superseded this many times in a row (switches keep coming while
# it writes) stops; the task enqueues one forced converge_user after
# retry_delay(0), which has the same budget (docs/rules.md#rule-15). A batch
# converge's pass counts as the first of the user's passes.
MAX_PASSES = 3
NOTHING_PENDING = "nothing pending"
Result = ApplyRun.Result


# --- recording ---------------------------------------------------------------------------


@dataclass
class Attempt:
    """What one pass did for one user, before it is recorded."""

    user_id: int
    version: int  # the target version the pass converged to
    started_at: datetime
    duration_ms: int = 0
    steps: list[StepResult] = field(default_factory=list)  # every command tried, in order
    remaining: list[Command] = field(default_factory=list)  # what still differs after the writes
    error: str = ""
    transient: bool = False


@dataclass(frozen=True)
class RecordedRun:
    """An ApplyRun as recorded (its id and what the callers read of it)."""

    pk: int
    user_id: int
    result: str
    error: str


def record_attempts(attempts: list[Attempt], *, reason: str, final_attempt: bool) -> dict[int, RecordedRun]:
    """Record each attempt's run and steps and move its target on, in one
    transaction and a constant number of queries whatever the number of
    users (plus one UPDATE per failed user). The result of each run:

    - superseded: the target's version moved on during the pass; the target
      is left alone and the caller converges the user again (not only
      pending), whatever else happened;
    - failed / retrying (transient error, not the final attempt): the target
      is marked failed, or stays pending for the retry;
    - applied / nothing: the target is applied and the mismatches replaced
      by what the verify read found (docs/rules.md#rule-5).

    Runs and steps are written as plain rows (portal.bulk.insert_rows), no
    model instances. Returns user id -> RecordedRun."""
    if not attempts:
        return {}
    now = timezone.now()
    with transaction.atomic():
        locked = (
            TargetState.objects.select_for_update()
            .filter(bulk.any_of("user_id", [a.user_id for a in attempts]))
            .order_by("pk")
            .values_list("user_id", "version", "retry_count")
        )
        current = {uid: version for uid, version, _ in locked}
        retry_counts = {uid: count for uid, _, count in locked}
        results: dict[int, str] = {}
        for a in attempts:
            if current.get(a.user_id) != a.version:
                results[a.user_id] = Result.SUPERSEDED
            elif a.error:
                results[a.user_id] = Result.RETRYING if a.transient and not final_attempt else Result.FAILED
            else:
                results[a.user_id] = Result.APPLIED if a.steps else Result.NOTHING
        done = [a for a in attempts if results[a.user_id] in (Result.APPLIED, Result.NOTHING)]
        if done:
            # The rows are locked at these versions: their state is what was converged to.
            TargetState.objects.filter(bulk.any_of("user_id", [a.user_id for a in done])).update(
                status=TargetState.Status.APPLIED,
                applied_version=F("version"),
                applied_state=F("state"),
                error="",
                error_permanent=False,
                retry_count=0,
                retry_at=None,
                updated_at=now,
            )
            replace_mismatches({a.user_id: a.remaining for a in done}, now)
        failed = [a for a in attempts if results[a.user_id] == Result.FAILED]
        if failed:
            # Mismatches found against an earlier target would describe the
            # wrong difference (say "turn DND off" while this profile turns it
            # on): keep only what differs from the target that failed.
            replace_mismatches({a.user_id: a.remaining for a in failed}, now)
        for a in attempts:
            if results[a.user_id] not in (Result.FAILED, Result.RETRYING):
                continue
            target = TargetState.objects.filter(user_id=a.user_id)
            if results[a.user_id] == Result.FAILED:
                # A transient failure is not the end: the sweep tries again
                # at retry_at (services.retry_failed). A permanent one waits
                # for an administrator.
                target.update(
                    status=TargetState.Status.FAILED,
                    error=a.error,
                    error_permanent=not a.transient,
                    retry_at=now + failed_retry_delay(retry_counts.get(a.user_id, 0)) if a.transient else None,
                    updated_at=now,
                )
            elif results[a.user_id] == Result.RETRYING:
                # Still pending; touching updated_at keeps the sweep from
                # enqueueing a duplicate while the task backs off.
                target.update(error=f"retrying: {a.error}", updated_at=now)
        run_ids = bulk.insert_rows(
            ApplyRun,
            ["user", "target_version", "reason", "started_at", "duration_ms", "result", "error"],
            [
                (a.user_id, a.version, reason[:32], a.started_at, a.duration_ms, results[a.user_id], a.error)
                for a in attempts
            ],
        )
        live.publish(
            [
                (
                    live.APPLY,
                    a.user_id,
                    {
                        "status": _STATUS_AFTER[results[a.user_id]],
                        "result": results[a.user_id],
                        "version": a.version,
                        "error": a.error,
                    },
                )
                for a in attempts
            ]
        )
        names = command_names(s.command for a in attempts for s in a.steps)
        with one_language():
            steps = [
                row for run_id, a in zip(run_ids, attempts, strict=True) for row in step_values(run_id, a.steps, names)
            ]
        bulk.insert_rows(
            ApplyStep,
            ["run", "position", "extension", "op", "args", "description", "ok", "error", "duration_ms"],
            steps,
        )
    return {
        a.user_id: RecordedRun(pk=run_id, user_id=a.user_id, result=results[a.user_id], error=a.error)
        for run_id, a in zip(run_ids, attempts, strict=True)
    }


# The target's status after a run with this result (what My presence shows).
_STATUS_AFTER = {
    Result.APPLIED: TargetState.Status.APPLIED,
    Result.NOTHING: TargetState.Status.APPLIED,
    Result.FAILED: TargetState.Status.FAILED,
    Result.RETRYING: TargetState.Status.PENDING,
    Result.SUPERSEDED: TargetState.Status.PENDING,
}


def step_values(run_id: int, steps, names: CommandNames = NO_NAMES) -> list[tuple]:
    """One run's driver steps as ApplyStep rows (plain values), in order."""
    return [
        (
            run_id,
            i,
            s.command.extension,
            s.command.op,
            s.command.args,
            s.command.describe(names)[:200],
            s.ok,
            s.error,
            s.duration_ms,
        )
        for i, s in enumerate(steps)
    ]


# --- one user -----------------------------------------------------------------------------


class ConvergeOutcome:
    """``run`` is None when nothing was pending (the devices were not touched)."""

    def __init__(self, run: RecordedRun | None, transient: bool = False):
        self.run = run
        self.transient = transient

    @property
    def result(self) -> str:
        return self.run.result if self.run is not None else NOTHING_PENDING

    @property
    def superseded(self) -> bool:
        return self.run is not None and self.run.result == Result.SUPERSEDED


def converge(
    *,
    user_id: int,
    reason: str = "",
    final_attempt: bool = True,
    only_pending: bool = False,
    passes: int = MAX_PASSES,
) -> ConvergeOutcome | None:
    """Converge one user's devices to their newest target and record it.
    Idempotent: running it again when the devices already match sends
    nothing. Returns None when the user has no target.

    ``only_pending`` (the tasks): when the newest target is already applied,
    do not touch the devices at all (the result is NOTHING_PENDING): a
    duplicate or redelivered task must not overwrite a change made at a
    handset since the apply (docs/rules.md#rule-4).

    ``final_attempt=False`` lets a transient failure stay pending (the task
    retries); on the final attempt it is recorded as failed.

    A superseded pass converges again at once, not only pending: at most
    ``passes`` passes in all (MAX_PASSES; fewer when a batch pass was the
    first). The result is still superseded after that, and the caller (the
    task) enqueues one forced converge (docs/rules.md#rule-15)."""
    outcome = None
    for _pass in range(max(passes, 1)):
        outcome = _converge_once(user_id=user_id, reason=reason, final_attempt=final_attempt, only_pending=only_pending)
        if outcome is None or not outcome.superseded:
            break
        reason, only_pending = "superseded", False
    return outcome


def _converge_once(*, user_id: int, reason: str, final_attempt: bool, only_pending: bool) -> ConvergeOutcome | None:
    """One pass for one user: the one-item call of the batch pass."""
    done = _converge_pass([user_id], reason=reason, final_attempt=final_attempt, only_pending=only_pending)
    if user_id in done.nothing_pending:
        return ConvergeOutcome(None)
    if user_id not in done.runs:
        return None  # no target (a lone user never shares an extension nor goes unreached)
    run = done.runs[user_id]
    return ConvergeOutcome(run, transient=user_id in done.transient and run.result != Result.SUPERSEDED)


# After a converge task used up its own retries (minutes at most), the sweep
# tries a transiently failed target again after these delays, then every
# last one forever: an outage of any length heals by itself.
FAILED_RETRY_SCHEDULE = (
    timedelta(minutes=1),
    timedelta(minutes=2),
    timedelta(minutes=5),
    timedelta(minutes=10),
    timedelta(minutes=30),
)


def failed_retry_delay(retry_count: int) -> timedelta:
    """How long a transiently failed target waits before its next sweep retry."""
    return FAILED_RETRY_SCHEDULE[min(retry_count, len(FAILED_RETRY_SCHEDULE) - 1)]


def retry_delay(retries: int, *, base: float = 1.0, cap: float = 60.0) -> float:
    """Exponential backoff with full jitter: a random delay up to base·2^n, capped."""
    return random.uniform(0, min(cap, base * (2**retries)))


# --- a batch of users ------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchLeft:
    """Who a batch converge leaves to the per-user converge."""

    pending: list[int]  # a shared extension, a transient failure, or not reached: converge (only pending)
    superseded: list[int]  # the target moved on during the writes: converge again, not only pending


def converge_many(user_ids: list[int], *, reason: str = "") -> BatchLeft:
    """Converge a batch of users with one pass (``_converge_pass``): one
    driver read, one apply and, where the driver cannot tell what its apply
    left, one verify read. Used where hundreds of users switch together
    (time triggers at one minute: bench/triggers.py). Users who share an
    extension with another user of the batch, users the driver did not reach
    (it stops at the first failed command) and transient failures are left
    to the per-user converge; only pending targets are touched, as
    converge(only_pending=True): a redelivered batch must not overwrite a
    handset change made since the apply."""
    done = _converge_pass(list(user_ids), reason=reason, final_attempt=False, only_pending=True)
    retrying = {uid for uid, run in done.runs.items() if run.result == Result.RETRYING}
    return BatchLeft(
        pending=sorted(done.left | retrying),
        superseded=sorted(uid for uid, run in done.runs.items() if run.result == Result.SUPERSEDED),
    )


@dataclass
class PassDone:
    runs: dict[int, RecordedRun] = field(default_factory=dict)  # recorded attempts
    nothing_pending: set[int] = field(default_factory=set)  # target already applied (only_pending)
    left: set[int] = field(default_factory=set)  # shared extension or not reached: untouched, not recorded
    transient: set[int] = field(default_factory=set)  # failed with a transient error


def _converge_pass(user_ids: list[int], *, reason: str, final_attempt: bool, only_pending: bool) -> PassDone:
    """The one converge: drive these users' devices to their newest targets
    with one driver read, one apply (the batch's commands in order) and a
    verify read only when the driver does not report the state its apply
    left (the simulated PBX does), then record every attempt in one
    record_attempts. Targets are read as plain rows. Users without a target
    are absent from the result."""
    done = PassDone()
    targets: dict[int, tuple[int, UserState]] = {}
    for uid, version, status, applied_version, state in _read_targets(user_ids):
        if only_pending and status == TargetState.Status.APPLIED and applied_version == version:
            done.nothing_pending.add(uid)
        else:
            targets[uid] = (version, state)
    owners = Counter(n for _, desired in targets.values() for n in desired.extensions)
    batch = [uid for uid in user_ids if uid in targets and all(owners[n] == 1 for n in targets[uid][1].extensions)]
    done.left = set(targets) - set(batch)
    if not batch:
        return done
    started_at = timezone.now()
    clock = time.perf_counter()
    attempts = {uid: Attempt(user_id=uid, version=targets[uid][0], started_at=started_at) for uid in batch}
    driver = get_driver()
    try:
        actual = driver.read(sorted({n for uid in batch for n in targets[uid][1].extensions}))
        commands = {uid: diff_user(_user_state(actual, targets[uid][1]), targets[uid][1]) for uid in batch}
        steps = iter(driver.apply([c for uid in batch for c in commands[uid]]))
    except DriverError as exc:
        for attempt in attempts.values():
            attempt.error, attempt.transient = str(exc), exc.transient
    else:
        for uid in batch:
            mine = list(islice(steps, len(commands[uid])))
            if commands[uid] and not mine:
                done.left.add(uid)  # not reached: the driver stopped at an earlier failure
                del attempts[uid]
                continue
            attempt = attempts[uid]
            attempt.steps = mine
            failed = next((s for s in mine if not s.ok), None)
            if failed is not None:
                attempt.error, attempt.transient = failed.error, failed.transient
        # Failed attempts are read too: their mismatches must describe what
        # differs from this target, not from the one before.
        verify = [uid for uid, a in attempts.items() if a.steps]
        try:
            after = _after_apply(driver, actual, sorted({n for uid in verify for n in targets[uid][1].extensions}))
        except DriverError as exc:
            for uid in verify:
                if not attempts[uid].error:
                    attempts[uid].error, attempts[uid].transient = str(exc), exc.transient
        else:
            for uid in verify:
                attempts[uid].remaining = diff_user(_user_state(after, targets[uid][1]), targets[uid][1])
    duration_ms = int((time.perf_counter() - clock) * 1000 / max(len(attempts), 1))
    for attempt in attempts.values():
        attempt.duration_ms = duration_ms
    done.transient = {uid for uid, a in attempts.items() if a.error and a.transient}
    done.runs = record_attempts(list(attempts.values()), reason=reason, final_attempt=final_attempt)
    return done


# Targets a switch of this task stored just before, as it stored them: user
# id -> (version, desired state). See known_targets.
_known: ContextVar[dict[int, tuple[int, UserState]] | None] = ContextVar("known_targets", default=None)


@contextmanager
def known_targets(targets: dict[int, tuple[int, UserState]]) -> Iterator[None]:
    """Converges inside take these targets (user id -> the version and
    desired state a switch has just stored and committed) without reading
    and decoding their states again: a batch converge right after a trigger
    batch's switch (profiles.services.switching) reads a thousand. The
    version, status and applied version are still read, and a target whose
    version moved on since is read whole, as without this."""
    token = _known.set(targets)
    try:
        yield
    finally:
        _known.reset(token)


def _read_targets(user_ids: list[int]) -> list[tuple[int, int, str, int, UserState]]:
    """(user id, version, status, applied version, desired state) of the
    users' targets, read as plain rows."""
    known = _known.get() or {}
    rows = []
    held = [uid for uid in user_ids if uid in known]
    unknown = [uid for uid in user_ids if uid not in known]
    if held:
        for uid, version, status, applied_version in TargetState.objects.filter(
            bulk.any_of("user_id", held)
        ).values_list("user_id", "version", "status", "applied_version"):
            if known[uid][0] == version:
                rows.append((uid, version, status, applied_version, known[uid][1]))
            else:
                unknown.append(uid)
    if unknown:
        for uid, version, status, applied_version, state in TargetState.objects.filter(
            bulk.any_of("user_id", unknown)
        ).values_list("user_id", "version", "status", "applied_version", "state"):
            rows.append((uid, version, status, applied_version, UserState.from_json(state)))
    return rows


def _after_apply(driver, actual: dict, numbers: list[str]) -> dict:
    """The devices' state after the apply: what the driver reports its apply
    left (``applied_states``, the simulated PBX: written under its lock)
    over what was read before, or else a verify read."""
    if not numbers:
        return {}
    applied = getattr(driver, "applied_states", None)
    if applied is not None:
        return {**actual, **applied}
    return driver.read(numbers)


def _user_state(states: dict, desired: UserState) -> UserState:
    return UserState(extensions=_subset(states, desired))


def _subset(states: dict, desired: UserState) -> dict:
    return {n: states[n] for n in desired.extensions if n in states}


# --- mismatches (docs/rules.md#rule-5) ----------------------------------------------------------


def replace_mismatches(found: dict[int, list[Command]], now) -> None:
    """Make the users' Mismatch rows equal ``found`` (user id -> commands that
    would fix their devices), keeping rows that are still true so their
    detection time means something. Three queries whatever the number of
    users. Never touches a device (docs/rules.md#rule-4)."""
    if not found:
        return
    existing = list(Mismatch.objects.filter(bulk.any_of("user_id", found)))
    names = command_names(c for commands in found.values() for c in commands)
    wanted = {(uid, c.extension, c.op, _key(c.args)): c for uid, commands in found.items() for c in commands}
    keep = set()
    stale = []
    for row in existing:
        key = (row.user_id, row.extension, row.op, _key(row.args))
        if key in wanted and key not in keep:
            keep.add(key)
        else:
            stale.append(row.pk)
    if stale:
        Mismatch.objects.filter(pk__in=stale).delete()
    new = [
        Mismatch(
            user_id=key[0],
            extension=c.extension,
            op=c.op,
            args=c.args,
            description=_mismatch_text(c, names)[:200],
            detected_at=now,
        )
        for key, c in wanted.items()
        if key not in keep
    ]
    if new:
        Mismatch.objects.bulk_create(new)
    gone = set(stale)
    changed = {key[0] for key in wanted if key not in keep} | {row.user_id for row in existing if row.pk in gone}
    live.publish([(live.MISMATCH, uid, {"count": sum(1 for k in wanted if k[0] == uid)}) for uid in sorted(changed)])


def _key(args: dict) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in args.items()))


def _mismatch_text(command: Command, names: CommandNames) -> str:
    """What differs, for people: the command's description says what a
    re-apply would do."""
    return _("Differs from your profile; re-applying would %(change)s") % {
        "change": OPS[command.op].describe(command.args, names) if command.op in OPS else command.op
    }
