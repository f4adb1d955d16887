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
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from urllib.parse import quote, urlsplit

import msal
import requests
from django.utils import timezone

from profiles.automation import meetings
from profiles.models import MeetingPresence, StatusConnector, Trigger

MEETING_ACTIVITIES = {"InAMeeting", "InACall", "InAConferenceCall", "Presenting"}
GRAPH_PRESENCE_CHUNK = 650  # Graph's limit of ids per getPresencesByUserId
HTTP_TIMEOUT = 10


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
                apply = meetings.meeting_started if meeting else meetings.meeting_ended
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
