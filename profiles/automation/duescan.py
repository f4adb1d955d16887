"""The due-scan: one Beat entry finds what is due (time triggers, ended
clear-after timers, claimed firings whose batch task was lost, calendars,
client sessions that stopped heartbeating) and hands it to batch tasks.

Why not one django-celery-beat PeriodicTask per trigger: its
DatabaseScheduler reloads the whole schedule on every change and has open
bugs with thousands of entries and across DST changes (django-celery-beat
issues 454, 675, 786, 194, 604). Here each trigger row keeps a UTC
``next_fire_at`` behind a partial index, so a tick with nothing due is one
indexed query.

Exactly once: due trigger rows are claimed with SELECT … FOR UPDATE SKIP
LOCKED (a second scan skips them), each occurrence is inserted under the
unique (trigger, scheduled_for) key with ON CONFLICT DO NOTHING (only rows
actually inserted go on), and ``next_fire_at`` advances in the same
transaction. The batch task then acts on a firing only while it is still
"pending" (profiles.automation.firings.apply_firings).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from devices.models import ClientSession
from portal import bulk
from profiles.automation.connectors.calendar import due_calendars
from profiles.automation.triggers import SCHEDULE_FIELDS as _SCHEDULE_FIELDS
from profiles.automation.triggers import schedule_next_fire
from profiles.events import due_client_sessions
from profiles.models import CalendarLink, Selection, Trigger, TriggerFiring

# Firings per batch task. 10,000 users due at one minute on 2 cores
# (bench/triggers.py, PostgreSQL's JIT off): 3.71 s with 500, 3.43 s with
# 1,000, 3.16 s with 2,000 (five batches leave a core idle at the end).
# A batch holds its users' account locks for its switch statement (about
# 0.1 s at 1,000), which a hand switch of one of them waits for.
BATCH_SIZE = 1000
# A firing still pending this long after it was claimed lost its batch task
# (a worker killed hard, a broker that dropped the message): send it again.
STALE_PENDING = dt.timedelta(minutes=2)


@dataclass
class ScanResult:
    claimed: int = 0
    queued: int = 0
    missed: int = 0
    clear_after: int = 0
    requeued: int = 0
    expired_sessions: int = 0
    batches: int = 0
    calendars: int = 0


def anything_due(now: dt.datetime) -> tuple[bool, bool, bool, bool, bool]:
    """One query, five index probes: due triggers (trigger_due_idx), ended
    timers (selection_until_idx), stale pending firings (firing_pending_idx),
    calendars with an event start/end or a fetch due (calendar_change_idx,
    calendar_poll_idx), client sessions past their heartbeat window
    (clientsession_expiry_idx).

    Raw SQL for one round trip instead of four ORM ``exists()`` queries.
    Measured on PostgreSQL with three probes (2 cores at load average 20, so
    pessimistic): 3–13 ms per call raw against 38–61 ms for the ORM
    queries, i.e. about 40 ms saved per 30 s Beat tick, 0.1 % of one core."""
    trigger, selection, firing, calendar, session = (
        Trigger._meta.db_table,
        Selection._meta.db_table,
        TriggerFiring._meta.db_table,
        CalendarLink._meta.db_table,
        ClientSession._meta.db_table,
    )
    sql = (
        f"SELECT EXISTS (SELECT 1 FROM {trigger} WHERE enabled AND next_fire_at IS NOT NULL AND next_fire_at <= %s),"
        f" EXISTS (SELECT 1 FROM {selection} WHERE until IS NOT NULL AND until <= %s AND source <> %s),"
        f" EXISTS (SELECT 1 FROM {firing} WHERE outcome = %s AND fired_at <= %s),"
        f" (EXISTS (SELECT 1 FROM {calendar} WHERE enabled AND next_change_at <= %s)"
        f" OR EXISTS (SELECT 1 FROM {calendar} WHERE enabled AND next_poll_at <= %s)),"
        f" EXISTS (SELECT 1 FROM {session} WHERE expires_at IS NOT NULL AND expires_at <= %s)"
    )
    at, stale = _db_datetime(now), _db_datetime(now - STALE_PENDING)
    with connection.cursor() as cursor:
        cursor.execute(sql, [at, at, Selection.Source.MEETING, TriggerFiring.Outcome.PENDING, stale, at, at, at])
        row = cursor.fetchone()
    return bool(row[0]), bool(row[1]), bool(row[2]), bool(row[3]), bool(row[4])


def _db_datetime(value: dt.datetime):
    """A datetime as this database stores it (SQLite: naive UTC text), for raw SQL."""
    return connection.ops.adapt_datetimefield_value(value)


def _claim_query(now: dt.datetime, batch_size: int):
    """Due trigger ids in index order, locked; only the trigger rows are
    read here so the partial index stops after ``batch_size`` rows."""
    query = Trigger.objects.filter(enabled=True, next_fire_at__isnull=False, next_fire_at__lte=now)
    if connection.features.has_select_for_update_skip_locked:
        query = query.select_for_update(skip_locked=True)
    else:
        # SQLite (the embedded default) has no row locks: its IMMEDIATE
        # transactions already serialise writers, and the unique firing key
        # still guarantees exactly once.
        query = query.select_for_update()
    return query.order_by("next_fire_at").values_list("id", flat=True)[:batch_size]


def _insert_firings(rows: list[tuple[int, dt.datetime, str]], now: dt.datetime) -> list[tuple[int, str]]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING: only the occurrences
    inserted now come back (a conflict means someone already fired it)."""
    if not rows:
        return []
    table = TriggerFiring._meta.db_table
    columns = "trigger_id, scheduled_for, fired_at, outcome, detail"
    if connection.vendor == "postgresql":
        # Three array parameters instead of four placeholders per row.
        source = "SELECT t, s, %s, o, '' FROM unnest(%b::bigint[], %b::timestamptz[], %b::varchar[]) AS v(t, s, o)"
        params = [now, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]]
    else:
        source = "VALUES " + ", ".join(["(%s, %s, %s, %s, '')"] * len(rows))
        params = [
            x
            for trigger_id, scheduled, outcome in rows
            for x in (trigger_id, _db_datetime(scheduled), _db_datetime(now), outcome)
        ]
    sql = (
        f"INSERT INTO {table} ({columns}) {source}"
        " ON CONFLICT (trigger_id, scheduled_for) DO NOTHING RETURNING id, outcome"
    )
    if connection.vendor == "postgresql":
        return [(row[0], row[1]) for row in bulk.execute(sql, params)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(row[0], row[1]) for row in cursor.fetchall()]


