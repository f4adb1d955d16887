"""Publishing live events: the service layer calls ``publish`` inside its
transaction, next to the audit row it writes; the events are stored and the
stream servers woken only after that transaction commits (a rolled-back
switch sends nothing). A writer that stores its events in its own
statement (the switching core on PostgreSQL: one statement, no second
round trip) calls ``announce`` with the stored rows instead.

This module is below profiles and devices (both call it) and imports
neither (.importlinter)."""

from __future__ import annotations

import logging

from django.db import transaction

from live import store
from live.transport import transport

log = logging.getLogger(__name__)

# Kinds of events (the SSE "event:" field). Public: every signed-in user
# may see them (the board shows everyone's presence and line). Private:
# only the owner.
PRESENCE = "presence"  # public: a user's profile changed
LINE = "line"  # public: an extension's line state changed
APPLY = "apply"  # private: the state of the user's apply (pending, applied, failed, …)
MISMATCH = "mismatch"  # private: the user's devices differ from the profile, or no longer do
REFRESH = "refresh"  # to one client: too much was missed, reload what is shown


def publish(events: list[tuple[str, int | None, dict]]) -> None:
    """Send (kind, owner id or None for public, data) events once the current
    transaction commits (at once outside one). Never raises for the
    caller: a failure is logged and the pages' poll still shows the change."""
    if events:
        transaction.on_commit(lambda: _send(list(events)))


def announce(rows: list[dict]) -> None:
    """Wake the stream servers for events the caller stored itself in the
    current transaction (rows as store.write returns them: the switching
    core inserts its presence events in its own statement), once it
    commits. Never raises for the caller."""
    if rows:
        transaction.on_commit(lambda: _notify(list(rows)))


def _send(events: list[tuple[str, int | None, dict]]) -> None:
    try:
        rows = store.write(events)
    except Exception:  # the change itself is committed; only its push is lost
        log.exception("could not store %d live events", len(events))
        return
    _notify(rows)


def _notify(rows: list[dict]) -> None:
    try:
        transport().notify(rows)
    except Exception as exc:
        # Stored: the stream servers' periodic catch-up delivers them late.
        log.warning("could not wake the stream servers (%s); events %s delivered late", exc, [r["id"] for r in rows])
