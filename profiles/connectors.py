"""Status connectors: where "the user is in a meeting" comes from.

Signed webhook
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

Microsoft 365
    Polls the Teams presence of users whose meeting trigger names the
    connector, through Microsoft Graph with the client-credentials flow
    (msal; application permissions Presence.Read.All and User.Read.All).
    A user is mapped by e-mail: ``GET /users/{e-mail}?$select=id`` once,
    the Graph id kept in MeetingPresence.external_id; then one
    ``POST /communications/getPresencesByUserId`` per 650 users. Activity
    InAMeeting, InACall, InAConferenceCall or Presenting counts as a meeting.
    Any failure is written to the connector's status (shown in the admin)
    instead of raising.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import msal
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from devices.validators import CONTROL_CHARACTERS
from profiles import precedence
from profiles.models import Account, MeetingPresence, StatusConnector, Trigger, WebhookReceipt

User = get_user_model()
TIMESTAMP_HEADER = "X-Portal-Timestamp"
SIGNATURE_HEADER = "X-Portal-Signature"
MEETING_ACTIVITIES = {"InAMeeting", "InACall", "InAConferenceCall", "Presenting"}
GRAPH_PRESENCE_CHUNK = 650  # Graph's limit of ids per getPresencesByUserId
HTTP_TIMEOUT = 10


# --- signed webhook ----------------------------------------------------------------


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
            apply = precedence.meeting_started if event.started else precedence.meeting_ended
            result = apply(user_id=event.user_id, connector=connector, activity=event.activity, now=now)
    except WebhookError as exc:
        return exc.status, {"error": exc.message}
    StatusConnector.objects.filter(pk=connector.pk).update(
        status=f"ok: last event {'meeting_started' if event.started else 'meeting_ended'} → {result.outcome}",
        checked_at=now,
    )
    return 200, {"outcome": str(result.outcome), "detail": result.detail}


# --- Microsoft 365 -------------------------------------------------------------------


class GraphError(Exception):
    pass


_apps: dict[tuple, msal.ConfidentialClientApplication] = {}


def _client_app(connector: StatusConnector, secret: str) -> msal.ConfidentialClientApplication:
    """One msal app per connector configuration, kept so its token cache
    spares a token request per poll."""
    authority = f"{connector.authority_url.rstrip('/')}/{connector.tenant_id}"
    key = (connector.pk, connector.client_id, authority, hashlib.sha256(secret.encode()).hexdigest())
    app = _apps.get(key)
    if app is None:
        app = msal.ConfidentialClientApplication(
            connector.client_id,
            client_credential=secret,
            authority=authority,
            # The administrator's authority is used as given (national
            # clouds): no discovery round-trip to Microsoft's public cloud.
            instance_discovery=False,
            validate_authority=False,
            timeout=HTTP_TIMEOUT,
        )
        _apps[key] = app
    return app


def _token(connector: StatusConnector) -> str:
    secret = os.environ.get(connector.client_secret_env, "")
    if not secret:
        raise GraphError(f"environment variable {connector.client_secret_env} (the client secret) is not set")
    graph = urlsplit(connector.graph_url)
    scope = f"{graph.scheme}://{graph.netloc}/.default"
    try:
        result = _client_app(connector, secret).acquire_token_for_client(scopes=[scope])
    except (requests.RequestException, ValueError) as exc:
        raise GraphError(f"token request to {connector.authority_url} failed: {type(exc).__name__}: {exc}") from None
    if "access_token" not in result:
        raise GraphError(
            f"token request refused: {result.get('error', 'unknown error')}: {result.get('error_description', '')}"
        )
    return result["access_token"]


def _graph(session: requests.Session, method: str, url: str, **kwargs) -> requests.Response:
    try:
        response = session.request(method, url, timeout=HTTP_TIMEOUT, **kwargs)
    except requests.RequestException as exc:
        raise GraphError(f"{method} {url} failed: {type(exc).__name__}: {exc}") from None
    if response.status_code >= 400 and response.status_code != 404:
        try:
            error = response.json().get("error", {})
            message = f"{error.get('code', '')}: {error.get('message', '')}"
        except ValueError:
            message = response.text[:200]
        raise GraphError(f"{method} {url} answered {response.status_code} {message}")
    return response


def poll_m365(connector: StatusConnector, *, now: dt.datetime | None = None) -> str:
    """Read the presence of the connector's users and act on changes;
    returns and stores a one-line status. Never raises for a failure of
    the source: the exact failure is the status."""
    now = now or timezone.now()
    try:
        status = _poll(connector, now)
    except GraphError as exc:
        status = f"error: {exc}"
    StatusConnector.objects.filter(pk=connector.pk).update(status=status[:2000], checked_at=now)
    return status


def _poll(connector: StatusConnector, now: dt.datetime) -> str:
    if not connector.configured:
        return "error: not configured (tenant id, client id and client secret variable are required)"
    users = dict(
        Trigger.objects.filter(kind=Trigger.Kind.MEETING, enabled=True, connector=connector)
        .values_list("profile__owner_id", "profile__owner__email")
        .distinct()
    )
    if not users:
        return "ok: no user has a meeting trigger on this connector"
    token = _token(connector)
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
    base = connector.graph_url.rstrip("/")

    existing = {p.user_id: p for p in MeetingPresence.objects.filter(connector=connector, user_id__in=users)}
    missing = [MeetingPresence(connector=connector, user_id=uid) for uid in users if uid not in existing]
    if missing:
        MeetingPresence.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {p.user_id: p for p in MeetingPresence.objects.filter(connector=connector, user_id__in=users)}
    unmapped = []
    for user_id, presence in existing.items():
        if presence.external_id:
            continue
        email = users[user_id]
        if not email:
            unmapped.append(f"user {user_id} has no e-mail")
            continue
        response = _graph(session, "GET", f"{base}/users/{quote(email, safe='@')}", params={"$select": "id"})
        if response.status_code == 404:
            unmapped.append(f"{email} not found in the tenant")
            continue
        presence.external_id = response.json()["id"]
        MeetingPresence.objects.filter(pk=presence.pk).update(external_id=presence.external_id)

    by_graph_id = {p.external_id: p for p in existing.values() if p.external_id}
    ids = list(by_graph_id)
    in_meeting = changes = 0
    for start in range(0, len(ids), GRAPH_PRESENCE_CHUNK):
        chunk = ids[start : start + GRAPH_PRESENCE_CHUNK]
        response = _graph(session, "POST", f"{base}/communications/getPresencesByUserId", json={"ids": chunk})
        for item in response.json().get("value", []):
            presence = by_graph_id.get(item.get("id"))
            if presence is None:
                continue
            activity = item.get("activity") or ""
            meeting = activity in MEETING_ACTIVITIES
            in_meeting += meeting
            if meeting != presence.in_meeting:
                changes += 1
                apply = precedence.meeting_started if meeting else precedence.meeting_ended
                apply(user_id=presence.user_id, connector=connector, activity=activity, now=now)
            elif presence.activity != activity:
                MeetingPresence.objects.filter(pk=presence.pk).update(activity=activity[:64])
    status = f"ok: {len(ids)} users polled, {in_meeting} in a meeting, {changes} changes"
    if unmapped:
        status += "; not mapped: " + ", ".join(unmapped[:10])
    return status


def poll_all(*, now: dt.datetime | None = None) -> dict:
    """Poll every enabled Microsoft 365 connector (the Beat entry)."""
    results = {}
    for connector in StatusConnector.objects.filter(kind=StatusConnector.Kind.M365, enabled=True):
        results[connector.name] = poll_m365(connector, now=now)
    return results


def check_connector(connector: StatusConnector) -> str:
    """An administrator's "check now": one poll, its status returned."""
    if connector.kind == StatusConnector.Kind.M365:
        return poll_m365(connector)
    status = "ok: webhook ready" if connector.configured else "error: disabled or no secret"
    StatusConnector.objects.filter(pk=connector.pk).update(status=status, checked_at=timezone.now())
    return status
