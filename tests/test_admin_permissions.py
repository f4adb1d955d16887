"""Staff least privilege in the admin: every admin action declares the
permission it needs; a view-only staff user is offered none of them and a
POST of each changes nothing; the permission named offers exactly that
action. django-celery-beat's raw schedule forms are for superusers only."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import RequestFactory
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from devices.models import ClientSession, Extension, SimulatedDevice
from profiles.models import StatusConnector, SwitchEvent
from tests.commits import commit_each_post
from tests.module_rows import rows_for_the_module
from tests.security import db_fingerprint, make_staff
from tests.test_admin import populate

User = get_user_model()
pytestmark = pytest.mark.django_db

# (app label, model name, action) -> the permission that offers it.
ACTION_PERMISSIONS = {
    ("api", "apitoken", "revoke"): "api.change_apitoken",
    ("profiles", "clientprofile", "switch_users"): "profiles.switch_users",
    ("profiles", "clientprofile", "reapply_users"): "devices.reapply_profiles",
    ("profiles", "account", "switch_users"): "profiles.switch_users",
    ("profiles", "account", "reapply_users"): "devices.reapply_profiles",
    ("devices", "extension", "hot_desk_login"): "devices.hot_desk_extension",
    ("devices", "extension", "hot_desk_logout"): "devices.hot_desk_extension",
    ("devices", "clientsession", "disconnect"): "devices.disconnect_clientsession",
    ("devices", "targetstate", "reapply_users"): "devices.reapply_profiles",
    ("devices", "targetstate", "reconcile_users"): "devices.reconcile_devices",
    ("devices", "simulateddevice", "inject_transient_fault"): "devices.change_simulateddevice",
    ("devices", "simulateddevice", "inject_permanent_fault"): "devices.change_simulateddevice",
    ("devices", "simulateddevice", "clear_fault"): "devices.change_simulateddevice",
    ("profiles", "clientprofile", "enable_presence"): "profiles.change_clientprofile",
    ("profiles", "clientprofile", "disable_presence"): "profiles.change_clientprofile",
    ("profiles", "clientprofile", "reconcile_members"): "devices.reconcile_devices",
    ("profiles", "account", "reconcile_users"): "devices.reconcile_devices",
    ("profiles", "presenceprofile", "reapply_for_users"): "devices.reapply_profiles",
    ("profiles", "statusconnector", "check_now"): "profiles.change_statusconnector",
    ("profiles", "trigger", "enable_triggers"): "profiles.switch_trigger",
    ("profiles", "trigger", "disable_triggers"): "profiles.switch_trigger",
}
BEAT_MODELS = {m for m in admin.site._registry if m._meta.app_label == "django_celery_beat"}
# Third-party admins (narrowed in portal/admin.py); their actions are
# checked by test_every_admin_action_declares_its_permissions.
THIRD_PARTY = BEAT_MODELS | {m for m in admin.site._registry if m._meta.app_label == "axes"}


def _all_actions():
    """Every (model admin, action name, function) of the site but the
    built-in delete (which Django guards with the delete permission)."""
    for model, model_admin in admin.site._registry.items():
        for func, name, _ in model_admin._get_base_actions():
            if name != "delete_selected":
                yield model, model_admin, name, func


def _request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def test_every_admin_action_declares_its_permissions():
    missing = [f"{m._meta.label}.{name}" for m, _, name, func in _all_actions() if not func.allowed_permissions]
    assert missing == []


def test_every_portal_action_has_an_entry_here():
    ours = {(m._meta.app_label, m._meta.model_name, name) for m, _, name, _ in _all_actions() if m not in THIRD_PARTY}
    assert ours == set(ACTION_PERMISSIONS)


@pytest.fixture
def client(client, django_capture_on_commit_callbacks):
    """Each POST commits as in production: its on-commit callbacks (the
    converges an admin action enqueues) run when the request ends, before
    the test compares the database."""
    return commit_each_post(client, django_capture_on_commit_callbacks)


@pytest.fixture(scope="module")
def company_rows(django_db_blocker, django_db_setup, tmp_path_factory):
    """Made once per module and test process (tests/module_rows.py): each
    test starts from these rows as made and its own writes are rolled back.
    The users' converges run as on commit."""
    yield from rows_for_the_module(django_db_blocker, tmp_path_factory, _populate_both, commit=True)


