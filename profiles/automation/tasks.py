"""Celery tasks of the automation: thin wrappers that take ids and call services.

One Beat entry (due_scan) drives every time trigger and clear-after timer;
work is handed on in batches of ids, so 10,000 users switched at one minute
are ~20 tasks of 500, not 10,000 tasks.
"""

from celery import shared_task

from devices import services as device_services
from devices.tasks import converge_batch, converge_users
from profiles.automation import clear_after, duescan, firings
from profiles.automation.connectors import calendar, m365
from profiles.models import Outcome, StatusConnector


@shared_task(acks_late=True, reject_on_worker_lost=True)
def fire_triggers(firing_ids: list[int]) -> int:
    """Act on a batch of claimed firings in a constant number of queries;
    the switched users are converged as one batch in this task, once their
    switch has committed (devices.tasks.converge_batch run in place, not
    a second task per batch). Safe to run twice: a firing that is no longer pending is
    skipped; a target left pending by a lost task is the sweep's
    (devices.tasks.sweep_pending)."""
    results = firings.apply_firings(firing_ids, converge=lambda ids: converge_batch(ids, "trigger"))
    return sum(r.outcome == Outcome.APPLIED for r in results.values())


@shared_task(acks_late=True, reject_on_worker_lost=True)
def clear_after_users(user_ids: list[int]) -> int:
    """Return a batch of users whose timer ended to their previous profile
    (each at most once, see profiles.automation.clear_after)."""
    with device_services.collect_converges() as switched:
        for user_id in user_ids:
            clear_after.clear_after(user_id)
    converge_users(switched, "clear_after")  # in this task
    return len(switched)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def refresh_calendars(calendar_ids: list[int]) -> int:
    """Fetch the due calendars and switch or return their users when an
    event started or ended (connectors.calendar.refresh); each calendar's
    failure is its status, never the batch's."""
    for calendar_id in calendar_ids:
        calendar.refresh(calendar_id)
    return len(calendar_ids)


@shared_task(acks_late=True, ignore_result=True)
def due_scan() -> dict:
    """The one Beat entry for triggers and timers (settings.CELERY_BEAT_SCHEDULE)."""
    result = duescan.scan(
        send_firings=fire_triggers.delay,
        send_clear_after=clear_after_users.delay,
        send_calendars=refresh_calendars.delay,
        send_expired_sessions=expire_client_sessions.delay,
    )
    return result.__dict__


@shared_task(acks_late=True, reject_on_worker_lost=True)
def expire_client_sessions(session_ids: list[int]) -> int:
    """End a batch of client sessions that stopped heartbeating, as if
    disconnected (each at most once, see events.expire_client_sessions)."""
    from profiles import events

    return events.expire_client_sessions(session_ids)


@shared_task(acks_late=True, ignore_result=True)
def poll_status_connectors() -> dict:
    """Beat tick: hand every Microsoft 365 connector whose poll is due to
    its own task (a slow tenant does not hold up the others)."""
    due = m365.due_connectors()
    for connector_id in due:
        poll_connector.delay(connector_id)
    return {"queued": len(due)}


@shared_task(acks_late=True, ignore_result=True)
def presences_notified(connector_id: int, graph_ids: list[str]) -> str:
    """Graph's change notifications named these users: read their presence
    (connectors.m365.refresh_presences)."""
    return m365.refresh_presences(connector_id, graph_ids)


@shared_task(acks_late=True, ignore_result=True)
def poll_connector(connector_id: int) -> str:
    """One poll of one connector (skipped while another holds its lease)."""
    connector = StatusConnector.objects.filter(pk=connector_id, kind=StatusConnector.Kind.M365).first()
    if connector is None:
        return "gone"
    return m365.poll_m365(connector)
