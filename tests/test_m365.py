"""The Microsoft 365 status connector against a local HTTPS server that
answers like Microsoft's token endpoint and Graph (documented shapes:
OpenID configuration, client-credentials token, GET /users/{upn},
POST /communications/getPresencesByUserId, and the change notifications:
POST/PATCH/DELETE /subscriptions, the validationToken handshake Graph makes
against the notification URL before it creates a subscription, and the
change and lifecycle notifications it posts there)."""

import datetime as dt
import ipaddress
import json
import ssl
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.urls import reverse

from profiles.automation import triggers
from profiles.automation.connectors import m365 as connectors
from profiles.automation.tasks import poll_status_connectors
from profiles.models import MeetingPresence, Selection, StatusConnector
from tests.ami_server import QUICK_STOP
from tests.factories import make_user, profile_named

pytestmark = pytest.mark.django_db

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "66666666-7777-8888-9999-000000000000"
SECRET = "client-secret-value"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.e30."
GRAPH_IDS = {"alice@example.com": "a1b2c3d4-0000-0000-0000-00000000a11c"}


def _certificate(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class FakeMicrosoft(BaseHTTPRequestHandler):
    """Token endpoint and Graph, answering with the documented shapes."""

    presence: dict[str, str] = {}
    log: list[str] = []
    throttle: str | None = None  # answer getPresencesByUserId with 429 and this Retry-After
    batches: list[int] = []
    subscriptions: dict[str, dict] = {}  # Graph's side of the change notifications
    validations: list[tuple[str, int, str, bool]] = []  # (url, status, content type, token echoed)

    def log_message(self, *args):  # keep the test output quiet
        pass

    def _json(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._json(401, {"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}})
            return False
        return True

    def do_GET(self):
        path = urlsplit(self.path).path
        self.log.append(f"GET {path}")
        base = f"https://127.0.0.1:{self.server.server_port}"
        if path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
            return self._json(
                200,
                {
                    "token_endpoint": f"{base}/{TENANT}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/{TENANT}/oauth2/v2.0/authorize",
                    "issuer": f"{base}/{TENANT}/v2.0",
                    "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
                },
            )
        if path.startswith("/v1.0/users/"):
            if not self._authorised():
                return None
            upn = unquote(path.removeprefix("/v1.0/users/"))
            if upn not in GRAPH_IDS:
                return self._json(
                    404,
                    {"error": {"code": "Request_ResourceNotFound", "message": f"Resource '{upn}' does not exist."}},
                )
            return self._json(
                200,
                {"@odata.context": f"{base}/v1.0/$metadata#users(id)/$entity", "id": GRAPH_IDS[upn]},
            )
        return self._json(404, {"error": {"code": "NotFound", "message": path}})

    # --- change notifications (subscriptions) ---

    def _validate(self, url: str) -> bool:
        """Graph's handshake: POST ?validationToken=… with an empty text/plain
        body; the endpoint must answer 200, text/plain, the token as it is,
        within 10 s."""
        token = f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
        try:
            answer = requests.post(
                f"{url}?validationToken={quote(token)}",
                data=b"",
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=10,
            )
        except requests.RequestException:
            self.validations.append((url, 0, "", False))
            return False
        content_type = answer.headers.get("Content-Type", "")
        echoed = answer.text == token
        self.validations.append((url, answer.status_code, content_type, echoed))
        return answer.status_code == 200 and content_type.startswith("text/plain") and echoed

    def _expiry_error(self, value: str):
        expires = dt.datetime.fromisoformat(value)
        if expires > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=60):
            return self._json(
                400,
                {
                    "error": {
                        "code": "ExtensionError",
                        "message": "Subscription expiration can only be 60 minutes in the future.",
                    }
                },
            )
        return None

    def _create_subscription(self, request: dict):
        resource = request.get("resource", "")
        prefix = "/communications/presences?$filter=id in ("
        ids = [i.strip().strip("'") for i in resource.removeprefix(prefix).rstrip(")").split(",")]
        if (
            request.get("changeType") != "updated"
            or not resource.startswith(prefix)
            or not 1 <= len(ids) <= 650
            or not request.get("clientState")
            or len(request["clientState"]) > 128
        ):
            return self._json(400, {"error": {"code": "InvalidRequest", "message": f"Invalid request: {request}"}})
        if self._expiry_error(request["expirationDateTime"]):
            return None
        for url in {request["notificationUrl"], request.get("lifecycleNotificationUrl") or request["notificationUrl"]}:
            if not self._validate(url):
                return self._json(
                    400,
                    {
                        "error": {
                            "code": "InvalidRequest",
                            "message": "Subscription validation request failed. Notification endpoint must respond "
                            "with 200 OK to validation request.",
                        }
                    },
                )
        subscription = {
            "@odata.context": "https://graph/v1.0/$metadata#subscriptions/$entity",
            "id": str(uuid.uuid4()),
            "resource": resource,
            "applicationId": CLIENT_ID,
            "changeType": "updated",
            "clientState": request["clientState"],
            "notificationUrl": request["notificationUrl"],
            "lifecycleNotificationUrl": request.get("lifecycleNotificationUrl"),
            "expirationDateTime": request["expirationDateTime"],
            "creatorId": CLIENT_ID,
            "includeResourceData": False,
            "latestSupportedTlsVersion": "v1_2",
            "ids": ids,  # not Graph's: what the fake notifies about
        }
        self.subscriptions[subscription["id"]] = subscription
        return self._json(201, {k: v for k, v in subscription.items() if k != "ids"})

    def do_PATCH(self):
        path = urlsplit(self.path).path
        self.log.append(f"PATCH {path}")
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if not self._authorised():
            return None
        subscription = self.subscriptions.get(path.removeprefix("/v1.0/subscriptions/"))
        if subscription is None:
            return self._json(404, {"error": {"code": "ResourceNotFound", "message": "The object was not found."}})
        if self._expiry_error(body["expirationDateTime"]):
            return None
        subscription["expirationDateTime"] = body["expirationDateTime"]
        return self._json(200, {k: v for k, v in subscription.items() if k != "ids"})

    def do_DELETE(self):
        path = urlsplit(self.path).path
        self.log.append(f"DELETE {path}")
        if not self._authorised():
            return None
        if self.subscriptions.pop(path.removeprefix("/v1.0/subscriptions/"), None) is None:
            return self._json(404, {"error": {"code": "ResourceNotFound", "message": "The object was not found."}})
        self.send_response(204)
        self.end_headers()
        return None

    def do_POST(self):
        path = urlsplit(self.path).path
        self.log.append(f"POST {path}")
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if path == "/v1.0/subscriptions":
            if not self._authorised():
                return None
            return self._create_subscription(json.loads(body))
        if path == f"/{TENANT}/oauth2/v2.0/token":
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            if (form.get("grant_type"), form.get("client_id"), form.get("client_secret")) != (
                "client_credentials",
                CLIENT_ID,
                SECRET,
            ):
                return self._json(
                    401,
                    {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."},
                )
            assert "/.default" in form["scope"]
            return self._json(
                200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": TOKEN}
            )
        if path == "/v1.0/communications/getPresencesByUserId":
            if not self._authorised():
                return None
            ids = json.loads(body)["ids"]
            if self.throttle is not None:
                body = b'{"error": {"code": "TooManyRequests", "message": "Too many requests."}}'
                self.send_response(429)
                if self.throttle:
                    self.send_header("Retry-After", self.throttle)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return None
            self.batches.append(len(ids))
            return self._json(
                200,
                {
                    "value": [
                        {
                            "@odata.type": "#microsoft.graph.presence",
                            "id": graph_id,
                            "availability": "Busy" if self.presence.get(graph_id) else "Available",
                            "activity": self.presence.get(graph_id) or "Available",
                        }
                        for graph_id in ids
                    ]
                },
            )
        return self._json(404, {"error": {"code": "NotFound", "message": path}})


@pytest.fixture
def microsoft(tmp_path, monkeypatch):
    cert, key = _certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeMicrosoft)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs=QUICK_STOP, daemon=True)
    thread.start()
    # requests (used by msal and the connector) trusts the test certificate
    # and talks to 127.0.0.1 directly.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("M365_TEST_SECRET", SECRET)
    FakeMicrosoft.presence = {}
    FakeMicrosoft.log = []
    FakeMicrosoft.throttle = None
    FakeMicrosoft.batches = []
    FakeMicrosoft.subscriptions = {}
    FakeMicrosoft.validations = []
    yield f"https://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    connectors._apps.clear()


@pytest.fixture
def teams(microsoft):
    return StatusConnector.objects.create(
        name="Teams",
        kind=StatusConnector.Kind.M365,
        tenant_id=TENANT,
        client_id=CLIENT_ID,
        client_secret_env="M365_TEST_SECRET",
        authority_url=microsoft,
        graph_url=f"{microsoft}/v1.0",
    )


@pytest.fixture
def alice(teams):
    user = make_user("alice", "1000")
    triggers.create_meeting_trigger(user=user, profile=profile_named(user, "In a meeting"), connector=teams)
    return user


def _profile(user) -> str:
    return Selection.objects.select_related("profile").get(user=user).profile.name


@pytest.mark.parametrize("activity", ["InAMeeting", "InACall", "InAConferenceCall", "Presenting"])
def test_teams_meeting_switches_and_its_end_returns(teams, alice, activity):
    FakeMicrosoft.presence[GRAPH_IDS["alice@example.com"]] = activity
    status = connectors.poll_m365(teams)
    assert status == "ok: 1 users polled, 1 in a meeting, 1 changes"
    assert _profile(alice) == "In a meeting"
    presence = MeetingPresence.objects.get(user=alice)
    assert (presence.external_id, presence.in_meeting, presence.activity) == (
        GRAPH_IDS["alice@example.com"],
        True,
        activity,
    )

    FakeMicrosoft.presence.clear()
    assert connectors.poll_m365(teams) == "ok: 1 users polled, 0 in a meeting, 1 changes"
    assert _profile(alice) == "In the office"
    teams.refresh_from_db()
    assert teams.status.startswith("ok:") and teams.checked_at is not None


def test_user_id_is_resolved_once_and_the_token_reused(teams, alice):
    connectors.poll_m365(teams)
    connectors.poll_m365(teams)
    log = FakeMicrosoft.log
    assert log.count(f"GET /v1.0/users/{'alice@example.com'}") == 1
    assert log.count(f"POST /{TENANT}/oauth2/v2.0/token") == 1
    assert log.count("POST /v1.0/communications/getPresencesByUserId") == 2


def test_busy_but_not_in_a_meeting_does_not_switch(teams, alice):
    FakeMicrosoft.presence[GRAPH_IDS["alice@example.com"]] = "Busy"
    assert connectors.poll_m365(teams).startswith("ok: 1 users polled, 0 in a meeting")
    assert _profile(alice) == "In the office"


def test_user_missing_from_the_tenant_is_reported_in_the_status(teams, alice):
    bob = make_user("bob", "1001")
    triggers.create_meeting_trigger(user=bob, profile=profile_named(bob, "In a meeting"), connector=teams)
    status = connectors.poll_m365(teams)
    assert "not mapped: bob@example.com not found in the tenant" in status


def test_wrong_client_secret_is_reported_not_raised(teams, alice, monkeypatch):
    monkeypatch.setenv("M365_TEST_SECRET", "wrong")
    status = connectors.poll_m365(teams)
    assert status.startswith("error: token request refused: invalid_client: AADSTS7000215")
    teams.refresh_from_db()
    assert teams.status == status and teams.checked_at is not None


def test_missing_secret_variable_is_reported(teams, alice, monkeypatch):
    monkeypatch.delenv("M365_TEST_SECRET")
    status = connectors.poll_m365(teams)
    assert status == "error: environment variable M365_TEST_SECRET (the client secret) is not set"


def test_unreachable_microsoft_is_recorded_in_the_status_instead_of_crashing(teams, alice):
    # A port nobody listens on stands in for a machine that cannot reach Microsoft.
    StatusConnector.objects.filter(pk=teams.pk).update(authority_url="https://127.0.0.1:9")
    teams.refresh_from_db()
    result = poll_status_connectors()
    teams.refresh_from_db()
    assert result == {"queued": 1}
    assert teams.status.startswith("error: token request to https://127.0.0.1:9 failed: ConnectionError")
    assert teams.checked_at is not None
    assert _profile(alice) == "In the office"


def test_connector_without_meeting_triggers_polls_nobody(teams):
    assert connectors.poll_m365(teams) == "ok: no user has a meeting trigger on this connector"
    assert FakeMicrosoft.log == []


# --- timing: interval, 429 Retry-After, one poll in flight -------------------------------------


def test_a_poll_sets_the_next_one_at_the_connectors_interval(teams, alice):
    assert teams.poll_interval == 10
    assert connectors.due_connectors() == [teams.pk]
    connectors.poll_m365(teams)
    teams.refresh_from_db()
    assert 9 <= (teams.next_poll_at - teams.checked_at).total_seconds() <= 10
    assert connectors.due_connectors() == []
    assert connectors.due_connectors(teams.next_poll_at) == [teams.pk]
    assert teams.poll_lease_until is None


def test_the_beat_tick_polls_only_due_connectors(teams, alice):
    assert poll_status_connectors() == {"queued": 1}
    assert poll_status_connectors() == {"queued": 0}
    assert FakeMicrosoft.log.count("POST /v1.0/communications/getPresencesByUserId") == 1


@pytest.mark.parametrize(("header", "wait"), [("120", 120), ("999999", 3600), (None, 30), ("soon", 30)])
def test_429_waits_as_long_as_graph_asks(teams, alice, header, wait):
    FakeMicrosoft.throttle = header or ""
    status = connectors.poll_m365(teams)
    assert status.startswith("throttled: POST ")
    assert f"answered 429 Too Many Requests; retry after {wait} s" in status
    teams.refresh_from_db()
    assert wait - 1 <= (teams.next_poll_at - teams.checked_at).total_seconds() <= wait
    assert _profile(alice) == "In the office"


def test_429_retry_after_as_an_http_date():
    now = dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC)
    assert connectors.retry_after_seconds("Mon, 30 Nov 2026 07:01:30 GMT", now) == 90


def test_only_one_poll_of_a_connector_runs_at_a_time(teams, alice):
    from django.utils import timezone

    lease = timezone.now() + dt.timedelta(minutes=1)
    StatusConnector.objects.filter(pk=teams.pk).update(poll_lease_until=lease)
    assert connectors.poll_m365(teams) == "skipped: a poll of this connector is already running"
    assert FakeMicrosoft.log == []
    # A lease left behind by a dead worker expires.
    StatusConnector.objects.filter(pk=teams.pk).update(poll_lease_until=timezone.now() - dt.timedelta(seconds=1))
    assert connectors.poll_m365(teams).startswith("ok:")


@pytest.mark.django_db(transaction=True)  # two threads, two connections: they see only committed rows
def test_two_polls_at_once_send_one_round_to_graph(teams, alice):
    barrier = threading.Barrier(2)
    results = []

    def poll():
        from django.db import connections

        try:
            barrier.wait(10)
            results.append(connectors.poll_m365(StatusConnector.objects.get(pk=teams.pk)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=poll) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 2
    assert sum(r == "skipped: a poll of this connector is already running" for r in results) == 1
    assert FakeMicrosoft.log.count("POST /v1.0/communications/getPresencesByUserId") == 1


def test_presences_are_asked_in_batches_of_650(teams, alice):
    from django.contrib.auth import get_user_model

    from profiles.models import MeetingPresence, PresenceProfile, Trigger

    User = get_user_model()
    users = User.objects.bulk_create([User(username=f"u{i}", email=f"u{i}@example.com") for i in range(700)])
    profiles = PresenceProfile.objects.bulk_create(
        [PresenceProfile(owner=u, kind=PresenceProfile.Kind.PERSONAL, name="In a meeting") for u in users]
    )
    Trigger.objects.bulk_create([Trigger(profile=p, kind=Trigger.Kind.MEETING, connector=teams) for p in profiles])
    MeetingPresence.objects.bulk_create(
        [MeetingPresence(connector=teams, user=u, external_id=f"id-{u.pk}") for u in users]
    )
    status = connectors.poll_m365(teams)
    assert status.startswith("ok: 701 users polled")
    assert FakeMicrosoft.batches == [650, 51]


# --- change notifications: subscriptions, the validation handshake, notifications ---------------

ALICE_ID = GRAPH_IDS["alice@example.com"]


@pytest.fixture
def pushed(teams, alice, live_server):
    """The connector with the portal's address (the live server) for
    Graph's notifications, after a first poll made the subscription."""
    StatusConnector.objects.filter(pk=teams.pk).update(notification_url=live_server.url)
    teams.refresh_from_db()
    status = connectors.poll_m365(teams)
    assert status.endswith("; change notifications: 1 subscription (1 created)"), status
    return teams


def _graph_posts(url: str, items: list[dict]) -> requests.Response:
    """POST notifications as Graph does (its JSON, its content type)."""
    return requests.post(
        url,
        data=json.dumps({"value": items}),
        headers={"Content-Type": "application/json; charset=utf-8"},
        timeout=10,
    )


def _change(subscription: dict, graph_id: str, client_state: str | None = None) -> dict:
    return {
        "subscriptionId": subscription["id"],
        "clientState": subscription["clientState"] if client_state is None else client_state,
        "changeType": "updated",
        "resource": f"communications/presences('{graph_id}')",
        "subscriptionExpirationDateTime": subscription["expirationDateTime"],
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.presence",
            "@odata.id": f"communications/presences('{graph_id}')",
            "id": graph_id,
        },
        "tenantId": TENANT,
    }


def _lifecycle(subscription: dict, event: str) -> dict:
    return {
        "subscriptionId": subscription["id"],
        "subscriptionExpirationDateTime": subscription["expirationDateTime"],
        "tenantId": TENANT,
        "clientState": subscription["clientState"],
        "lifecycleEvent": event,
    }


def _only_subscription() -> dict:
    (subscription,) = FakeMicrosoft.subscriptions.values()
    return subscription


def test_a_subscription_is_made_after_graph_validated_the_endpoint(pushed, live_server):
    from profiles.models import GraphSubscription

    subscription = _only_subscription()
    endpoint = f"{live_server.url}/hooks/graph/{pushed.pk}/"
    assert (subscription["notificationUrl"], subscription["lifecycleNotificationUrl"]) == (endpoint, endpoint)
    assert subscription["resource"] == f"/communications/presences?$filter=id in ('{ALICE_ID}')"
    # The portal answered Graph's validationToken: 200, text/plain, the token itself.
    assert FakeMicrosoft.validations == [(endpoint, 200, "text/plain; charset=utf-8", True)]
    stored = GraphSubscription.objects.get(connector=pushed)
    assert (stored.subscription_id, stored.client_state, stored.graph_ids) == (
        subscription["id"],
        subscription["clientState"],
        [ALICE_ID],
    )
    assert len(stored.client_state) >= 64
    # With the subscription standing, the full poll slows down to a resync.
    pushed.refresh_from_db()
    assert (pushed.next_poll_at - pushed.checked_at).total_seconds() >= connectors.PUSH_RESYNC_SECONDS - 1
    # The next poll keeps it: no second subscription, no renewal yet.
    assert connectors.poll_m365(pushed).endswith("; change notifications: 1 subscription (1 kept)")
    assert len(FakeMicrosoft.subscriptions) == 1


def test_validation_handshake_on_the_endpoint(client, teams):
    url = reverse("graph-notifications", args=[teams.pk])
    token = "Validation: Testing client application reachability for subscription Request-Id: 42"
    # Not offered while the connector has no public address.
    assert client.post(f"{url}?validationToken={quote(token)}", content_type="text/plain").status_code == 404
    StatusConnector.objects.filter(pk=teams.pk).update(notification_url="https://portal.example.com")
    response = client.post(f"{url}?validationToken={quote(token)}", content_type="text/plain")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == token
    assert client.get(url).status_code == 405
    assert client.post(f"{url}?validationToken=", content_type="text/plain").status_code == 400
    unknown = reverse("graph-notifications", args=[999999])
    assert client.post(f"{unknown}?validationToken=x", content_type="text/plain").status_code == 404


def test_change_notification_switches_and_returns_reading_only_that_user(pushed, live_server):
    subscription = _only_subscription()
    FakeMicrosoft.log.clear()
    FakeMicrosoft.presence[ALICE_ID] = "InAMeeting"
    answer = _graph_posts(subscription["notificationUrl"], [_change(subscription, ALICE_ID)])
    assert answer.status_code == 202
    assert _profile(pushed.presences.get().user) == "In a meeting"
    assert FakeMicrosoft.batches[-1] == 1  # one id read, the notified one
    FakeMicrosoft.presence.clear()
    assert _graph_posts(subscription["notificationUrl"], [_change(subscription, ALICE_ID)]).status_code == 202
    assert _profile(pushed.presences.get().user) == "In the office"
    assert FakeMicrosoft.log.count("POST /v1.0/communications/getPresencesByUserId") == 2


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("wrong state", 403),
        ("unknown subscription", 403),
        ("not json", 400),
        ("no value", 400),
    ],
)
def test_a_notification_without_the_right_client_state_changes_nothing(pushed, body, status):
    subscription = _only_subscription()
    FakeMicrosoft.presence[ALICE_ID] = "InAMeeting"
    FakeMicrosoft.log.clear()
    url = subscription["notificationUrl"]
    headers = {"Content-Type": "application/json"}
    if body == "wrong state":
        answer = _graph_posts(url, [_change(subscription, ALICE_ID, client_state="guessed")])
    elif body == "unknown subscription":
        answer = _graph_posts(url, [_change({**subscription, "id": str(uuid.uuid4())}, ALICE_ID)])
    elif body == "not json":
        answer = requests.post(url, data=b"{value", headers=headers, timeout=10)
    else:
        answer = requests.post(url, data=b'{"items": []}', headers=headers, timeout=10)
    assert answer.status_code == status
    assert FakeMicrosoft.log == []
    assert _profile(pushed.presences.get().user) == "In the office"


