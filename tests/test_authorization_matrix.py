"""The authorization matrix: every URL pattern of the portal (found by
walking the resolver, so a new URL without an entry here fails) × actors
(anonymous, the owner alice, another user bob, view-only staff, staff with
every custom permission, superuser) × GET / POST / htmx GET, each with its
expected status; a refused request (4xx, or a redirect to a login) leaves
every table as it was. Each request runs in a savepoint that is rolled
back, so every cell starts from the same data.

User pages, the phone page, the webhook, the login pages and the admin's
site-wide pages have an explicit row per URL name below. The admin's
per-model pages (changelist, add, change, delete, history) follow one rule
derived from the model admin's own permission checks, so a newly
registered model is covered the moment it is registered."""

from __future__ import annotations

import copy
import datetime as dt
import re

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.db import transaction
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule

from api import tokens
from api.models import ApiToken
from devices.models import ApplyRun, ClientSession, LineState, ListenerStatus, PbxEvent, SimulatedDevice
from profiles.automation import triggers
from profiles.models import StatusConnector, Trigger
from tests.factories import profile_named
from tests.security import db_writes, make_staff
from tests.test_admin import populate

pytestmark = pytest.mark.django_db

ACTORS = ("anonymous", "alice", "bob", "viewer", "operator", "superuser")
METHODS = ("GET", "POST", "HTMX")
# alice and bob are alike to the admin (not staff): bob stands for both there.
ADMIN_ACTORS = ("anonymous", "bob", "viewer", "operator", "superuser")
OPERATOR_PERMISSIONS = (
    "profiles.switch_users",
    "devices.operate_simulated_phone",
    "devices.reapply_profiles",
    "devices.reconcile_devices",
    "devices.hot_desk_extension",
    "devices.disconnect_clientsession",
    "profiles.switch_trigger",
)

