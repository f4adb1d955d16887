"""Staff operations through the API: switching a set of users to a system
profile (until a time, then everyone returns), re-applying; they need the
permission, not just is_staff, and the audit rows name the staff member."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from devices.models import Team
from profiles.automation import tasks
from profiles.models import ClientProfile, PresenceProfile, Selection, SwitchEvent
from profiles.services import select_profile
from tests.api_support import ApiClient
from tests.factories import client_profile, make_user, profile_named

pytestmark = pytest.mark.django_db
User = get_user_model()
NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def company(time_machine):
    time_machine.move_to(NOW, tick=False)
    users = [make_user(name, number, teams=("Sales",)) for name, number in (("alice", "1000"), ("bob", "1001"))]
    other = ClientProfile.objects.create(name="Other", presence_profiles_enabled=True)
    users.append(make_user("carol", "1002", client=other))
    return users


# The two staff permissions: switching a set of users, and re-applying
# (the one the admin's other re-apply actions need).
PERMISSIONS = {"switch_users": ("profiles", "switch_users"), "reapply_users": ("devices", "reapply_profiles")}


def grant(user, name):
    app_label, codename = PERMISSIONS[name]
    user.user_permissions.add(Permission.objects.get(codename=codename, content_type__app_label=app_label))


def staff(*permissions):
    user, _ = User.objects.get_or_create(username="sam", defaults={"is_staff": True})
    for name in permissions:
        grant(user, name)
    return ApiClient(user)


def closed():
    return PresenceProfile.objects.get(kind="system", name="Unavailable")


def test_staff_switch_needs_the_permission(company):
    body = {"profile_id": closed().pk, "client_profile_id": client_profile().pk}
    assert staff().post("/api/v1/staff/switch", body).status_code == 403
    assert ApiClient(company[0]).post("/api/v1/staff/switch", body).status_code == 403
    assert not Selection.objects.filter(profile=closed()).exists()


def test_staff_switch_a_client_profile_until_a_time_then_everyone_returns(company, time_machine):
    alice, bob, carol = company
    select_profile(user=bob, profile=profile_named(bob, "On holiday"))
    sticky = profile_named(alice, "In a meeting")
    sticky.sticky = True
    sticky.save()
    select_profile(user=alice, profile=sticky)
    until = NOW + dt.timedelta(hours=2)
    api = staff("switch_users")
    body = {"profile_id": closed().pk, "client_profile_id": client_profile().pk, "until": until.isoformat()}
    response = api.post("/api/v1/staff/switch", body)
    assert response.status_code == 200
    assert response.json() == {"users": 2, "switched": 2, "skipped": {}}
    assert Selection.objects.get(user=carol).profile.name == "In the office"
    event = SwitchEvent.objects.filter(user=bob).latest("id")
    assert event.actor.username == "sam" and event.source == "admin" and "sam" in event.source_detail
    time_machine.move_to(until + dt.timedelta(seconds=1), tick=False)
    tasks.due_scan()
    assert Selection.objects.get(user=bob).profile.name == "On holiday"
    assert Selection.objects.get(user=alice).profile.name == "In a meeting"


def test_staff_switch_a_team_or_listed_users(company):
    alice, bob, carol = company
    api = staff("switch_users")
    team = Team.objects.get(name="Sales")
    assert api.post("/api/v1/staff/switch", {"profile_id": closed().pk, "team_id": team.pk}).json()["switched"] == 2
    listed = api.post("/api/v1/staff/switch", {"profile_id": closed().pk, "user_ids": [carol.pk]}).json()
    # carol's client profile does not offer the system profile.
    assert listed == {"users": 1, "switched": 0, "skipped": {"not_available": 1}}


def test_staff_switch_is_one_switch_for_everyone(company, django_assert_max_num_queries):
    """One call of the switching core with a Switch per user: the same
    number of queries for 3 users as for 12 (no loop of single switches)."""
    api = staff("switch_users")
    body = {"profile_id": closed().pk, "client_profile_id": client_profile().pk}

    def queries() -> int:
        api.post("/api/v1/staff/switch", body)  # warms the token and the catalog
        Selection.objects.all().delete()  # not a table the catalog watches
        with CaptureQueriesContext(connection) as captured:
            assert api.post("/api/v1/staff/switch", body).status_code == 200
        return len(captured.captured_queries)

    few = queries()
    for n in range(9):
        make_user(f"u{n}", f"11{n:02d}")
    many = queries()
    assert Selection.objects.filter(profile=closed()).count() == 11
    assert many == few, (few, many)


def test_staff_switch_validates_its_body(company):
    api = staff("switch_users")
    personal = profile_named(company[0], "On holiday")
    both = api.post("/api/v1/staff/switch", {"profile_id": closed().pk, "team_id": 1, "user_ids": [1]})
    assert both.status_code == 422
    assert api.post("/api/v1/staff/switch", {"profile_id": personal.pk, "user_ids": [1]}).status_code == 422
    past = {"profile_id": closed().pk, "user_ids": [1], "until": "2020-01-01T00:00:00Z"}
    assert api.post("/api/v1/staff/switch", past).status_code == 422
    assert api.post("/api/v1/staff/switch", {"profile_id": closed().pk, "team_id": 999999}).status_code == 404


def test_staff_reapply_needs_its_permission_and_names_the_staff_member(company, django_capture_on_commit_callbacks):
    assert staff().post("/api/v1/staff/reapply", {"everyone": True}).status_code == 403
    api = staff("reapply_users")
    assert api.post("/api/v1/staff/switch", {"profile_id": closed().pk, "user_ids": [1]}).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):  # the batch task runs on commit
        response = api.post("/api/v1/staff/reapply", {"client_profile_id": client_profile().pk})
    assert response.status_code == 202 and response.json() == {"users": 2}
    assert SwitchEvent.objects.filter(event="reapply", actor__username="sam").count() == 2
    assert api.post("/api/v1/staff/reapply", {"everyone": True}).json() == {"users": 3}
    assert api.post("/api/v1/staff/reapply", {}).status_code == 422


# --- the same operations as admin actions ---------------------------------------------


def admin_client(*permissions):
    from django.test import Client

    user, _ = User.objects.get_or_create(username="sam", defaults={"is_staff": True})
    for codename in ("view_clientprofile", "change_clientprofile", "view_account", "change_account"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    for name in permissions:
        grant(user, name)
    browser = Client()
    browser.force_login(user)
    return browser


def test_admin_switch_action_on_client_profiles_asks_then_switches(company):
    browser = admin_client("switch_users")
    url = "/admin/profiles/clientprofile/"
    standard = client_profile()
    form = browser.post(url, {"action": "switch_users", "_selected_action": [standard.pk]})
    assert form.status_code == 200 and b"Switch 2 users" in form.content
    until = (NOW + dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")
    done = browser.post(
        url,
        {
            "action": "switch_users",
            "_selected_action": [standard.pk],
            "apply": "1",
            "profile": closed().pk,
            "until": until,
        },
        follow=True,
    )
    assert b"2 of 2 user(s) switched" in done.content
    assert Selection.objects.filter(profile=closed()).count() == 2
    assert SwitchEvent.objects.filter(new_profile=closed(), actor__username="sam").count() == 2


def test_admin_switch_action_needs_the_permission(company):
    browser = admin_client()
    page = browser.get("/admin/profiles/account/")
    assert b"switch_users" not in page.content
    browser.post(
        "/admin/profiles/account/",
        {"action": "switch_users", "_selected_action": [company[0].account.pk], "apply": "1", "profile": closed().pk},
    )
    assert not Selection.objects.filter(profile=closed()).exists()


def test_admin_reapply_action_on_accounts(company, django_capture_on_commit_callbacks):
    browser = admin_client("reapply_users")
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(
            "/admin/profiles/account/", {"action": "reapply_users", "_selected_action": [company[2].account.pk]}
        )
    assert SwitchEvent.objects.filter(event="reapply", actor__username="sam", user=company[2]).count() == 1