def test_renewal_before_the_subscription_lapses(pushed):
    from django.utils import timezone

    from profiles.models import GraphSubscription

    soon = timezone.now() + dt.timedelta(minutes=10)
    GraphSubscription.objects.filter(connector=pushed).update(expires_at=soon)
    assert connectors.poll_m365(pushed).endswith("; change notifications: 1 subscription (1 renewed)")
    subscription = _only_subscription()
    assert any(line.startswith("PATCH /v1.0/subscriptions/") for line in FakeMicrosoft.log)
    renewed = GraphSubscription.objects.get(connector=pushed).expires_at
    assert renewed > soon + dt.timedelta(minutes=40)
    assert renewed == dt.datetime.fromisoformat(subscription["expirationDateTime"])


def test_lifecycle_reauthorization_required_renews_at_the_next_tick(pushed):
    subscription = _only_subscription()
    answer = _graph_posts(
        subscription["lifecycleNotificationUrl"], [_lifecycle(subscription, "reauthorizationRequired")]
    )
    assert answer.status_code == 202
    assert connectors.due_connectors() == [pushed.pk]
    assert poll_status_connectors() == {"queued": 1}
    pushed.refresh_from_db()
    assert pushed.status.endswith("; change notifications: 1 subscription (1 renewed)")


def test_lifecycle_subscription_removed_makes_a_new_one(pushed):
    from profiles.models import GraphSubscription

    subscription = _only_subscription()
    FakeMicrosoft.subscriptions.clear()  # Graph removed it
    answer = _graph_posts(subscription["lifecycleNotificationUrl"], [_lifecycle(subscription, "subscriptionRemoved")])
    assert answer.status_code == 202
    assert not GraphSubscription.objects.exists()
    assert poll_status_connectors() == {"queued": 1}
    assert GraphSubscription.objects.get().subscription_id == _only_subscription()["id"] != subscription["id"]