# URL name (the route for unnamed ones) -> {actor: (GET, POST, htmx GET)};
# "*" is every actor not named. Ids in the URLs are alice's objects; the
# staff users have no account of their own. 302 is a redirect: to the login
# for refusals (which must change nothing), elsewhere after a success.
# fmt: off
ANON = {"anonymous": (302, 302, 302)}
STAFF_ONLY = {"*": (302, 302, 302)}
STAFF = ("viewer", "operator", "superuser")
PAGES: dict[str, dict[str, tuple[int, int, int]]] = {
    "admin:index": {**STAFF_ONLY, **dict.fromkeys(STAFF, (200, 200, 200))},
    "admin:login": {"*": (200, 200, 200), **dict.fromkeys(STAFF, (302, 200, 302))},
    "admin:logout": {"*": (302, 302, 302), **dict.fromkeys(STAFF, (405, 302, 405))},
    "admin:password_change": {**STAFF_ONLY, **dict.fromkeys(STAFF, (200, 200, 200))},
    "admin:password_change_done": {**STAFF_ONLY, **dict.fromkeys(STAFF, (200, 405, 200))},
    "admin:autocomplete": {**STAFF_ONLY, **dict.fromkeys(STAFF, (403, 405, 403))},
    "admin:jsi18n": {**STAFF_ONLY, **dict.fromkeys(STAFF, (200, 405, 200))},
    "admin:view_on_site": {**STAFF_ONLY, **dict.fromkeys(STAFF, (404, 404, 404))},
    "admin:auth_user_password_change": {**STAFF_ONLY, "viewer": (403, 403, 403), "operator": (403, 403, 403),
                                        "superuser": (200, 200, 200)},
    "admin:app_list": {**STAFF_ONLY, **dict.fromkeys(STAFF, (200, 200, 200))},
    "admin/(?P<url>.*)$": {**STAFF_ONLY, **dict.fromkeys(STAFF, (404, 404, 404))},
    "login": {"*": (200, 200, 200)},
    # GET asks "Log out?" (portal.views.PortalLogoutView); POST logs out.
    "logout": {"*": (200, 302, 200), **ANON},
    # Django's set_language: changes only the language cookie, for anyone.
    "set_language": {"*": (302, 302, 302)},
    "favicon": {"*": (302, 302, 302)},
    "password_change": {"*": (200, 200, 200), **ANON},
    "password_change_done": {"*": (200, 405, 200), **ANON},
    "password_reset": {"*": (200, 200, 200)},
    "password_reset_done": {"*": (200, 405, 200)},
    "password_reset_confirm": {"*": (200, 200, 200)},
    "password_reset_complete": {"*": (200, 405, 200)},
    "status-webhook": {"*": (405, 415, 405)},
    "graph-notifications": {"*": (405, 415, 405)},
    # The handset: its holder and the "operate simulated phones" permission.
    "devices:phone": {"*": (200, 400, 200), **ANON, "bob": (404, 404, 404), "viewer": (404, 404, 404)},
    "profiles:presence": {"*": (200, 405, 200), **ANON},
    "profiles:status": {"*": (200, 405, 200), **ANON},
    "profiles:select": {"*": (405, 404, 405), **ANON, "alice": (405, 302, 405)},
    "profiles:preview": {"*": (404, 405, 404), **ANON, "alice": (200, 405, 200)},
    "profiles:reapply": {"*": (405, 302, 405), **ANON},
    "profiles:profiles": {"*": (200, 405, 200), **ANON},
    "profiles:profile_new": {"*": (200, 200, 200), **ANON},
    "profiles:profile_edit": {"*": (404, 404, 404), **ANON, "alice": (200, 422, 200)},
    "profiles:profile_delete": {"*": (404, 404, 404), **ANON, "alice": (200, 302, 200)},
    "profiles:profile_copy": {"*": (405, 404, 405), **ANON, "alice": (405, 302, 405)},
    "profiles:profile_move": {"*": (405, 404, 405), **ANON, "alice": (405, 302, 405)},
    "profiles:action_new": {"*": (404, 404, 404), **ANON, "alice": (200, 200, 200)},
    "profiles:action_edit": {"*": (404, 404, 404), **ANON, "alice": (200, 422, 200)},
    "profiles:action_toggle": {"*": (405, 404, 405), **ANON, "alice": (405, 302, 405)},
    "profiles:action_delete": {"*": (405, 404, 405), **ANON, "alice": (405, 302, 405)},
    "profiles:action_move": {"*": (405, 404, 405), **ANON, "alice": (405, 302, 405)},
    "profiles:triggers": {"*": (404, 405, 404), **ANON, "alice": (200, 405, 200)},
    "profiles:time_trigger_new": {"*": (405, 404, 405), **ANON, "alice": (405, 422, 405)},
    "profiles:meeting_trigger_new": {"*": (405, 404, 405), **ANON, "alice": (405, 302, 405)},
    "profiles:trigger_edit": {"*": (404, 404, 404), **ANON, "alice": (200, 200, 200)},
    "profiles:trigger_toggle": {"*": (405, 404, 405), **ANON, "alice": (405, 302, 405)},
    "profiles:trigger_delete": {"*": (405, 404, 405), **ANON, "alice": (405, 302, 405)},
    "profiles:holiday_regions": {"*": (200, 405, 200), **ANON},
    "profiles:colleagues": {"*": (200, 405, 200), **ANON},
    "profiles:devices": {"*": (200, 405, 200), **ANON},
    "profiles:history": {"*": (200, 405, 200), **ANON},
    # The user's own session trigger (no ids: nobody else's to reach). An
    # empty POST is a form error; clear is refused without an account (the
    # staff users: a message and back to the page).
    "profiles:session_trigger": {"*": (200, 422, 200), **ANON},
    "profiles:session_trigger_clear": {"*": (405, 302, 405), **ANON},
    "profiles:time_zone": {"*": (200, 200, 200), **ANON},
    "profiles:calendar_new": {"*": (405, 404, 405), **ANON, "alice": (405, 422, 405)},
    "profiles:calendar_delete": {"*": (405, 404, 405), **ANON},
    "api:tokens": {"*": (200, 422, 200), **ANON},
    "api:revoke": {"*": (405, 404, 405), **ANON, "alice": (405, 302, 405)},
    # The event stream: any signed-in user (a stream is no page: 403, not a
    # redirect to the login); what each receives is tested in test_live_stream.
    "live:events": {"*": (200, 405, 200), "anonymous": (403, 405, 403)},
}
# fmt: on