def claim_triggers(now: dt.datetime, *, batch_size: int = BATCH_SIZE) -> tuple[list[int], int, int]:
    """Claim one batch of due triggers, record their firings and advance
    them, in one transaction. Returns (pending firing ids, missed, claimed)."""
    grace = dt.timedelta(minutes=settings.TRIGGER_GRACE_MINUTES)
    with transaction.atomic():
        ids = list(_claim_query(now, batch_size))
        if not ids:
            return [], 0, 0
        triggers = list(
            Trigger.objects.filter(bulk.any_of("pk", ids))
            .order_by("next_fire_at", "id")
            .values_list("pk", "next_fire_at", *_SCHEDULE_FIELDS, "profile__owner__account__time_zone")
        )
        rows, next_fire = [], []
        computed: dict[tuple, dt.datetime | None] = {}
        for pk, scheduled, *schedule, zone in triggers:
            late = now - scheduled > grace
            rows.append((pk, scheduled, TriggerFiring.Outcome.MISSED if late else TriggerFiring.Outcome.PENDING))
            # After a late firing, look again from the start of the grace
            # window: an occurrence inside it still fires on the next pass.
            # Triggers of one minute mostly share their schedule: each
            # schedule is computed once per batch.
            key = (*schedule, zone or "UTC", max(scheduled, now - grace))
            if key not in computed:
                computed[key] = schedule_next_fire(*key)
            next_fire.append(computed[key])
        inserted = _insert_firings(rows, now)
        bulk.update_rows(Trigger, [row[0] for row in triggers], {"next_fire_at": next_fire})
    pending = [pk for pk, outcome in inserted if outcome == TriggerFiring.Outcome.PENDING]
    return pending, len(inserted) - len(pending), len(triggers)


