"""The status webhook under hostile input: malformed headers, replays,
oversized, deep or badly typed bodies each get a JSON 4xx and change
nothing; a captured "meeting started" cannot be played back after "ended"."""

import datetime as dt
import json

import pytest

from profiles.automation import triggers
from profiles.automation.connectors.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from profiles.models import StatusConnector, WebhookReceipt
from tests.commits import commit_each_post
from tests.factories import make_user, profile_named
from tests.security import db_fingerprint
from tests.test_webhook import NOW, SECRET, _profile

pytestmark = pytest.mark.django_db
TS = str(int(NOW.timestamp()))
STARTED = {"event": "meeting_started", "email": "alice@example.com"}
ENDED = {"event": "meeting_ended", "email": "alice@example.com"}


@pytest.fixture
def hook():
    return StatusConnector.objects.create(name="Hook", kind=StatusConnector.Kind.WEBHOOK, webhook_secret=SECRET)


@pytest.fixture
def client(client, django_capture_on_commit_callbacks):
    """Each POST commits as in production: its on-commit callbacks (an
    accepted event's switch and converge) run when the request ends."""
    return commit_each_post(client, django_capture_on_commit_callbacks)


@pytest.fixture
def alice(hook, time_machine, django_capture_on_commit_callbacks):
    time_machine.move_to(NOW, tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        user = make_user("alice", "1000")
        triggers.create_meeting_trigger(user=user, profile=profile_named(user, "In a meeting"))
    return user


def _send(client, hook, body: bytes, *, timestamp=TS, signature=None, content_type="application/json"):
    headers = {
        f"HTTP_{TIMESTAMP_HEADER.upper().replace('-', '_')}": timestamp,
        f"HTTP_{SIGNATURE_HEADER.upper().replace('-', '_')}": signature or sign(SECRET, timestamp, body),
    }
    return client.post(f"/hooks/status/{hook.pk}/", data=body, content_type=content_type, **headers)


def _refused(response, status: int, words: str):
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert words in response.json()["error"]


@pytest.mark.parametrize(
    ("signature", "words"),
    [
        ("sha256=" + "é" * 64, "64 hexadecimal digits"),
        ("sha256=" + "0" * 63, "64 hexadecimal digits"),
        ("md5=" + "0" * 64, "64 hexadecimal digits"),
        ("sha256=" + "g" * 64, "64 hexadecimal digits"),
    ],
)
def test_malformed_signature_headers_are_400(client, hook, alice, signature, words):
    before = db_fingerprint()
    _refused(_send(client, hook, json.dumps(STARTED).encode(), signature=signature), 400, words)
    assert db_fingerprint() == before


@pytest.mark.parametrize("timestamp", ["9" * 400, "-5", "1e9", "１２３"])
def test_malformed_timestamps_are_400(client, hook, alice, timestamp):
    before = db_fingerprint()
    _refused(_send(client, hook, json.dumps(STARTED).encode(), timestamp=timestamp), 400, "Unix seconds")
    assert db_fingerprint() == before


def test_a_replayed_request_is_refused(client, hook, alice):
    started = json.dumps(STARTED).encode()
    assert _send(client, hook, started).status_code == 200
    assert _send(client, hook, json.dumps(ENDED).encode(), timestamp=str(int(TS) + 5)).status_code == 200
    assert _profile(alice) == "In the office"
    _refused(_send(client, hook, started), 409, "already received")
    assert _profile(alice) == "In the office"


def test_an_event_older_than_the_last_accepted_is_refused(client, hook, alice):
    assert _send(client, hook, json.dumps(ENDED).encode(), timestamp=TS).status_code == 200
    before = db_fingerprint()
    _refused(_send(client, hook, json.dumps(STARTED).encode(), timestamp=str(int(TS) - 10)), 409, "out of date")
    assert _profile(alice) == "In the office"
    assert db_fingerprint() == before


def test_receipts_are_dropped_once_the_window_has_passed(client, hook, alice, time_machine, settings):
    assert _send(client, hook, json.dumps(STARTED).encode()).status_code == 200
    assert WebhookReceipt.objects.count() == 1
    later = NOW + dt.timedelta(seconds=settings.STATUS_WEBHOOK_REPLAY_SECONDS + 10)
    time_machine.move_to(later, tick=False)
    response = _send(client, hook, json.dumps(ENDED).encode(), timestamp=str(int(later.timestamp())))
    assert response.status_code == 200
    assert list(WebhookReceipt.objects.values_list("sent_at", flat=True)) == [later]


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({"event": "meeting_started", "email": "alice@example.com\u0000"}, "control characters"),
        ({"event": "meeting_started", "extension": "10\u000000"}, "control characters"),
        ({**STARTED, "activity": "In\u0000AMeeting"}, "control characters"),
        ({"event": "meeting_started", "email": ["alice@example.com"]}, "flat JSON object"),
        ({"event": "meeting_started", "email": True}, "must be a string"),
        ({**STARTED, "activity": {"a": 1}}, "flat JSON object"),
        ({"event": "meeting_started", "email": "a" * 300 + "@example.com"}, "longer than"),
        ({**STARTED, **{f"k{i}": i for i in range(20)}}, "at most 16 fields"),
        ({"event": ["meeting_started"], "email": "alice@example.com"}, "flat JSON object"),
    ],
)
def test_badly_typed_or_sized_values_are_400(client, hook, alice, payload, words):
    before = db_fingerprint()
    _refused(_send(client, hook, json.dumps(payload).encode()), 400, words)
    assert db_fingerprint() == before


def test_deeply_nested_json_is_400(client, hook, alice):
    body = b'{"event": "meeting_started", "x": ' + b"[" * 7000 + b"]" * 7000 + b"}"
    _refused(_send(client, hook, body), 400, "")


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded", "text/plain"])
def test_a_3_mb_body_is_a_json_4xx(client, hook, alice, content_type):
    body = b'{"event": "meeting_started", "pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    response = _send(client, hook, body, content_type=content_type)
    assert 400 <= response.status_code < 500
    assert response["Content-Type"] == "application/json"
    assert _profile(alice) == "In the office"


def test_the_body_must_be_declared_as_json(client, hook, alice):
    _refused(_send(client, hook, json.dumps(STARTED).encode(), content_type="text/plain"), 415, "application/json")
    assert _profile(alice) == "In the office"


def test_other_methods_get_a_json_405(client, hook):
    response = client.get(f"/hooks/status/{hook.pk}/")
    _refused(response, 405, "POST")
    assert response["Allow"] == "POST"
