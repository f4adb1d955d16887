"""Celery tasks of the profiles app outside the automation (whose tasks
live in profiles.automation.tasks): thin wrappers that take ids and call
services."""

from celery import shared_task

from profiles.models import Selection
from profiles.services import reapply_many


@shared_task(acks_late=True, reject_on_worker_lost=True)
def reapply_users(user_ids: list[int], event: str = "reapply", actor_id: int | None = None, detail: str = "") -> int:
    """Administrator's / service start's re-apply of a batch of users."""
    source = Selection.Source.ADMIN if actor_id is not None else Selection.Source.SYSTEM
    return len(reapply_many(user_ids=user_ids, event=event, source=source, actor_id=actor_id, source_detail=detail))
