"""Desired state, then converge: storing a user's target and driving the
devices to it through the PBX driver.

Talking to the PBX never happens inside a database transaction: converge()
reads the target, talks to the driver, then records the outcome.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

from django.db import transaction
from django.utils import timezone

from devices.drivers import DriverError, get_driver
from devices.models import ApplyRun, ApplyStep, Mismatch, TargetState
from devices.state import UserState, diff_user


def store_target(*, user_id: int, desired: UserState) -> int:
    """Store ``desired`` as the user's newest target version; returns the
    version. Must run inside the caller's transaction (the selection and
    its target commit together).

    Softphones released by a disconnect are carried into the new target
    while the previous target is still pending, so a quick switch after a
    disconnect does not forget to clear them.
    """
    target, _ = TargetState.objects.select_for_update().get_or_create(user_id=user_id)
    state = desired.to_json()
    if target.status == TargetState.Status.PENDING and target.state:
        previous = target.state.get("extensions", {})
        for number, value in previous.items():
            state["extensions"].setdefault(number, value)
    target.version += 1
    target.state = state
    target.status = TargetState.Status.PENDING
    target.error = ""
    target.error_permanent = False
    target.save(update_fields=["version", "state", "status", "error", "error_permanent", "updated_at"])
    return target.version


def enqueue_converge(user_id: int, *, reason: str = "") -> None:
    """Converge the user's devices after the current transaction commits."""
    from devices.tasks import converge_user

    collected = getattr(_collecting, "user_ids", None)
    if collected is not None:
        transaction.on_commit(lambda: collected.append(user_id))
        return
    transaction.on_commit(lambda: converge_user.delay(user_id, reason))


_collecting = threading.local()


@contextmanager
def collect_converges():
    """Inside this block enqueue_converge collects user ids (once their
    transaction commits) instead of sending one task each; the caller, a
    batch task, converges them itself. 10,000 users switched by triggers
    at one minute then cost ~20 tasks, not 10,000."""
    previous = getattr(_collecting, "user_ids", None)
    _collecting.user_ids = collected = []
    try:
        yield collected
    finally:
        _collecting.user_ids = previous


class ConvergeOutcome:
    def __init__(self, run: ApplyRun, transient: bool = False):
        self.run = run
        self.transient = transient


def converge(*, user_id: int, reason: str = "", final_attempt: bool = True) -> ConvergeOutcome | None:
    """Read actual, diff against the latest target, send only the
    differences, record the run and each step. Idempotent: running it again
    when the devices already match sends nothing.

    Returns None when the user has no target. ``final_attempt=False`` lets a
    transient failure stay pending (the task retries); on the final attempt
    it is recorded as failed.
    """
    target = TargetState.objects.filter(user_id=user_id).first()
    if target is None:
        return None
    version = target.version
    desired = UserState.from_json(target.state)
    started_at = timezone.now()
    clock = time.perf_counter()
    driver = get_driver()
    steps = []
    error, transient = "", False
    try:
        actual = UserState(extensions=driver.read(sorted(desired.extensions)))
        commands = diff_user(actual, desired)
        steps = driver.apply(commands)
    except DriverError as exc:
        error, transient = str(exc), exc.transient
    failed = next((s for s in steps if not s.ok), None)
    if failed is not None:
        error, transient = failed.error, failed.transient
    duration_ms = int((time.perf_counter() - clock) * 1000)

    if error and transient and not final_attempt:
        result = ApplyRun.Result.RETRYING
    elif error:
        result = ApplyRun.Result.FAILED
    elif steps:
        result = ApplyRun.Result.APPLIED
    else:
        result = ApplyRun.Result.NOTHING

    with transaction.atomic():
        if result in (ApplyRun.Result.APPLIED, ApplyRun.Result.NOTHING):
            # Conditional: a newer target committed meanwhile stays pending
            # for its own task.
            updated = TargetState.objects.filter(user_id=user_id, version=version).update(
                status=TargetState.Status.APPLIED,
                applied_version=version,
                applied_state=target.state,
                error="",
                error_permanent=False,
                updated_at=timezone.now(),
            )
            if not updated:
                result = ApplyRun.Result.SUPERSEDED
            else:
                Mismatch.objects.filter(user_id=user_id).delete()
        elif result == ApplyRun.Result.FAILED:
            TargetState.objects.filter(user_id=user_id, version=version).update(
                status=TargetState.Status.FAILED, error=error, error_permanent=not transient, updated_at=timezone.now()
            )
        run = ApplyRun.objects.create(
            user_id=user_id,
            target_version=version,
            reason=reason[:32],
            started_at=started_at,
            duration_ms=duration_ms,
            result=result,
            error=error,
        )
        ApplyStep.objects.bulk_create(
            ApplyStep(
                run=run,
                position=i,
                extension=s.command.extension,
                op=s.command.op,
                args=s.command.args,
                description=s.command.describe()[:200],
                ok=s.ok,
                error=s.error,
                duration_ms=s.duration_ms,
            )
            for i, s in enumerate(steps)
        )
    return ConvergeOutcome(run, transient=bool(error) and transient)


def retry_delay(retries: int, *, base: float = 1.0, cap: float = 60.0) -> float:
    """Exponential backoff with full jitter: a random delay up to base·2^n, capped."""
    import random

    return random.uniform(0, min(cap, base * (2**retries)))
