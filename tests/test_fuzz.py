"""Fuzzing (Hypothesis): hostile and random values in every field of every
user form, every admin add and change form and the status webhook never
give a server error. Each example runs in a rolled-back savepoint. Bounded:
3 examples × every form (each example posts every form once) and 40
webhook calls, derandomized so CI runs the same cases every time."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiles.automation.connectors.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from profiles.forms import ACTION_FORMS
from profiles.models import StatusConnector, Trigger
from tests.factories import profile_named
from tests.test_admin import company, company_rows, form_data  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

HOSTILE = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x1b[31m",
    "9" * 5000,
    "9" * 40,
    "-1",
    "0",
    "abc",
    "1e9",
    "NaN",
    "<script>x</script>",
    "'; DROP TABLE x; --",
    "\u202e",
    "😀" * 50,
    "x" * 10000,
    "%00",
    "../../etc/passwd",
    "{{ 7*7 }}",
    "null",
    "[]",
    "2026-02-30",
    "25:61",
    "+4930123456789012345",
]
VALUE = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=30),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)
FUZZ = settings(
    max_examples=3,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NAMES = re.compile(r'name="([^"]+)"')


def _names(html: str) -> list[str]:
    return sorted({n for n in NAMES.findall(html) if n not in ("csrfmiddlewaretoken", "viewport")})


def _post_fuzzed(client, url: str, base: dict, names: list[str], data) -> int:
    chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True)) if names else []
    values = dict(base)
    for name in chosen:
        values[name] = data.draw(VALUE)
    with transaction.atomic():
        response = client.post(url, values)
        transaction.set_rollback(True)
    assert response.status_code < 500, (url, values)
    return response.status_code


@pytest.fixture
def world(company):  # noqa: F811 (the fixture imported above)
    """alice and bob with a row in every table the admin shows (test_admin's
    fixture), a superuser, and the form fields of each page, read once."""
    alice = company["alice"]
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root")
    alice_client, root_client = Client(raise_request_exception=False), Client(raise_request_exception=False)
    alice_client.force_login(alice)
    root_client.force_login(root)
    return {"alice": alice, "alice_client": alice_client, "root_client": root_client, "pages": {}}


def _page(world, client, url):
    """(status, field names, the form's data as rendered) of a page, cached."""
    if url not in world["pages"]:
        response = client.get(url)
        base = form_data(response) if response.status_code == 200 and "adminform" in (response.context or {}) else {}
        world["pages"][url] = (response.status_code, _names(response.content.decode()), base)
    return world["pages"][url]


def _user_forms(alice) -> list[tuple[str, str]]:
    """(page showing the form, URL it posts to) for every user form."""
    meeting = profile_named(alice, "In a meeting")
    action = meeting.actions.first()
    trigger = Trigger.objects.filter(profile__owner=alice, kind=Trigger.Kind.TIME).first()
    forms = [
        ("/profiles/new/", "/profiles/new/"),
        (f"/profiles/{meeting.pk}/", f"/profiles/{meeting.pk}/"),
        (f"/actions/{action.pk}/", f"/actions/{action.pk}/"),
        (f"/profiles/{meeting.pk}/triggers/", f"/profiles/{meeting.pk}/triggers/time/"),
        (f"/triggers/{trigger.pk}/", f"/triggers/{trigger.pk}/"),
        ("/phone/1000/", "/phone/1000/"),
        (f"/profiles/{meeting.pk}/", f"/presence/select/{meeting.pk}/"),
        (f"/profiles/{meeting.pk}/", f"/profiles/{meeting.pk}/move/"),
    ]
    forms += [
        (f"/profiles/{meeting.pk}/actions/new/?type={t}", f"/profiles/{meeting.pk}/actions/new/") for t in ACTION_FORMS
    ]
    return forms


@FUZZ
@given(data=st.data())
def test_user_forms_never_fail(world, data):
    client = world["alice_client"]
    for page, url in _user_forms(world["alice"]):
        _, names, _ = _page(world, client, page)
        base = {"type": page.split("type=")[1]} if "type=" in page else {}
        _post_fuzzed(client, url, base, names + ["prompted", "dnd_message", "forward", "q"], data)


@pytest.mark.parametrize("q", ["\x00", "9" * 5000, "%", "a" * 1000, "😀", "' OR 1=1 --"])
def test_searches_never_fail(world, q):
    for url in ("/colleagues/", "/admin/devices/extension/", "/admin/profiles/presenceprofile/"):
        client = world["root_client"] if url.startswith("/admin/") else world["alice_client"]
        assert client.get(url, {"q": q, "page": q, "team": q}).status_code < 500


ADMIN_MODELS = sorted(admin.site._registry, key=lambda m: m._meta.label)


@pytest.mark.parametrize("view", ["add", "change"])
@FUZZ
@given(data=st.data())
def test_admin_forms_never_fail(world, view, data):
    client = world["root_client"]
    for model in ADMIN_MODELS:
        args = [] if view == "add" else [model._default_manager.order_by("pk").first().pk]
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)
        status, names, base = _page(world, client, url)
        if status != 200:  # read-only admins: nothing to post
            assert status == 403, url
            continue
        _post_fuzzed(client, url, base, sorted(base) or names, data)