# --- the client API (/api/v1/) ---------------------------------------------------------
# Its routes are walked by everyone above with the browser session (the
# API's second way in, CSRF is the test client's) and, besides, with a
# personal token: alice's, bob's, alice's revoked one, one of a deactivated
# user, and the view-only staff's and the operator's (who holds the API's
# staff permissions). Methods: the three above, plus PUT, PATCH and DELETE,
# each with an empty JSON object as its body (no body for GET and DELETE).
TOKEN_ACTORS = ("alice-token", "bob-token", "revoked-token", "inactive-token", "viewer-token", "operator-token")
API_ACTORS = ACTORS + TOKEN_ACTORS
API_METHODS = ("GET", "POST", "HTMX", "PUT", "PATCH", "DELETE")
# A row names actor groups: "out" (anonymous, the revoked token, the
# deactivated user's token), and each signed-in actor with its token
# ("alice" is alice's session and alice's token, and so on); "*" is every
# group not named. The statuses are the six methods', in API_METHODS order.
API_GROUPS = {
    "out": ("anonymous", "revoked-token", "inactive-token"),
    "alice": ("alice", "alice-token"),
    "bob": ("bob", "bob-token"),
    "viewer": ("viewer", "viewer-token"),
    "operator": ("operator", "operator-token"),
    "superuser": ("superuser",),
}


def codes(text: str) -> tuple[int, ...]:
    return tuple(int(code) for code in text.split())


