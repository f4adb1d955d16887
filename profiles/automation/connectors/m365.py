"""Microsoft 365: Teams presence as the meeting source.

Polls the Teams presence of users whose meeting trigger names the
connector, through Microsoft Graph with the client-credentials flow
(msal; application permissions Presence.Read.All and User.Read.All).
A user is mapped by e-mail: ``GET /users/{e-mail}?$select=id`` once,
the Graph id kept in MeetingPresence.external_id; then one
``POST /communications/getPresencesByUserId`` per 650 users. Activity
InAMeeting, InACall, InAConferenceCall or Presenting counts as a meeting.
Any failure is written to the connector's status (shown in the admin)
instead of raising.

Timing: a Beat tick (settings.STATUS_POLL_TICK_SECONDS) hands every due
connector to its own task; a connector is due every ``poll_interval``
seconds (default 10), or after Graph's 429 ``Retry-After``. One poll per
connector is in flight at a time: a poll first claims a lease with a
conditional UPDATE, a second one finds it taken and does nothing.

Change notifications: when the connector has a ``notification_url`` (the
portal's public address), each poll also keeps Graph presence
subscriptions (``POST /subscriptions``, resource
``/communications/presences?$filter=id in (…)``, at most 650 ids each, 55
minutes, renewed by ``PATCH`` 15 minutes before they lapse) covering the
polled users. Graph validates a new subscription by POSTing a
``validationToken`` to the endpoint (profiles.webhooks.graph_notifications
answers it as text/plain); afterwards every change notification names a
user whose presence changed, and only those users are read
(``refresh_presences``, in a task). Every notification must carry the
subscription's clientState. Lifecycle notifications: reauthorizationRequired
renews the subscription at the next tick, subscriptionRemoved creates it
again, missed reads everyone. While the subscriptions stand the full poll
runs every PUSH_RESYNC_SECONDS only; when they cannot be made (Graph cannot
reach the address) the status says so and the fast poll goes on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urlsplit

import msal
import requests
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from profiles.automation import meetings
from profiles.models import GraphSubscription, MeetingPresence, StatusConnector, Trigger

MEETING_ACTIVITIES = {"InAMeeting", "InACall", "InAConferenceCall", "Presenting"}
GRAPH_PRESENCE_CHUNK = 650  # Graph's limit of ids per getPresencesByUserId
HTTP_TIMEOUT = 10
# A poll holding the lease longer than this died (worker killed): the next
# tick may poll again. Above any real poll: 16 chunks of 650 users, each
# bounded by HTTP_TIMEOUT.
POLL_LEASE = dt.timedelta(minutes=5)
# Retry-After Graph may ask for, bounded (a missing or odd header: 30 s).
RETRY_AFTER_DEFAULT, RETRY_AFTER_MAX = 30, 3600
# Presence subscriptions live at most 60 minutes; ask for 55 and renew
# when fewer than 15 are left (a tick every PUSH_RESYNC_SECONDS finds it).
SUBSCRIPTION_LIFETIME = dt.timedelta(minutes=55)
RENEW_BEFORE = dt.timedelta(minutes=15)
PUSH_RESYNC_SECONDS = 300
MAX_NOTIFICATIONS = 1000  # items read from one notification body


class GraphError(Exception):
    pass


class Throttled(GraphError):
    """Graph answered 429 Too Many Requests."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def retry_after_seconds(value: str | None, now: dt.datetime) -> int:
    """Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110)."""
    if value:
        value = value.strip()
        if value.isdigit():
            return max(1, min(int(value), RETRY_AFTER_MAX))
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None and when.tzinfo is not None:
            return max(1, min(int((when - now).total_seconds()), RETRY_AFTER_MAX))
    return RETRY_AFTER_DEFAULT


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
    if response.status_code == 429:
        wait = retry_after_seconds(response.headers.get("Retry-After"), timezone.now())
        raise Throttled(f"{method} {url} answered 429 Too Many Requests; retry after {wait} s", wait)
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
    returns and stores a one-line status and when to poll next. Never
    raises for a failure of the source: the exact failure is the status.
    Does nothing while another poll of this connector holds the lease."""
    now = now or timezone.now()
    free = Q(poll_lease_until__isnull=True) | Q(poll_lease_until__lt=now)
    if not StatusConnector.objects.filter(free, pk=connector.pk).update(poll_lease_until=now + POLL_LEASE):
        return "skipped: a poll of this connector is already running"
    wait = connector.poll_interval
    try:
        status, pushed = _poll(connector, now)
        if pushed:
            wait = max(wait, PUSH_RESYNC_SECONDS)
    except Throttled as exc:
        wait = max(wait, exc.retry_after)
        status = f"throttled: {exc}"
    except GraphError as exc:
        status = f"error: {exc}"
    finally:
        # Always hand the lease back (also when a bug raised).
        StatusConnector.objects.filter(pk=connector.pk).update(poll_lease_until=None)
    finished = timezone.now()
    StatusConnector.objects.filter(pk=connector.pk).update(
        status=status[:2000], checked_at=finished, next_poll_at=finished + dt.timedelta(seconds=wait)
    )
    return status


def due_connectors(now: dt.datetime | None = None) -> list[int]:
    """Microsoft 365 connectors whose next poll is due (one indexed query)."""
    now = now or timezone.now()
    return list(
        StatusConnector.objects.filter(kind=StatusConnector.Kind.M365, enabled=True)
        .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now))
        .values_list("id", flat=True)
    )


def _session(connector: StatusConnector) -> requests.Session:
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {_token(connector)}", "Accept": "application/json"})
    return session


def _poll(connector: StatusConnector, now: dt.datetime) -> tuple[str, bool]:
    """The status, and whether change notifications now cover the users."""
    if not connector.configured:
        return "error: not configured (tenant id, client id and client secret variable are required)", False
    users = dict(
        Trigger.objects.filter(kind=Trigger.Kind.MEETING, enabled=True, connector=connector)
        .values_list("profile__owner_id", "profile__owner__email")
        .distinct()
    )
    if not users:
        if connector.notification_url or connector.subscriptions.exists():
            _drop_subscriptions(connector)
        return "ok: no user has a meeting trigger on this connector", False
    session = _session(connector)
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
    in_meeting, changes = _apply_presences(connector, session, base, by_graph_id, now)
    status = f"ok: {len(by_graph_id)} users polled, {in_meeting} in a meeting, {changes} changes"
    if unmapped:
        status += "; not mapped: " + ", ".join(unmapped[:10])
    pushed = False
    if connector.notification_url:
        try:
            status += "; change notifications: " + sync_subscriptions(connector, session, sorted(by_graph_id), now)
            pushed = True
        except GraphError as exc:
            status += f"; change notifications failed, polling every {connector.poll_interval} s meanwhile: {exc}"
    elif connector.subscriptions.exists():
        _drop_subscriptions(connector, session)
    return status, pushed


def _apply_presences(connector, session, base: str, by_graph_id: dict, now: dt.datetime) -> tuple[int, int]:
    """Ask Graph for the presence of ``by_graph_id``'s users (650 per
    request) and act on meetings that started or ended: (in a meeting,
    changes)."""
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
                apply = meetings.meeting_started if meeting else meetings.meeting_ended
                apply(user_id=presence.user_id, connector=connector, activity=activity, now=now)
            elif presence.activity != activity:
                MeetingPresence.objects.filter(pk=presence.pk).update(activity=activity[:64])
    return in_meeting, changes


# --- change notifications -----------------------------------------------------------------------


def notification_endpoint(connector: StatusConnector) -> str:
    """Where Graph posts this connector's notifications (and validations)."""
    return connector.notification_url.rstrip("/") + reverse("graph-notifications", args=[connector.pk])


