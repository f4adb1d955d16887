"""The Microsoft 365 status connector against a local HTTPS server that
answers like Microsoft's token endpoint and Graph (documented shapes:
OpenID configuration, client-credentials token, GET /users/{upn},
POST /communications/getPresencesByUserId)."""

import datetime as dt
import ipaddress
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from profiles.automation import triggers
from profiles.automation.connectors import m365 as connectors
from profiles.automation.tasks import poll_status_connectors
from profiles.models import MeetingPresence, Selection, StatusConnector
from tests.factories import make_user, profile_named

pytestmark = pytest.mark.django_db(transaction=True)

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

    def do_POST(self):
        path = urlsplit(self.path).path
        self.log.append(f"POST {path}")
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
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
