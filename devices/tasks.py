"""Celery tasks: thin wrappers that take ids and call services.

Every task here is idempotent, so ``acks_late`` with ``reject_on_worker_lost``
(a task whose worker died is delivered again) is safe; tasks are enqueued on
commit by the services.
"""

from celery import shared_task

from devices import converge, services
from devices.drivers import TransientDriverError

MAX_RETRIES = 6
RELIABLE = {"acks_late": True, "reject_on_worker_lost": True}


@shared_task(bind=True, max_retries=MAX_RETRIES, **RELIABLE)
def converge_user(self, user_id: int, reason: str = "", force: bool = False):
    """Converge one user's devices to their latest target. Transient driver
    errors are retried with exponential backoff and full jitter, at most
    MAX_RETRIES times; then (or at once for a permanent error) the failure
    is recorded on the target and shown to the user. ``force``: converge
    even when the newest target is marked applied (after a superseded run,
    docs/rules.md#rule-15)."""
    final = self.request.retries >= self.max_retries
    outcome = converge.converge(user_id=user_id, reason=reason, final_attempt=final, only_pending=not force)
    if outcome is not None and outcome.superseded:
        # Superseded MAX_PASSES times in a row: once more, forced, after a
        # pause that lets the switches settle (docs/rules.md#rule-15).
        converge_user.apply_async((user_id, "superseded", True), countdown=converge.retry_delay(0))
    elif outcome is not None and outcome.transient and not final:
        countdown = converge.retry_delay(self.request.retries)
        # throw=False: a worker sends the retry as a new message either way;
        # returning the Retry lets an eager run (tests,
        # CELERY_TASK_ALWAYS_EAGER) run the retry in place instead of
        # raising it into the code that enqueued on commit.
        return self.retry(exc=TransientDriverError(outcome.run.error), countdown=countdown, throw=False)
    return outcome.result if outcome else "no target"


@shared_task(**RELIABLE)
def converge_users(
    user_ids: list[int], reason: str = "", force: bool = False, final: bool = False, passes: int = converge.MAX_PASSES
) -> int:
    """Converge users one by one; one that hits a transient error gets its
    own converge_user task, which owns the retries. ``final`` (the sweep's
    retry of failed targets): one attempt each, a failure is recorded and
    waits for the next step of the retry schedule. ``passes``: see
    converge.converge. Returns how many."""
    retrying = 0
    for user_id in dict.fromkeys(user_ids):
        outcome = converge.converge(
            user_id=user_id, reason=reason, final_attempt=final, only_pending=not force, passes=passes
        )
        if outcome is not None and outcome.superseded:
            retrying += 1
            converge_user.apply_async((user_id, "superseded", True), countdown=converge.retry_delay(0))
        elif outcome is not None and outcome.transient and not final:
            retrying += 1
            converge_user.apply_async((user_id, reason), countdown=converge.retry_delay(0), retries=1)
    return retrying


@shared_task(**RELIABLE)
def converge_batch(user_ids: list[int], reason: str = "") -> int:
    """Converge users switched together (time triggers at one minute) with
    one driver read/apply/verify for the batch (devices.converge.converge_many);
    whoever it leaves (a failed step, a shared extension) goes the per-user
    way in this task, and a user whose target moved on during the writes is
    converged again to the newest target. Idempotent like converge, so a
    redelivery is harmless. Returns how many users the batch converged."""
    left = converge.converge_many(user_ids, reason=reason)
    if left.pending:
        converge_users(left.pending, reason)
    if left.superseded:
        # The batch's pass was the first superseded one: the same budget of
        # MAX_PASSES in a row as a single converge, then a forced converge_user.
        converge_users(left.superseded, "superseded", force=True, passes=converge.MAX_PASSES - 1)
    return len(user_ids) - len(left.pending) - len(left.superseded)


@shared_task(**RELIABLE)
def sweep_pending() -> int:
    """Beat: re-enqueue applies left pending (no switch lost to a broker
    outage) and retry transiently failed ones whose time has come."""
    return len(services.sweep_pending())


@shared_task(**RELIABLE)
def reconcile_users(user_ids: list[int]) -> int:
    """Flag differences between devices and the applied profile (docs/rules.md#rule-5)."""
    return services.reconcile_users(user_ids)


@shared_task(**RELIABLE)
def reconcile_all() -> int:
    """Beat: reconcile everyone, one task per batch of users."""
    ids = services.user_ids_with_targets()
    for start in range(0, len(ids), services.BATCH_SIZE):
        reconcile_users.delay(ids[start : start + services.BATCH_SIZE])
    return len(ids)