# Routes, not names: django-ninja names each operation of a path, and the
# names of one path share its URL (e.g. profile_get, profile_update,
# profile_delete); the walk visits each path once.
# fmt: off
API_PAGES: dict[str, dict[str, str]] = {
    # The schema and the docs are public; only GET (and HEAD).
    "api/v1/openapi.json": {"*": "200 405 200 405 405 405"},
    "api/v1/docs": {"*": "200 405 200 405 405 405"},
    "api/v1/": {"*": "404 405 404 405 405 405"},
    "^api/(?P<path>.*)$": {"*": "404 404 404 404 404 404"},
    # Everyone signed in has these; staff without an account of their own
    # get "presence disabled" (409) where an account is needed.
    "api/v1/whoami": {"*": "200 405 200 405 405 405", "out": "401 405 401 405 405 405"},
    "api/v1/me": {"*": "200 405 200 405 405 405", "out": "401 405 401 405 405 405"},
    "api/v1/me/switch": {"*": "405 422 405 405 405 405", "out": "405 401 405 405 405 405"},
    "api/v1/me/reapply": {"*": "405 409 405 405 405 405", "out": "405 401 405 405 405 405",
                          "alice": "405 200 405 405 405 405", "bob": "405 200 405 405 405 405"},
    "api/v1/me/session-trigger": {"*": "409 405 409 409 405 405", "out": "401 405 401 401 405 405",
                                  "alice": "200 405 200 200 405 405", "bob": "200 405 200 200 405 405"},
    "api/v1/me/time-zone": {"*": "409 405 409 422 405 405", "out": "401 405 401 401 405 405",
                            "alice": "200 405 200 422 405 405", "bob": "200 405 200 422 405 405"},
    "api/v1/teams": {"*": "200 405 200 405 405 405", "out": "401 405 401 405 405 405"},
    "api/v1/profiles": {"*": "200 422 200 405 405 405", "out": "401 401 401 405 405 405"},
    "api/v1/triggers": {"*": "200 405 200 405 405 405", "out": "401 405 401 405 405 405"},
    "api/v1/colleagues": {"*": "200 405 200 405 405 405", "out": "401 405 401 405 405 405"},
    "api/v1/devices": {"*": "200 405 200 405 405 405", "out": "401 405 401 405 405 405"},
    "api/v1/history/switches": {"*": "200 405 200 405 405 405", "out": "401 405 401 405 405 405"},
    "api/v1/history/applies": {"*": "200 405 200 405 405 405", "out": "401 405 401 405 405 405"},
    "api/v1/sessions": {"*": "200 422 200 405 405 405", "out": "401 401 401 405 405 405"},
    # alice's objects: hers to read and change, 404 for everyone else (staff
    # too: the API is every user's own; staff work in the admin). An empty
    # body fails validation (422) before any id is looked at, for anyone.
    "api/v1/profiles/<profile_id>": {"*": "404 405 404 405 404 404", "out": "401 405 401 405 401 401",
                                     "alice": "200 405 200 405 200 204"},
    "api/v1/profiles/<profile_id>/copy": {"*": "405 404 405 405 405 405", "out": "405 401 405 405 405 405",
                                          "alice": "405 201 405 405 405 405"},
    "api/v1/profiles/<profile_id>/move": {"*": "405 422 405 405 405 405", "out": "405 401 405 405 405 405"},
    "api/v1/profiles/<profile_id>/actions": {"*": "404 422 404 405 405 405", "out": "401 401 401 405 405 405",
                                             "alice": "200 422 200 405 405 405"},
    "api/v1/actions/<action_id>": {"*": "405 405 405 405 404 404", "out": "405 405 405 405 401 401",
                                   "alice": "405 405 405 405 200 204"},
    "api/v1/actions/<action_id>/move": {"*": "405 422 405 405 405 405", "out": "405 401 405 405 405 405"},
    "api/v1/profiles/<profile_id>/triggers/time": {"*": "405 422 405 405 405 405",
                                                   "out": "405 401 405 405 405 405"},
    # alice's: 400, her meeting profile has its trigger and no connector was named.
    "api/v1/profiles/<profile_id>/triggers/meeting": {"*": "405 404 405 405 405 405",
                                                      "out": "405 401 405 405 405 405",
                                                      "alice": "405 400 405 405 405 405"},
    "api/v1/triggers/<trigger_id>": {"*": "405 405 405 405 404 404", "out": "405 405 405 405 401 401",
                                     "alice": "405 405 405 405 200 204"},
    "api/v1/sessions/<session_id>/heartbeat": {"*": "405 404 405 405 405 405", "out": "405 401 405 405 405 405",
                                               "alice": "405 200 405 405 405 405"},
    "api/v1/sessions/<session_id>": {"*": "405 405 405 405 405 404", "out": "405 405 405 405 405 401",
                                     "alice": "405 405 405 405 405 204"},
    # Staff operations: the permission is checked before the body is read
    # (403 for users and view-only staff); with it an empty body is 422.
    "api/v1/staff/switch": {"*": "405 403 405 405 405 405", "out": "405 401 405 405 405 405",
                            "operator": "405 422 405 405 405 405", "superuser": "405 422 405 405 405 405"},
    "api/v1/staff/reapply": {"*": "405 403 405 405 405 405", "out": "405 401 405 405 405 405",
                             "operator": "405 422 405 405 405 405", "superuser": "405 422 405 405 405 405"},
}
# fmt: on


def api_expected(route: str, actor: str) -> tuple[int, ...]:
    row = API_PAGES[route]
    group = next(g for g, members in API_GROUPS.items() if actor in members)
    return codes(row.get(group, row.get("*")))


def walk(patterns=None, prefix="", namespace=""):
    """(route, name) of every URL pattern, namespaces joined with ':'."""
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            inner = ":".join(part for part in (namespace, pattern.namespace) if part)
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield prefix + str(pattern.pattern), name


ADMIN_MODEL_VIEWS = ("changelist", "add", "change", "delete", "history")


