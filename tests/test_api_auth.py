"""API authentication: personal tokens (shown once, stored hashed, revoked,
stopped with their deactivated user), the browser session with CSRF, the
per-token rate limit, and the tokens page."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from api import tokens
from api.models import ApiToken
from tests.api_support import ApiClient
from tests.factories import make_user

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def alice():
    return make_user("alice", "1000")


def test_anonymous_gets_401_json_with_a_code():
    response = Client().get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_token_is_stored_hashed_and_shown_once(alice):
    new = tokens.create_token(user=alice, name="Laptop")
    stored = ApiToken.objects.get(pk=new.token.pk)
    assert new.raw.startswith("pp_") and len(new.raw) > 40
    assert new.raw not in (stored.key_hash, stored.prefix)
    assert stored.key_hash == tokens.hash_token(new.raw)
    assert ApiClient(raw=new.raw).get("/api/v1/me").json()["user"]["username"] == "alice"


def test_a_wrong_or_malformed_token_is_401(alice):
    tokens.create_token(user=alice, name="Laptop")
    for raw in ("pp_nope", "x" * 500, "", "pp_" + "\u00e9" * 30):
        assert ApiClient(raw=raw).get("/api/v1/me").status_code == 401


def test_token_lookup_is_one_indexed_read(alice, django_assert_num_queries, settings):
    settings.API_TOKEN_TOUCH_SECONDS = 3600
    client = ApiClient(alice)
    client.get("/api/v1/teams")  # first use writes last-used
    # The token with its user (one query), then the teams; the rate-limit
    # counter lives in the cache, not the database.
    with django_assert_num_queries(2) as captured:
        assert client.get("/api/v1/teams").status_code == 200
    token_queries = [q["sql"] for q in captured.captured_queries if "api_apitoken" in q["sql"]]
    assert len(token_queries) == 1 and "key_hash" in token_queries[0] and "auth_user" in token_queries[0]


def test_last_use_time_and_address_are_recorded(alice):
    client = ApiClient(alice)
    client.get("/api/v1/me", REMOTE_ADDR="192.0.2.7")
    token = ApiToken.objects.get(user=alice)
    assert token.last_used_at is not None
    assert token.last_used_ip == "192.0.2.7"


def test_a_revoked_token_stops_at_once(alice):
    new = tokens.create_token(user=alice, name="Phone")
    client = ApiClient(raw=new.raw)
    assert client.get("/api/v1/me").status_code == 200
    assert tokens.revoke_token(token=new.token)
    assert client.get("/api/v1/me").status_code == 401


def test_a_deactivated_users_tokens_stop_at_once(alice):
    client = ApiClient(alice)
    assert client.get("/api/v1/me").status_code == 200
    User.objects.filter(pk=alice.pk).update(is_active=False)
    assert client.get("/api/v1/me").status_code == 401


def test_rate_limit_answers_429_with_retry_after(alice, settings):
    settings.API_RATE_LIMIT = "3/m"
    client = ApiClient(alice)
    assert [client.get("/api/v1/teams").status_code for _ in range(3)] == [200, 200, 200]
    response = client.get("/api/v1/teams")
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60
    # Per token: another token of the same user has its own budget.
    assert ApiClient(alice).get("/api/v1/teams").status_code == 200


def test_browser_session_works_for_reads_and_needs_csrf_for_writes(alice):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.get("/api/v1/me").status_code == 200
    refused = browser.post("/api/v1/me/reapply", content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf_failed"
    browser.get("/api-tokens/")  # sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    ok = browser.post("/api/v1/me/reapply", content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert ok.status_code == 200


# --- the tokens page -------------------------------------------------------------------


def test_tokens_page_creates_shows_once_and_revokes(alice):
    browser = Client()
    browser.force_login(alice)
    page = browser.post("/api-tokens/", {"name": "Work laptop"})
    assert page.status_code == 200
    token = ApiToken.objects.get(user=alice)
    raw = page.context["new_token"].raw
    assert raw.encode() in page.content
    again = browser.get("/api-tokens/")
    assert raw.encode() not in again.content and b"Work laptop" in again.content
    assert page["Cache-Control"] == "no-store"
    browser.post(f"/api-tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert ApiClient(raw=raw).get("/api/v1/me").status_code == 401


def test_tokens_page_names_the_field_when_the_name_is_missing(alice):
    browser = Client()
    browser.force_login(alice)
    page = browser.post("/api-tokens/", {"name": "  "})
    assert page.status_code == 422
    assert b"Give the token a name" in page.content
    assert not ApiToken.objects.exists()


def test_bob_cannot_revoke_alices_token(alice):
    bob = make_user("bob", "1001")
    token = tokens.create_token(user=alice, name="Laptop").token
    browser = Client()
    browser.force_login(bob)
    assert browser.post(f"/api-tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_tokens_page_needs_login():
    assert Client().get("/api-tokens/").status_code == 302


def test_staff_revoke_tokens_in_the_admin(alice):
    admin = User.objects.create_superuser("admin", "admin@example.com", "pw")
    token = tokens.create_token(user=alice, name="Laptop").token
    browser = Client()
    browser.force_login(admin)
    response = browser.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}, follow=True)
    assert response.status_code == 200
    token.refresh_from_db()
    assert token.revoked_at is not None
    listing = browser.get("/admin/api/apitoken/")
    assert token.key_hash.encode() not in listing.content


def test_docs_page_loads_nothing_from_the_network():
    page = Client().get("/api/v1/docs")
    assert page.status_code == 200
    assert b"http://" not in page.content and b"https://" not in page.content
    assert b"/static/ninja/swagger-ui-bundle.js" in page.content
    schema = Client().get("/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/me/switch" in schema["paths"]


def test_every_route_refuses_the_anonymous_with_401():
    schema = Client().get("/api/v1/openapi.json").json()
    client = Client()
    checked = 0
    for path, operations in schema["paths"].items():
        url = path.replace("{profile_id}", "1").replace("{action_id}", "1").replace("{trigger_id}", "1")
        url = url.replace("{session_id}", "1")
        for method in operations:
            response = getattr(client, method)(url, content_type="application/json")
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.json()["code"] == "not_authenticated"
            checked += 1
    assert checked >= 30