@pytest.fixture
def hook(db):
    return StatusConnector.objects.create(name="Fuzz", kind=StatusConnector.Kind.WEBHOOK, webhook_secret="s3cret")


JSON_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.sampled_from(HOSTILE)),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.one_of(
        st.dictionaries(st.sampled_from(["event", "email", "extension", "activity", "x"]), JSON_VALUE, max_size=5).map(
            lambda d: json.dumps(d).encode()
        ),
        st.binary(max_size=200),
    ),
    timestamp=st.one_of(st.just("now"), st.sampled_from(HOSTILE), st.text(max_size=20)),
    signed=st.booleans(),
)
def test_the_webhook_never_fails(world, hook, body, timestamp, signed):
    import time

    ts = str(int(time.time())) if timestamp == "now" else timestamp
    signature = sign("s3cret", ts, body) if signed else "sha256=" + "0" * 64
    headers = {
        f"HTTP_{TIMESTAMP_HEADER.upper().replace('-', '_')}": ts.encode("utf-8", "replace").decode("latin-1"),
        f"HTTP_{SIGNATURE_HEADER.upper().replace('-', '_')}": signature,
    }
    client = Client(raise_request_exception=False)
    with transaction.atomic():
        response = client.post(f"/hooks/status/{hook.pk}/", data=body, content_type="application/json", **headers)
        transaction.set_rollback(True)
    assert response.status_code < 500
    assert response["Content-Type"] == "application/json"


# --- the client API: every operation of its schema ---------------------------------------


def _api_operations() -> list[tuple[str, str]]:
    from api.api import api

    schema = api.get_openapi_schema()
    return sorted((method.upper(), path) for path, ops in schema["paths"].items() for method in ops)


def _api_fields() -> list[str]:
    """Every property name of the API's request schemas."""
    from api.api import api

    schemas = api.get_openapi_schema()["components"]["schemas"]
    return sorted({name for schema in schemas.values() for name in schema.get("properties", {})})


API_ID = st.one_of(st.sampled_from(["9" * 40, "-1", "0", "2147483648", "9223372036854775808", "x", "%00"]), st.just(""))
API_BODY = st.one_of(
    st.dictionaries(st.sampled_from(_api_fields()), JSON_VALUE, max_size=5).map(lambda d: json.dumps(d).encode()),
    st.sampled_from([b"{", b"[1, 2", b"null", b'"x"', b"5", b'{"name": "a\\u0000b"}', b"\xff\xfe", b"{}" * 100]),
    st.binary(max_size=100),
)


@pytest.mark.parametrize(("method", "path"), _api_operations(), ids=lambda v: v)
@settings(
    max_examples=6,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ids=st.lists(API_ID, min_size=3, max_size=3),
    body=API_BODY,
    query=st.dictionaries(st.sampled_from(["q", "team", "page", "x"]), st.sampled_from(HOSTILE), max_size=2),
)
def test_the_api_never_fails(world, method, path, ids, body, query):
    """Broken JSON, bodies that are not objects, NUL bytes, numbers too big
    for any column, hostile ids and query values: a 4xx in the API's shape
    (a code and a message), never a server error."""
    from api import tokens

    raw = world.setdefault("token", tokens.create_token(user=world["alice"], name="fuzz").raw)
    url = "/api/v1" + path
    for index, name in enumerate(re.findall(r"\{(\w+)\}", path)):
        url = url.replace("{" + name + "}", ids[index] or "1")
    client = Client(raise_request_exception=False, headers={"Authorization": f"Bearer {raw}"})
    with transaction.atomic():
        if method in ("GET", "DELETE"):
            response = client.generic(
                method,
                url,
                data=b"",
                QUERY_STRING=urlencode(query),
            )
        else:
            response = client.generic(method, url, data=body, content_type="application/json")
        transaction.set_rollback(True)
    assert response.status_code < 500, (method, url, body, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), (method, url)
    if response.status_code >= 400:
        answer = response.json()
        assert answer["code"] and answer["message"], (method, url, answer)