def admin_model_routes() -> dict[str, tuple[type, str]]:
    """URL name (or route for unnamed ones) -> (model, view) for every
    registered model admin."""
    routes = {}
    for model in admin.site._registry:
        for view in ADMIN_MODEL_VIEWS:
            routes[f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}"] = (model, view)
        # The unnamed old-style URL that redirects to the change page.
        routes[f"admin/{model._meta.app_label}/{model._meta.model_name}/<path:object_id>/"] = (model, "redirect")
    return routes


def test_db_writes_counts_every_row_written_but_not_the_sessions_and_login_logs(django_user_model):
    """What the matrix relies on, on either database."""
    user = django_user_model.objects.create_user("carol")
    with transaction.atomic():
        before = db_writes()
        AccessLog.objects.create(username="carol", ip_address="10.0.0.1", attempt_time=timezone.now())
        Session.objects.create(session_key="k" * 32, session_data="", expire_date=timezone.now())
        assert db_writes() == before
        django_user_model.objects.filter(pk=user.pk).update(first_name="")  # the same value: counts too
        assert db_writes() != before
    with transaction.atomic():
        before = db_writes()
        Group.objects.create(name="Carol's")
        assert db_writes() != before
        before = db_writes()
        Group.objects.filter(name="Carol's").delete()
        assert db_writes() != before


def test_every_url_pattern_has_an_entry():
    """A new URL needs a row in PAGES (or is an admin model page)."""
    covered = set(PAGES) | set(admin_model_routes())
    missing = sorted(
        f"{name} ({route})" for route, name in walk() if (name or route) not in covered and route not in API_PAGES
    )
    assert missing == []
    # and no API row is left over from a route that is gone
    assert set(API_PAGES) <= {route for route, _ in walk()}


@pytest.fixture
def world(db, settings):
    """alice and bob with a row in every table, staff users, beat rows."""
    alice = populate("alice", "1000", "2000")
    populate("bob", "1001", "2001")
    Group.objects.create(name="Operators")
    now = timezone.now()
    AccessAttempt.objects.create(username="mallory", ip_address="10.0.0.9", failures_since_start=3, attempt_time=now)
    AccessLog.objects.create(username="alice", ip_address="10.0.0.1", attempt_time=now)
    AccessFailureLog.objects.create(username="mallory", ip_address="10.0.0.9", attempt_time=now)
    interval = IntervalSchedule.objects.create(every=30, period=IntervalSchedule.SECONDS)
    CrontabSchedule.objects.create(minute="0", hour="7")
    SolarSchedule.objects.create(event="sunrise", latitude=52.52, longitude=13.40)
    ClockedSchedule.objects.create(clocked_time="2026-12-01T08:00:00Z")
    PeriodicTask.objects.create(name="sweep", task="devices.tasks.sweep_pending", interval=interval)
    meeting = profile_named(alice, "In a meeting")
    hook = StatusConnector.objects.get(name="Webhook")
    triggers.create_meeting_trigger(user=alice, profile=meeting, connector=hook)
    SimulatedDevice.objects.get_or_create(extension=alice.account.primary_extension)
    # The PBX event listener's rows (devices.listener).
    LineState.objects.create(extension=alice.account.primary_extension, state="idle", changed_at=timezone.now())
    PbxEvent.objects.create(fields={"Event": "FullyBooted"})
    ListenerStatus.objects.create(pbx="simulated")
    ApplyRun.objects.create(user=alice, target_version=1, reason="switch", started_at=timezone.now())
    # alice's client session as an API client opens it: it heartbeats.
    session = ClientSession.objects.get(user=alice)
    ClientSession.objects.filter(pk=session.pk).update(
        client_id="desk-1", client_name="Desk", last_heartbeat_at=now, expires_at=now + dt.timedelta(hours=1)
    )
    users = {
        "alice": alice,
        "bob": alice.__class__.objects.get(username="bob"),
        "viewer": make_staff("viewer"),
        "operator": make_staff("operator", *OPERATOR_PERMISSIONS),
        "superuser": alice.__class__.objects.create_superuser("root", "root@example.com", "pw-root"),
    }
    clients = {"anonymous": Client(raise_request_exception=False)}
    for name, user in users.items():
        clients[name] = Client(raise_request_exception=False)
        clients[name].force_login(user)
    gone = alice.__class__.objects.create_user("gone", password="pw-gone", is_active=False)
    holders = {"alice": alice, "bob": users["bob"], "revoked": alice, "inactive": gone}
    holders |= {"viewer": users["viewer"], "operator": users["operator"]}
    for name, holder in holders.items():
        new = tokens.create_token(user=holder, name=f"{name}'s laptop")
        if name == "revoked":
            tokens.revoke_token(token=new.token)
        clients[f"{name}-token"] = Client(raise_request_exception=False, headers={"Authorization": f"Bearer {new.raw}"})
    # Used a moment ago from the test client's address, and the matrix runs
    # within API_TOKEN_TOUCH_SECONDS: no request writes the token's last use
    # (bookkeeping, tested in test_api_auth), so "no database change where
    # refused" is about the request itself.
    ApiToken.objects.update(last_used_at=now, last_used_ip="127.0.0.1")
    settings.API_TOKEN_TOUCH_SECONDS = 24 * 3600
    values = {
        "profile_id": meeting.pk,
        "action_id": meeting.actions.first().pk,
        "trigger_id": Trigger.objects.filter(profile__owner=alice, kind=Trigger.Kind.TIME).first().pk,
        "number": "1000",
        "connector_id": hook.pk,
        "calendar_id": 999999,  # nobody's calendar
        "uidb64": "MQ",
        "token": "set-password",
        "id": alice.pk,  # the admin's password change of a user
        "content_type_id": ContentType.objects.get_for_model(alice).pk,  # the admin's "view on site"
        "session_id": session.pk,  # alice's client session
        "token_id": ApiToken.objects.get(user=alice, name="alice's laptop").pk,
    }
    return {"users": users, "clients": clients, "values": values}