def _graph_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _expiry(payload: dict, fallback: dt.datetime) -> dt.datetime:
    """Graph's expirationDateTime ("2026-11-30T10:05:00.0000000Z")."""
    try:
        value = dt.datetime.fromisoformat(str(payload["expirationDateTime"]))
    except (KeyError, ValueError):
        return fallback
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def sync_subscriptions(connector: StatusConnector, session: requests.Session, graph_ids: list[str], now) -> str:
    """Make the connector's presence subscriptions cover exactly
    ``graph_ids``, 650 per subscription: keep those with time left, renew
    those about to lapse, create the missing ones (Graph validates the
    endpoint meanwhile), delete those no longer wanted. A GraphError names
    what failed; what was done before it stays."""
    base = connector.graph_url.rstrip("/")
    wanted = [graph_ids[i : i + GRAPH_PRESENCE_CHUNK] for i in range(0, len(graph_ids), GRAPH_PRESENCE_CHUNK)]
    standing = {tuple(s.graph_ids): s for s in GraphSubscription.objects.filter(connector=connector)}
    counts = {"kept": 0, "renewed": 0, "created": 0, "deleted": 0}
    endpoint = notification_endpoint(connector)
    for ids in wanted:
        subscription = standing.pop(tuple(ids), None)
        expiry = now + SUBSCRIPTION_LIFETIME
        if subscription is not None and subscription.expires_at > now + RENEW_BEFORE:
            counts["kept"] += 1
            continue
        if subscription is not None:
            response = _graph(
                session,
                "PATCH",
                f"{base}/subscriptions/{subscription.subscription_id}",
                json={"expirationDateTime": _graph_time(expiry)},
            )
            if response.status_code != 404:
                expires = _expiry(response.json(), expiry)
                GraphSubscription.objects.filter(pk=subscription.pk).update(expires_at=expires)
                counts["renewed"] += 1
                continue
            subscription.delete()  # Graph no longer knows it: create it again
        client_state = secrets.token_urlsafe(48)
        quoted = ",".join(f"'{graph_id}'" for graph_id in ids)
        response = _graph(
            session,
            "POST",
            f"{base}/subscriptions",
            json={
                "changeType": "updated",
                "notificationUrl": endpoint,
                "lifecycleNotificationUrl": endpoint,
                "resource": f"/communications/presences?$filter=id in ({quoted})",
                "expirationDateTime": _graph_time(expiry),
                "clientState": client_state,
            },
        )
        if response.status_code == 404:
            raise GraphError("POST /subscriptions answered 404")
        payload = response.json()
        GraphSubscription.objects.create(
            connector=connector,
            subscription_id=str(payload["id"])[:64],
            client_state=client_state,
            graph_ids=list(ids),
            expires_at=_expiry(payload, expiry),
        )
        counts["created"] += 1
    for subscription in standing.values():
        _graph(session, "DELETE", f"{base}/subscriptions/{subscription.subscription_id}")
        subscription.delete()
        counts["deleted"] += 1
    total = len(wanted)
    done = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
    return f"{total} subscription{'s' if total != 1 else ''}" + (f" ({done})" if done else "")


