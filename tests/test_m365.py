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
    assert result == {"Teams": teams.status}
    assert teams.status.startswith("error: token request to https://127.0.0.1:9 failed: ConnectionError")
    assert teams.checked_at is not None
    assert _profile(alice) == "In the office"


def test_connector_without_meeting_triggers_polls_nobody(teams):
    assert connectors.poll_m365(teams) == "ok: no user has a meeting trigger on this connector"
    assert FakeMicrosoft.log == []
