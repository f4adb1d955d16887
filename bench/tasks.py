"""Tasks only the benches use; the bench's worker imports this module
(``celery worker --include bench.tasks``), the portal's workers do not."""

from celery import shared_task


@shared_task(name="bench.noop")
def noop(*args) -> None:
    """Does nothing: the bench's yardstick for what a worker spends per task."""