def _drop_subscriptions(connector: StatusConnector, session: requests.Session | None = None) -> None:
    """Delete the connector's subscriptions (no users, or no public
    address any more); Graph's side is deleted when it can be reached,
    otherwise it lapses within the hour and its notifications are refused."""
    standing = list(GraphSubscription.objects.filter(connector=connector))
    if not standing:
        return
    try:
        session = session or _session(connector)
        base = connector.graph_url.rstrip("/")
        for subscription in standing:
            _graph(session, "DELETE", f"{base}/subscriptions/{subscription.subscription_id}")
    except GraphError:
        pass
    GraphSubscription.objects.filter(pk__in=[s.pk for s in standing]).delete()


def accepts_notifications(connector_id: int) -> bool:
    """Whether the endpoint of ``connector_id`` answers Graph's validation."""
    return StatusConnector.objects.filter(
        pk=connector_id, kind=StatusConnector.Kind.M365, enabled=True, notification_url__gt=""
    ).exists()


def _graph_id_of(item: dict) -> str:
    data = item.get("resourceData")
    if isinstance(data, dict) and isinstance(data.get("id"), str):
        return data["id"]
    resource = str(item.get("resource", ""))  # communications/presences('{id}')
    if resource.endswith("')") and "('" in resource:
        return resource[resource.index("('") + 2 : -2]
    return ""


