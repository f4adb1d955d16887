"""The signed status webhook: HMAC-SHA256 over "<timestamp>.<body>", a
replay window, clear 4xx answers that change nothing."""

import datetime as dt
import json

import pytest

from profiles.automation import triggers
from profiles.automation.connectors.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from profiles.models import MeetingPresence, Selection, StatusConnector, SwitchEvent
from tests.factories import make_user, profile_named

pytestmark = pytest.mark.django_db(transaction=True)

NOW = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.UTC)
SECRET = "a-long-shared-secret"


@pytest.fixture
def hook():
    return StatusConnector.objects.create(name="Hook", kind=StatusConnector.Kind.WEBHOOK, webhook_secret=SECRET)


@pytest.fixture
def alice(hook, time_machine):
    time_machine.move_to(NOW, tick=False)
    user = make_user("alice", "1000")
    triggers.create_meeting_trigger(user=user, profile=profile_named(user, "In a meeting"))
    return user


def _post(client, hook, payload, *, secret=SECRET, timestamp=None, signature=None, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    timestamp = str(int(NOW.timestamp())) if timestamp is None else timestamp
    headers = {
        f"HTTP_{TIMESTAMP_HEADER.upper().replace('-', '_')}": timestamp,
        f"HTTP_{SIGNATURE_HEADER.upper().replace('-', '_')}": signature or sign(secret, timestamp, body),
    }
    return client.post(f"/hooks/status/{hook.pk}/", data=body, content_type="application/json", **headers)


def _profile(user) -> str:
    return Selection.objects.select_related("profile").get(user=user).profile.name


def _nothing_changed(user):
    assert _profile(user) == "In the office"
    assert not MeetingPresence.objects.exists()
    assert not SwitchEvent.objects.filter(user=user, source="meeting").exists()


def test_meeting_started_and_ended_by_email_switch_and_return(client, hook, alice):
    response = _post(client, hook, {"event": "meeting_started", "email": "ALICE@example.com"})
    assert response.status_code == 200
    assert response.json()["outcome"] == "applied"
    assert _profile(alice) == "In a meeting"
    response = _post(client, hook, {"event": "meeting_ended", "email": "alice@example.com"})
    assert response.status_code == 200
    assert _profile(alice) == "In the office"


def test_user_can_be_named_by_extension(client, hook, alice):
    response = _post(client, hook, {"event": "meeting_started", "extension": "1000"})
    assert response.status_code == 200
    assert _profile(alice) == "In a meeting"


def test_bad_signature_is_refused_and_changes_nothing(client, hook, alice):
    response = _post(client, hook, {"event": "meeting_started", "email": "alice@example.com"}, secret="wrong")
    assert response.status_code == 401
    assert "signature" in response.json()["error"]
    _nothing_changed(alice)


def test_signature_over_another_body_is_refused(client, hook, alice):
    timestamp = str(int(NOW.timestamp()))
    signed_for = json.dumps({"event": "meeting_ended", "email": "alice@example.com"}).encode()
    response = _post(
        client,
        hook,
        {"event": "meeting_started", "email": "alice@example.com"},
        timestamp=timestamp,
        signature=sign(SECRET, timestamp, signed_for),
    )
    assert response.status_code == 401
    _nothing_changed(alice)


@pytest.mark.parametrize("offset", [-301, 301])
def test_stale_or_future_timestamp_is_refused(client, hook, alice, offset):
    response = _post(
        client,
        hook,
        {"event": "meeting_started", "email": "alice@example.com"},
        timestamp=str(int(NOW.timestamp()) + offset),
    )
    assert response.status_code == 401
    assert "300 seconds" in response.json()["error"]
    _nothing_changed(alice)


def test_replay_window_is_a_setting(client, hook, alice, settings):
    settings.STATUS_WEBHOOK_REPLAY_SECONDS = 600
    response = _post(
        client,
        hook,
        {"event": "meeting_started", "email": "alice@example.com"},
        timestamp=str(int(NOW.timestamp()) - 500),
    )
    assert response.status_code == 200


def test_missing_headers_are_a_clear_400(client, hook, alice):
    response = client.post(f"/hooks/status/{hook.pk}/", data=b"{}", content_type="application/json")
    assert response.status_code == 400
    assert TIMESTAMP_HEADER in response.json()["error"]
    _nothing_changed(alice)


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"event": "meeting_started", "email": "nobody@example.com"}, 404, "No user with e-mail nobody@example.com"),
        ({"event": "meeting_started", "extension": "4711"}, 404, "No user with extension 4711"),
        ({"event": "lunch", "email": "alice@example.com"}, 400, "event must be"),
        ({"event": "meeting_started"}, 400, "email or extension"),
        ([1, 2], 400, "JSON object"),
    ],
)
def test_bad_bodies_and_unknown_users_answer_4xx_and_change_nothing(client, hook, alice, payload, status, message):
    response = _post(client, hook, payload)
    assert response.status_code == status
    assert message in response.json()["error"]
    _nothing_changed(alice)


def test_body_that_is_not_json_is_refused(client, hook, alice):
    response = _post(client, hook, None, raw=b"event=meeting_started")
    assert response.status_code == 400
    assert response.json() == {"error": "The body must be JSON."}
    _nothing_changed(alice)


def test_unknown_or_disabled_connector_is_refused(client, hook, alice):
    StatusConnector.objects.filter(pk=hook.pk).update(enabled=False)
    response = _post(client, hook, {"event": "meeting_started", "email": "alice@example.com"})
    assert response.status_code == 403
    hook.pk = 9999
    response = _post(client, hook, {"event": "meeting_started", "email": "alice@example.com"})
    assert response.status_code == 404
    _nothing_changed(alice)


def test_only_post_is_answered(client, hook):
    assert client.get(f"/hooks/status/{hook.pk}/").status_code == 405


def test_user_without_a_meeting_trigger_is_acknowledged_without_a_switch(client, hook, alice):
    bob = make_user("bob", "1001")
    response = _post(client, hook, {"event": "meeting_started", "email": "bob@example.com"})
    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored"
    assert _profile(bob) == "In the office"


def test_webhook_costs_a_constant_number_of_queries(client, hook, alice, django_assert_max_num_queries):
    with django_assert_max_num_queries(60):
        response = _post(client, hook, {"event": "meeting_started", "email": "alice@example.com"})
    assert response.status_code == 200
    with django_assert_max_num_queries(10):
        response = _post(client, hook, {"event": "meeting_started", "email": "alice@example.com"}, secret="x")
    assert response.status_code == 401
