"""The signed status webhook: any presence source reports meetings.

Any presence source POSTs JSON to /hooks/status/<connector id>/:
``{"event": "meeting_started" | "meeting_ended", "email": "…"}`` (or
``"extension": "1000"`` instead of the e-mail; optional ``"activity"``),
with headers ``X-Portal-Timestamp`` (Unix seconds) and
``X-Portal-Signature: sha256=<hex>``, the HMAC-SHA256 of
``"<timestamp>.<raw body>"`` keyed with the connector's webhook secret.
Requests outside the replay window (settings.STATUS_WEBHOOK_REPLAY_SECONDS)
are refused; a replay inside it is harmless because events are states
(a second "started" changes nothing).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from profiles.automation import meetings
from profiles.models import Account, StatusConnector

User = get_user_model()
TIMESTAMP_HEADER = "X-Portal-Timestamp"
SIGNATURE_HEADER = "X-Portal-Signature"


class WebhookError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    connector: StatusConnector, *, timestamp: str, signature: str, body: bytes, now: dt.datetime
) -> None:
    if not timestamp or not signature:
        raise WebhookError(400, f"The {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers are required.")
    try:
        sent = int(timestamp)
    except ValueError:
        raise WebhookError(400, f"{TIMESTAMP_HEADER} must be Unix seconds, got {timestamp[:40]!r}.") from None
    # Constant-time comparison: the answer must not leak how much matched.
    if not hmac.compare_digest(sign(connector.webhook_secret, timestamp, body), signature.strip()):
        raise WebhookError(401, "The signature does not match; sign '<timestamp>.<body>' with HMAC-SHA256.")
    window = settings.STATUS_WEBHOOK_REPLAY_SECONDS
    if abs(now.timestamp() - sent) > window:
        raise WebhookError(401, f"The timestamp is more than {window} seconds away from the portal's clock.")


@dataclass(frozen=True)
class WebhookEvent:
    started: bool
    user_id: int
    activity: str


def parse_event(body: bytes) -> WebhookEvent:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookError(400, "The body must be JSON.") from None
    if not isinstance(data, dict):
        raise WebhookError(400, "The body must be a JSON object.")
    event = data.get("event")
    if event not in ("meeting_started", "meeting_ended"):
        raise WebhookError(400, 'event must be "meeting_started" or "meeting_ended".')
    email, extension = data.get("email"), data.get("extension")
    activity = data.get("activity") or ("InAMeeting" if event == "meeting_started" else "Available")
    if not isinstance(activity, str):
        raise WebhookError(400, "activity must be a string.")
    if isinstance(email, str) and email.strip():
        ids = list(User.objects.filter(email__iexact=email.strip(), is_active=True).values_list("id", flat=True)[:2])
        who = f"e-mail {email.strip()}"
    elif isinstance(extension, str | int) and str(extension).strip():
        ids = list(
            Account.objects.filter(primary_extension__number=str(extension).strip()).values_list("user_id", flat=True)
        )
        who = f"extension {extension}"
    else:
        raise WebhookError(400, "Name the user with email or extension.")
    if not ids:
        raise WebhookError(404, f"No user with {who}.")
    if len(ids) > 1:
        raise WebhookError(409, f"More than one user has {who}; use the extension.")
    return WebhookEvent(started=event == "meeting_started", user_id=ids[0], activity=activity)


def handle_webhook(
    connector_id: int, *, timestamp: str, signature: str, body: bytes, now: dt.datetime | None = None
) -> tuple[int, dict]:
    """Check and apply one webhook call; returns (HTTP status, JSON answer).
    Every refusal happens before anything is written."""
    now = now or timezone.now()
    connector = StatusConnector.objects.filter(pk=connector_id, kind=StatusConnector.Kind.WEBHOOK).first()
    try:
        if connector is None:
            raise WebhookError(404, "No webhook status connector with this id.")
        if not connector.configured:
            raise WebhookError(403, "This status connector is disabled or has no secret.")
        verify_signature(connector, timestamp=timestamp, signature=signature, body=body, now=now)
        event = parse_event(body)
    except WebhookError as exc:
        return exc.status, {"error": exc.message}
    apply = meetings.meeting_started if event.started else meetings.meeting_ended
    result = apply(user_id=event.user_id, connector=connector, activity=event.activity, now=now)
    StatusConnector.objects.filter(pk=connector.pk).update(
        status=f"ok: last event {'meeting_started' if event.started else 'meeting_ended'} → {result.outcome}",
        checked_at=now,
    )
    return 200, {"outcome": str(result.outcome), "detail": result.detail}