def scan(
    *,
    now: dt.datetime | None = None,
    send_firings: Callable[[list[int]], None],
    send_clear_after: Callable[[list[int]], None],
    send_calendars: Callable[[list[int]], None] | None = None,
    send_expired_sessions: Callable[[list[int]], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> ScanResult:
    """One Beat tick. ``send_*`` enqueue a batch task with a list of ids;
    they are called after the claiming transaction committed."""
    now = now or timezone.now()
    result = ScanResult()
    triggers_due, timers_due, stale_due, calendars_due, sessions_due = anything_due(now)
    while triggers_due:
        pending, missed, claimed = claim_triggers(now, batch_size=batch_size)
        result.claimed += claimed
        result.missed += missed
        if pending:
            send_firings(pending)
            result.queued += len(pending)
            result.batches += 1
        # A short batch means nothing else was due, unless a late firing
        # moved its trigger onto an occurrence inside the grace window.
        if claimed < batch_size and not missed:
            break
    if timers_due:
        # No claim marker is needed: clear_after re-checks the timer under
        # the user's lock and the switch clears it, so a user sent twice
        # (two scans, a redelivery) returns once. Keyset paging keeps one
        # scan from sending anyone twice.
        last_until, last_user = None, 0
        while True:
            query = Selection.objects.filter(until__isnull=False, until__lte=now).exclude(
                source=Selection.Source.MEETING
            )
            if last_until is not None:
                query = query.filter(until__gte=last_until).exclude(until=last_until, user_id__lte=last_user)
            page = list(query.order_by("until", "user_id").values_list("until", "user_id")[:batch_size])
            if not page:
                break
            send_clear_after([user_id for _, user_id in page])
            result.clear_after += len(page)
            result.batches += 1
            last_until, last_user = page[-1]
            if len(page) < batch_size:
                break
    if stale_due:
        stale = list(
            TriggerFiring.objects.filter(
                outcome=TriggerFiring.Outcome.PENDING, fired_at__lte=now - STALE_PENDING
            ).values_list("id", flat=True)[: batch_size * 20]
        )
        for start in range(0, len(stale), batch_size):
            send_firings(stale[start : start + batch_size])
            result.batches += 1
        # Bump fired_at so the next tick does not send them again at once.
        TriggerFiring.objects.filter(pk__in=stale, outcome=TriggerFiring.Outcome.PENDING).update(fired_at=now)
        result.requeued = len(stale)
    if calendars_due and send_calendars is not None:
        # Calendars whose event starts/ends or whose fetch is due: the task
        # re-reads each and moves its instants on, so a calendar sent twice
        # (two scans) changes nothing the second time.
        due = due_calendars(now, batch_size * 20)
        for start in range(0, len(due), batch_size):
            send_calendars(due[start : start + batch_size])
            result.batches += 1
        result.calendars = len(due)
    if sessions_due and send_expired_sessions is not None:
        # Client sessions whose heartbeat window passed, from the partial
        # index on expires_at. No claim marker: expiring re-checks each
        # session under the user's lock, so a session sent twice (two scans)
        # ends once.
        due = due_client_sessions(now, limit=batch_size * 20)
        for start in range(0, len(due), batch_size):
            send_expired_sessions(due[start : start + batch_size])
            result.batches += 1
        result.expired_sessions = len(due)
    return result
