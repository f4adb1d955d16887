"""Celery tasks: thin wrappers that take ids and call services."""

from celery import shared_task

from devices import services
from devices.drivers import TransientDriverError

MAX_RETRIES = 6


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def converge_user(self, user_id: int, reason: str = "") -> str:
    """Converge one user's devices to their latest target. Idempotent, so a
    redelivery after a worker crash is harmless. Transient driver errors are
    retried with exponential backoff and jitter, bounded."""
    final = self.request.retries >= self.max_retries
    outcome = services.converge(user_id=user_id, reason=reason, final_attempt=final)
    if outcome is not None and outcome.transient and not final:
        countdown = services.retry_delay(self.request.retries)
        raise self.retry(exc=TransientDriverError(outcome.run.error), countdown=countdown)
    return outcome.run.result if outcome else "no target"