def url_for(route: str, values: dict, model=None) -> str:
    """The route with alice's ids filled in (an existing row for admin pages)."""
    url = "/" + route
    if "<path:object_id>" in url:
        row = (model or ContentType.objects.get_for_id(values["content_type_id"]).model_class()).objects.order_by("pk")
        url = url.replace("<path:object_id>", str(row.first().pk))
    for key, value in values.items():
        for converter in ("int", "str", "path", ""):
            url = url.replace(f"<{converter}:{key}>" if converter else f"<{key}>", str(value))
    url = re.sub(r"\(\?P<app_label>[^)]*\)", "devices", url)
    url = url.replace("(?P<url>.*)", "no-such-page/").replace("(?P<path>.*)", "no-such-endpoint")
    return url.replace("^", "").replace("$", "")


def expected_admin(model, view: str, actor: str, users: dict) -> tuple[int, int, int]:
    """The rule for the admin's model pages. Non-staff: the login. View-only
    staff: may look at the portal's models, never add, change or delete, and
    django-celery-beat's pages are refused. Other staff: whatever the model
    admin's permission checks allow them."""
    if actor in ("anonymous", "alice", "bob"):
        return (302, 302, 302)
    if view == "redirect":  # the old-style URL redirects to the change page
        return (302, 302, 302)
    model_admin = admin.site._registry[model]
    if actor == "viewer":
        may_view = model._meta.app_label != "django_celery_beat"
        may_change = may_add = may_delete = False
    else:
        request = RequestFactory().get("/admin/")
        request.user = users[actor]
        may_view = model_admin.has_view_or_change_permission(request)
        may_change = model_admin.has_change_permission(request)
        may_add = model_admin.has_add_permission(request)
        may_delete = model_admin.has_delete_permission(request)
    get = {"changelist": may_view, "add": may_add, "change": may_view, "delete": may_delete, "history": may_view}[view]
    if view == "change":
        post = 200 if may_change else 403  # a POST without data: the form with its errors
    else:
        # history answers any method; a delete without the confirmation
        # field shows the confirmation page again.
        post = 200 if {"changelist": may_view, "add": may_add, "delete": may_delete, "history": may_view}[view] else 403
    return (200 if get else 403, post, 200 if get else 403)


