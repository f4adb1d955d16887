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
import re

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule

from devices.models import ApplyRun, LineState, ListenerStatus, PbxEvent, SimulatedDevice
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
    "password_change": {"*": (200, 200, 200), **ANON},
    "password_change_done": {"*": (200, 405, 200), **ANON},
    "password_reset": {"*": (200, 200, 200)},
    "password_reset_done": {"*": (200, 405, 200)},
    "password_reset_confirm": {"*": (200, 200, 200)},
    "password_reset_complete": {"*": (200, 405, 200)},
    "status-webhook": {"*": (405, 415, 405)},
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
    "profiles:colleagues": {"*": (200, 405, 200), **ANON},
    "profiles:devices": {"*": (200, 405, 200), **ANON},
    "profiles:history": {"*": (200, 405, 200), **ANON},
    "profiles:time_zone": {"*": (200, 200, 200), **ANON},
    "profiles:calendar_new": {"*": (405, 404, 405), **ANON, "alice": (405, 422, 405)},
    "profiles:calendar_delete": {"*": (405, 404, 405), **ANON},
    # The event stream: any signed-in user (a stream is no page: 403, not a
    # redirect to the login); what each receives is tested in test_live_stream.
    "live:events": {"*": (200, 405, 200), "anonymous": (403, 405, 403)},
}
# fmt: on


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


def test_every_url_pattern_has_an_entry():
    """A new URL needs a row in PAGES (or is an admin model page)."""
    covered = set(PAGES) | set(admin_model_routes())
    missing = sorted(f"{name} ({route})" for route, name in walk() if (name or route) not in covered)
    assert missing == []


@pytest.fixture
def world(db):
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
    return url.replace("^", "").replace("$", "").replace("(?P<url>.*)", "no-such-page/")


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


def test_authorization_matrix(world):
    users, clients, values = world["users"], world["clients"], world["values"]
    admin_routes = admin_model_routes()
    failures, cells = [], 0
    for route, name in walk():
        key = name or route
        model, view = admin_routes.get(key, (None, None))
        url = url_for(route, values, model)
        for actor in ACTORS if model is None else ADMIN_ACTORS:
            if model is not None:
                expected = expected_admin(model, view, actor, users)
            else:
                expected = PAGES[key].get(actor, PAGES[key].get("*"))
            client = clients[actor]
            methods = METHODS if model is None else METHODS[:2]  # htmx means nothing to the admin
            for method, want in zip(methods, expected, strict=False):
                cells += 1
                cookies = copy.deepcopy(client.cookies)  # a logout must not log the next cell out
                with transaction.atomic():
                    before = db_writes()
                    if method == "POST":
                        response = client.post(url, {})
                    else:
                        response = client.get(url, headers={"HX-Request": "true"} if method == "HTMX" else {})
                    changed = refused(response) and db_writes() != before
                    transaction.set_rollback(True)
                client.cookies = cookies
                got = response.status_code
                if got != want or changed:
                    failures.append(f"{key} {actor} {method} {url}: {got}, want {want}{' CHANGED' if changed else ''}")
    print(f"authorization matrix: {cells} requests")
    assert cells > 2000
    assert failures == [], "\n".join(failures)
