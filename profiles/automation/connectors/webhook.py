"""The signed status webhook: any presence source reports meetings.

Any presence source POSTs JSON to /hooks/status/<connector id>/:
``{"event": "meeting_started" | "meeting_ended", "email": "…"}`` (or
``"extension": "1000"`` instead of the e-mail; optional ``"activity"``),
with headers ``X-Portal-Timestamp`` (Unix seconds) and
``X-Portal-Signature: sha256=<hex>``, the HMAC-SHA256 of
``"<timestamp>.<raw body>"`` keyed with the connector's webhook secret.
Requests outside the replay window (settings.STATUS_WEBHOOK_REPLAY_SECONDS)
are refused; inside it, a signature seen before and an event sent before
the last one accepted for the user are refused too (WebhookReceipt), so a
captured "meeting started" cannot be played back after "ended". The body
is a flat JSON object of at most 16 KB; every answer is JSON.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from devices.validators import CONTROL_CHARACTERS
from profiles.automation import meetings
from profiles.models import Account, StatusConnector, WebhookReceipt

User = get_user_model()
TIMESTAMP_HEADER = "X-Portal-Timestamp"
SIGNATURE_HEADER = "X-Portal-Signature"


class WebhookError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# Bounds of what a sender may send: a flat JSON object of a few short values.
MAX_BODY_BYTES = 16 * 1024
MAX_KEYS = 16
MAX_TEXT = 254  # the longest e-mail address
TIMESTAMP_FORMAT = re.compile(r"^[0-9]{1,12}$")
SIGNATURE_FORMAT = re.compile(r"^sha256=[0-9a-f]{64}$")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    connector: StatusConnector, *, timestamp: str, signature: str, body: bytes, now: dt.datetime
) -> dt.datetime:
    """Check the headers and the signature; returns the sender's time."""
    if not timestamp or not signature:
        raise WebhookError(400, f"The {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers are required.")
    timestamp, signature = timestamp.strip(), signature.strip().lower()
    if not TIMESTAMP_FORMAT.match(timestamp):
        raise WebhookError(400, f"{TIMESTAMP_HEADER} must be Unix seconds (up to 12 digits).")
    if not SIGNATURE_FORMAT.match(signature):
        raise WebhookError(400, f"{SIGNATURE_HEADER} must be sha256= and 64 hexadecimal digits.")
    # Constant-time comparison of bytes (both sides are ASCII by now): the
    # answer must not leak how much matched.
    expected = sign(connector.webhook_secret, timestamp, body).encode()
    if not hmac.compare_digest(expected, signature.encode()):
        raise WebhookError(401, "The signature does not match; sign '<timestamp>.<body>' with HMAC-SHA256.")
    window = settings.STATUS_WEBHOOK_REPLAY_SECONDS
    sent = int(timestamp)
    if abs(now.timestamp() - sent) > window:
        raise WebhookError(401, f"The timestamp is more than {window} seconds away from the portal's clock.")
    return dt.datetime.fromtimestamp(sent, tz=dt.UTC)


@dataclass(frozen=True)
class WebhookEvent:
    started: bool
    user_id: int
    activity: str


def _text(data: dict, key: str, *, limit: int = MAX_TEXT) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise WebhookError(400, f"{key} must be a string.")
    value = str(value).strip()
    if len(value) > limit:
        raise WebhookError(400, f"{key} is longer than {limit} characters.")
    if CONTROL_CHARACTERS.search(value):
        raise WebhookError(400, f"{key} contains control characters.")
    return value


def parse_event(body: bytes) -> WebhookEvent:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise WebhookError(400, "The body must be JSON.") from None
    if not isinstance(data, dict):
        raise WebhookError(400, "The body must be a JSON object.")
    if len(data) > MAX_KEYS or any(isinstance(value, dict | list) for value in data.values()):
        raise WebhookError(400, f"The body must be a flat JSON object with at most {MAX_KEYS} fields.")
    event = data.get("event")
    if event not in ("meeting_started", "meeting_ended"):
        raise WebhookError(400, 'event must be "meeting_started" or "meeting_ended".')
    email, extension = _text(data, "email"), _text(data, "extension", limit=16)
    activity = _text(data, "activity", limit=64) or ("InAMeeting" if event == "meeting_started" else "Available")
    if email:
        ids = list(User.objects.filter(email__iexact=email, is_active=True).values_list("id", flat=True)[:2])
        who = f"e-mail {email}"
    elif extension:
        ids = list(Account.objects.filter(primary_extension__number=extension).values_list("user_id", flat=True)[:2])
        who = f"extension {extension}"
    else:
        raise WebhookError(400, "Name the user with email or extension.")
    if not ids:
        raise WebhookError(404, f"No user with {who}.")
    if len(ids) > 1:
        raise WebhookError(409, f"More than one user has {who}; use the extension.")
    return WebhookEvent(started=event == "meeting_started", user_id=ids[0], activity=activity)


def _record_receipt(
    connector: StatusConnector, *, user_id: int, signature: str, sent_at: dt.datetime, now: dt.datetime
) -> None:
    """Refuse a replay, inside the caller's transaction (with the user's
    account row locked): the same signature again, or an event sent before
    the last one accepted for this user. Receipts older than the window are
    dropped; a timestamp that old is refused by verify_signature anyway."""
    window = dt.timedelta(seconds=settings.STATUS_WEBHOOK_REPLAY_SECONDS)
    WebhookReceipt.objects.filter(connector=connector, sent_at__lt=now - window).delete()
    digest = hashlib.sha256(signature.strip().lower().encode()).hexdigest()
    if WebhookReceipt.objects.filter(connector=connector, digest=digest).exists():
        raise WebhookError(409, "This request was already received (replay).")
    last = (
        WebhookReceipt.objects.filter(connector=connector, user_id=user_id)
        .order_by("-sent_at")
        .values_list("sent_at", flat=True)
        .first()
    )
    if last is not None and sent_at < last:
        raise WebhookError(409, "An event sent later was already accepted for this user; this one is out of date.")
    try:
        with transaction.atomic():
            WebhookReceipt.objects.create(
                connector=connector, user_id=user_id, digest=digest, sent_at=sent_at, received_at=now
            )
    except IntegrityError:  # the same request, accepted a moment ago by another process
        raise WebhookError(409, "This request was already received (replay).") from None


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
        sent_at = verify_signature(connector, timestamp=timestamp, signature=signature, body=body, now=now)
        event = parse_event(body)
        with transaction.atomic():
            # The user's account row is the per-user lock the switch takes
            # too: two events for one user are decided one after the other.
            Account.objects.select_for_update().filter(user_id=event.user_id).first()
            _record_receipt(connector, user_id=event.user_id, signature=signature, sent_at=sent_at, now=now)
            apply = meetings.meeting_started if event.started else meetings.meeting_ended
            result = apply(user_id=event.user_id, connector=connector, activity=event.activity, now=now)
    except WebhookError as exc:
        return exc.status, {"error": exc.message}
    StatusConnector.objects.filter(pk=connector.pk).update(
        status=f"ok: last event {'meeting_started' if event.started else 'meeting_ended'} → {result.outcome}",
        checked_at=now,
    )
    return 200, {"outcome": str(result.outcome), "detail": result.detail}