def test_lifecycle_missed_reads_everyone_at_the_next_tick(pushed):
    subscription = _only_subscription()
    FakeMicrosoft.presence[ALICE_ID] = "InACall"
    assert (
        _graph_posts(subscription["lifecycleNotificationUrl"], [_lifecycle(subscription, "missed")]).status_code == 202
    )
    assert _profile(pushed.presences.get().user) == "In the office"  # nothing read yet
    assert poll_status_connectors() == {"queued": 1}
    assert _profile(pushed.presences.get().user) == "In a meeting"


def test_an_address_graph_cannot_validate_keeps_the_fast_poll(teams, alice):
    # Nobody listens there: Graph's validation fails, so does the subscription.
    StatusConnector.objects.filter(pk=teams.pk).update(notification_url="http://127.0.0.1:9")
    teams.refresh_from_db()
    status = connectors.poll_m365(teams)
    assert status.startswith("ok: 1 users polled")
    assert "; change notifications failed, polling every 10 s meanwhile: POST " in status
    assert "Subscription validation request failed" in status
    teams.refresh_from_db()
    assert (teams.next_poll_at - teams.checked_at).total_seconds() <= 10
    assert FakeMicrosoft.subscriptions == {}


def test_subscriptions_go_when_the_address_or_the_users_go(pushed, live_server):
    from profiles.models import GraphSubscription, Trigger

    StatusConnector.objects.filter(pk=pushed.pk).update(notification_url="")
    pushed.refresh_from_db()
    assert "change notifications" not in connectors.poll_m365(pushed)
    assert FakeMicrosoft.subscriptions == {} and not GraphSubscription.objects.exists()
    # Back on, then the last meeting trigger removed.
    StatusConnector.objects.filter(pk=pushed.pk).update(notification_url=live_server.url)
    pushed.refresh_from_db()
    assert connectors.poll_m365(pushed).endswith("(1 created)")
    Trigger.objects.filter(connector=pushed).delete()
    assert connectors.poll_m365(pushed) == "ok: no user has a meeting trigger on this connector"
    assert FakeMicrosoft.subscriptions == {} and not GraphSubscription.objects.exists()


def test_notification_address_must_be_https_except_on_this_machine():
    from django.core.exceptions import ValidationError

    from profiles.models import validate_notification_url

    validate_notification_url("https://portal.example.com")
    validate_notification_url("http://127.0.0.1:8000")
    for bad in ("http://portal.example.com", "https://portal.example.com/?x=1"):
        with pytest.raises(ValidationError):
            validate_notification_url(bad)