def _populate_both():
    return {"alice": populate("alice", "1000", "2000").pk, "frank": populate("frank", "1005", "2005").pk}


@pytest.fixture
def company(db, company_rows):
    Extension.objects.filter(number="1005").update(is_hot_desk=True)
    for ext in Extension.objects.all():
        SimulatedDevice.objects.get_or_create(extension=ext)
    StatusConnector.objects.update(enabled=True)
    interval = IntervalSchedule.objects.create(every=30, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="sweep", task="devices.tasks.sweep_pending", interval=interval)
    return {name: User.objects.get(pk=pk) for name, pk in company_rows.items()}


@pytest.mark.parametrize("key", sorted(ACTION_PERMISSIONS), ids=lambda key: ".".join(key))
def test_view_only_staff_cannot_run_the_action(client, company, key):
    app_label, model_name, action = key
    viewer = make_staff("viewer")
    client.force_login(viewer)
    url = reverse(f"admin:{app_label}_{model_name}_changelist")
    page = client.get(url)
    assert page.status_code == 200
    assert f'value="{action}"'.encode() not in page.content
    model = next(m for m in admin.site._registry if (m._meta.app_label, m._meta.model_name) == key[:2])
    before = db_fingerprint()
    response = client.post(
        url, {"action": action, "_selected_action": list(model.objects.values_list("pk", flat=True))}
    )
    assert response.status_code in (200, 302)
    assert db_fingerprint() == before


@pytest.mark.parametrize("key", sorted(ACTION_PERMISSIONS), ids=lambda key: ".".join(key))
def test_the_named_permission_offers_the_action(company, key):
    app_label, model_name, action = key
    model = next(m for m in admin.site._registry if (m._meta.app_label, m._meta.model_name) == key[:2])
    model_admin = admin.site._registry[model]
    allowed = make_staff("allowed", ACTION_PERMISSIONS[key])
    viewer = make_staff("viewer")
    assert action in model_admin.get_actions(_request(allowed))
    assert action not in model_admin.get_actions(_request(viewer))


def test_staff_with_the_reapply_permission_reapplies(client, company):
    operator = make_staff("operator", "devices.reapply_profiles")
    client.force_login(operator)
    alice = company["alice"]
    response = client.post("/admin/devices/targetstate/", {"action": "reapply_users", "_selected_action": [alice.pk]})
    assert response.status_code == 302
    assert alice.pk and SwitchEvent.objects.filter(user=alice, event="reapply", actor=operator).exists()


def test_view_only_staff_cannot_disconnect_a_client_session(client, company):
    client.force_login(make_staff("viewer"))
    session = ClientSession.objects.first()
    client.post("/admin/devices/clientsession/", {"action": "disconnect", "_selected_action": [session.pk]})
    assert ClientSession.objects.filter(pk=session.pk).exists()


@pytest.mark.parametrize("model", sorted(BEAT_MODELS, key=lambda m: m._meta.label), ids=lambda m: m._meta.label)
def test_beat_schedules_are_for_superusers_only(client, company, model):
    """Raw crontab and task forms: even a staff user holding every beat
    permission gets 403 (the portal writes its schedules itself)."""
    beat_perms = [
        f"django_celery_beat.{action}_{model._meta.model_name}" for action in ("add", "change", "delete", "view")
    ]
    client.force_login(make_staff("scheduler", *beat_perms))
    before = db_fingerprint()
    for view in ("changelist", "add"):
        assert client.get(reverse(f"admin:django_celery_beat_{model._meta.model_name}_{view}")).status_code == 403
    row = model.objects.first()
    if row is not None:
        change = reverse(f"admin:django_celery_beat_{model._meta.model_name}_change", args=[row.pk])
        assert client.post(change, {}).status_code == 403
    assert b"django_celery_beat" not in client.get("/admin/").content
    assert db_fingerprint() == before
