"""Status connectors: where "the user is in a meeting" comes from, one
module per source (webhook, m365). Each turns what its source says into
profiles.automation.meetings.meeting_started / meeting_ended."""

from __future__ import annotations

from django.utils import timezone

from profiles.automation.connectors import m365
from profiles.models import StatusConnector


def check_connector(connector: StatusConnector) -> str:
    """An administrator's "check now": one poll, its status returned."""
    if connector.kind == StatusConnector.Kind.M365:
        return m365.poll_m365(connector)
    status = "ok: webhook ready" if connector.configured else "error: disabled or no secret"
    StatusConnector.objects.filter(pk=connector.pk).update(status=status, checked_at=timezone.now())
    return status
