"""The event table: written after commit by the publishers (the switching
core on PostgreSQL inserts its presence events in its own statement, see
profiles/services/switching.py), read by the stream servers (catch-up after
a wake-up, replay for Last-Event-ID)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Max, Min, Q
from django.utils import timezone

from live.models import Event
from portal import bulk

FIELDS = ("id", "kind", "owner_id", "data")


def write(events: list[tuple[str, int | None, dict]]) -> list[dict]:
    """Store (kind, owner id or None, data) events; returns them as the
    stream carries them (one INSERT whatever their number, plain rows:
    a batch of 500 switches publishes 500 events)."""
    now = timezone.now()
    ids = bulk.insert_rows(Event, ["kind", "owner", "data", "created_at"], [(*e, now) for e in events])
    return [
        {"id": pk, "kind": kind, "owner_id": owner, "data": data}
        for pk, (kind, owner, data) in zip(ids, events, strict=True)
    ]


def last_id() -> int:
    return Event.objects.aggregate(last=Max("id"))["last"] or 0


def after(event_id: int, *, limit: int = 2000) -> list[dict]:
    """Every event (all audiences) after ``event_id``, oldest first."""
    return list(Event.objects.filter(id__gt=event_id).order_by("id").values(*FIELDS)[:limit])


def replay(*, user_id: int, after_id: int, limit: int = 500) -> list[dict] | None:
    """What ``user_id`` may see after ``after_id`` (two queries), or None when
    the buffer no longer reaches back that far (or the id is from another
    database): the client must refresh what it shows."""
    bounds = Event.objects.aggregate(first=Min("id"), last=Max("id"))
    first, last = bounds["first"], bounds["last"]
    if first is None or after_id + 1 < first or after_id > last:
        # Pruned past the client's position (or an id this buffer never
        # issued). An empty buffer cannot tell whether anything was missed.
        return None if after_id != (last or 0) else []
    rows = list(
        Event.objects.filter(Q(owner__isnull=True) | Q(owner_id=user_id), id__gt=after_id)
        .order_by("id")
        .values(*FIELDS)[: limit + 1]
    )
    return None if len(rows) > limit else rows


def prune(*, keep_seconds: int, now=None) -> int:
    """Drop events older than the replay window (the bounded buffer)."""
    cutoff = (now or timezone.now()) - timedelta(seconds=keep_seconds)
    return Event.objects.filter(created_at__lt=cutoff).delete()[0]