def handle_notifications(connector_id: int, body: bytes, *, now: dt.datetime | None = None) -> tuple[int, list[str]]:
    """Graph's POST of change or lifecycle notifications: the HTTP status
    to answer (202 accepted, 400 not a notification body, 403 nothing with
    a known subscription and its clientState) and the Graph ids whose
    presence is to be read. Lifecycle events schedule the connector's next
    poll at once (it renews, creates again, reads everyone)."""
    now = now or timezone.now()
    try:
        items = json.loads(body).get("value")
    except (ValueError, AttributeError):
        return 400, []
    if not isinstance(items, list):
        return 400, []
    standing = {
        s.subscription_id: s
        for s in GraphSubscription.objects.filter(connector_id=connector_id, connector__enabled=True)
    }
    accepted, graph_ids, resync, renew, removed = 0, set(), False, [], []
    for item in items[:MAX_NOTIFICATIONS]:
        if not isinstance(item, dict):
            continue
        subscription = standing.get(str(item.get("subscriptionId", "")))
        client_state = str(item.get("clientState", ""))
        if subscription is None or not hmac.compare_digest(client_state.encode(), subscription.client_state.encode()):
            continue
        accepted += 1
        event = item.get("lifecycleEvent")
        if event == "reauthorizationRequired":
            renew.append(subscription.pk)
            resync = True
        elif event == "subscriptionRemoved":
            removed.append(subscription.pk)
            resync = True
        elif event == "missed":
            resync = True
        elif event is None:
            graph_id = _graph_id_of(item)
            if graph_id in subscription.graph_ids:
                graph_ids.add(graph_id)
    if renew:
        GraphSubscription.objects.filter(pk__in=renew).update(expires_at=now)
    if removed:
        GraphSubscription.objects.filter(pk__in=removed).delete()
    if resync:
        StatusConnector.objects.filter(pk=connector_id).update(next_poll_at=now)
    return (202 if accepted else 403), sorted(graph_ids)


def refresh_presences(connector_id: int, graph_ids: list[str], *, now: dt.datetime | None = None) -> str:
    """Read the presence of the users a change notification named and act
    on it; under the connector's poll lease (a poll running meanwhile
    reads everyone anyway: then the next tick polls again)."""
    now = now or timezone.now()
    connector = StatusConnector.objects.filter(pk=connector_id, kind=StatusConnector.Kind.M365).first()
    if connector is None or not connector.configured:
        return "gone"
    free = Q(poll_lease_until__isnull=True) | Q(poll_lease_until__lt=now)
    if not StatusConnector.objects.filter(free, pk=connector.pk).update(poll_lease_until=now + POLL_LEASE):
        StatusConnector.objects.filter(pk=connector.pk).update(next_poll_at=now)
        return "deferred: a poll of this connector is running; the next tick reads everyone"
    try:
        by_graph_id = {
            p.external_id: p
            for p in MeetingPresence.objects.filter(
                connector=connector, external_id__in=graph_ids[:GRAPH_PRESENCE_CHUNK]
            )
        }
        if not by_graph_id:
            return "ok: nobody to read"
        in_meeting, changes = _apply_presences(
            connector, _session(connector), connector.graph_url.rstrip("/"), by_graph_id, now
        )
        return f"ok: {len(by_graph_id)} users notified, {in_meeting} in a meeting, {changes} changes"
    except Throttled as exc:
        StatusConnector.objects.filter(pk=connector.pk).update(next_poll_at=now + dt.timedelta(seconds=exc.retry_after))
        return f"throttled: {exc}"
    except GraphError as exc:
        StatusConnector.objects.filter(pk=connector.pk).update(next_poll_at=now)  # the poll reads everyone
        return f"error: {exc}"
    finally:
        StatusConnector.objects.filter(pk=connector.pk).update(poll_lease_until=None)