def refused(response) -> bool:
    if response.status_code >= 400:
        return True
    location = response.get("Location", "")
    return response.status_code == 302 and ("/login/" in location)


def request(client, method: str, url: str, api: bool):
    """One cell's request: the API gets JSON bodies, the pages form data."""
    if method in ("GET", "HTMX"):
        return client.get(url, headers={"HX-Request": "true"} if method == "HTMX" else {})
    if method == "DELETE":
        return client.delete(url)
    send = getattr(client, method.lower())
    return send(url, "{}", content_type="application/json") if api else send(url, {})


def matrix_routes() -> list[tuple[str, str | None, str]]:
    """(route, name, kind) of every route the matrix walks: kind is "api",
    "admin" (a model page) or "pages"; an API path once, however many
    operation names it has."""
    admin_routes, rows, api_routes = admin_model_routes(), [], set()
    for route, name in walk():
        if route in API_PAGES:
            if route in api_routes:
                continue  # another operation's name for a path already walked
            api_routes.add(route)
            rows.append((route, name, "api"))
        else:
            rows.append((route, name, "admin" if (name or route) in admin_routes else "pages"))
    return rows


# The matrix in parts (each kind of route, every other route or admin model
# in each), so that the test processes share it: one test was 45-80 s of
# one process.
# Each part's fewest requests (a part that lost its routes fails).
PARTS = {("pages", 0): 500, ("pages", 1): 500, ("admin", 0): 900, ("admin", 1): 900, ("api", 0): 1000, ("api", 1): 1000}


@pytest.mark.parametrize(("kind", "half"), list(PARTS), ids=[f"{kind}-{half}" for kind, half in PARTS])
def test_authorization_matrix(world, kind, half):
    users, clients, values = world["users"], world["clients"], world["values"]
    admin_routes = admin_model_routes()
    failures, cells = [], 0
    db_writes()  # SQLite: makes its counting triggers here, not in (and rolled back with) the first cell
    models = list(admin.site._registry)
    routes = [(route, name) for route, name, k in matrix_routes() if k == kind]
    if kind == "admin":  # a model's pages together (their views differ in cost): every other model
        routes = [(r, n) for r, n in routes if models.index(admin_routes[n or r][0]) % 2 == half]
    else:
        routes = routes[half::2]
    for route, name in routes:
        key = name or route
        model, view = admin_routes.get(key, (None, None))
        url = url_for(route, values, model)
        api = kind == "api"
        for actor in API_ACTORS if api else ACTORS if model is None else ADMIN_ACTORS:
            if api:
                expected = api_expected(route, actor)
            elif model is not None:
                expected = expected_admin(model, view, actor, users)
            else:
                expected = PAGES[key].get(actor, PAGES[key].get("*"))
            client = clients[actor]
            methods = API_METHODS if api else METHODS if model is None else METHODS[:2]  # no htmx in the admin
            for method, want in zip(methods, expected, strict=api):
                cells += 1
                cookies = copy.deepcopy(client.cookies)  # a logout must not log the next cell out
                with transaction.atomic():
                    before = db_writes()
                    response = request(client, method, url, api)
                    changed = refused(response) and db_writes() != before
                    transaction.set_rollback(True)
                client.cookies = cookies
                got = response.status_code
                if got != want or changed:
                    failures.append(f"{key} {actor} {method} {url}: {got}, want {want}{' CHANGED' if changed else ''}")
                if api:
                    # Every API answer is JSON (the docs page is HTML), errors with a stable code.
                    assert route == "api/v1/docs" or response["Content-Type"].startswith("application/json"), (
                        url,
                        actor,
                        method,
                        got,
                        response.content[:300],
                    )
                    if got >= 400:
                        assert response.json()["code"], url
    print(f"authorization matrix, {kind}-{half}: {cells} requests")
    assert cells > PARTS[kind, half]
    assert failures == [], "\n".join(failures)
