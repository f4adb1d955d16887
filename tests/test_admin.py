"""The Django admin: every page renders for a superuser, others are sent to
the login, bad input is a form error (never a 500), saves go through the
services, and changelists cost the same number of queries whatever the
number of rows."""

import datetime as dt

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from api import tokens
from devices.models import (
    ApplyRun,
    ClientSession,
    Extension,
    LineState,
    ListenerStatus,
    Location,
    Mismatch,
    PbxEvent,
    SimulatedDevice,
    TargetState,
)
from profiles.automation.connectors.calendar import link_calendar
from profiles.models import (
    Account,
    Action,
    ClientProfile,
    GraphSubscription,
    MeetingPresence,
    PresenceProfile,
    RecentValue,
    Selection,
    StatusConnector,
    SwitchEvent,
    Trigger,
    TriggerFiring,
    WebhookReceipt,
)
from profiles.services import select_profile
from tests.factories import client_profile, make_user, profile_named
from tests.module_rows import rows_for_the_module

User = get_user_model()
pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry, key=lambda model: model._meta.label)


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def populate(username: str, number: str, softphone: str) -> User:
    """One user with a row in every table the admin shows."""
    user = make_user(username, number, teams=["Sales", "Support"])
    ext = Extension.objects.create(number=softphone, kind=Extension.Kind.SOFTPHONE, owner=user)
    ClientSession.objects.create(user=user, extension=ext)
    Location.objects.get_or_create(name=f"Desk {number}")
    Mismatch.objects.create(
        user=user,
        extension=number,
        op="set_dnd",
        args={"on": False},
        description="DND is on",
        detected_at=timezone.now(),
    )
    connector, _ = StatusConnector.objects.get_or_create(
        name="Webhook", defaults={"kind": StatusConnector.Kind.WEBHOOK, "webhook_secret": "s3cret"}
    )
    MeetingPresence.objects.create(connector=connector, user=user, in_meeting=True)
    GraphSubscription.objects.create(
        connector=connector,
        subscription_id=f"subscription-of-{username}",
        client_state="client-state-s3cr3t",
        graph_ids=[f"graph-id-{username}"],
        expires_at=timezone.now() + dt.timedelta(minutes=55),
    )
    WebhookReceipt.objects.create(
        connector=connector, user=user, digest=f"{user.pk:064d}", sent_at=timezone.now(), received_at=timezone.now()
    )
    trigger = Trigger.objects.create(
        profile=profile_named(user, "Out of the office"), time_of_day=dt.time(18, 0), next_fire_at=timezone.now()
    )
    TriggerFiring.objects.create(
        trigger=trigger, scheduled_for=timezone.now(), fired_at=timezone.now(), outcome=TriggerFiring.Outcome.APPLIED
    )
    RecentValue.objects.create(
        user=user, kind=RecentValue.Kind.FORWARD, value="+493012345678", last_used=timezone.now()
    )
    link_calendar(
        user=user, profile=profile_named(user, "In a meeting"), name="Work", url="https://example.com/s3cr3t/c.ics"
    )
    return user


@pytest.fixture(scope="module")
def company_rows(django_db_blocker, django_db_setup, tmp_path_factory):
    """The company's rows, made once per module and test process
    (tests/module_rows.py): each test starts from them as made and its own
    writes are rolled back. Making them took about 0.3 s per test (two
    users with their profiles and a row in every table), for some 110 tests."""
    yield from rows_for_the_module(django_db_blocker, tmp_path_factory, _make_company)


@pytest.fixture
def company(db, company_rows):
    """alice and bob with a row in every table the admin shows (fresh
    objects for each test; the rows are company_rows')."""
    return {name: User.objects.get(pk=pk) for name, pk in company_rows.items()}


def _make_company():
    alice = populate("alice", "1000", "2000")
    bob = populate("bob", "1001", "2001")
    Group.objects.create(name="Operators")
    now = timezone.now()  # django-axes' login records
    AccessAttempt.objects.create(username="mallory", ip_address="10.0.0.9", failures_since_start=3, attempt_time=now)
    AccessLog.objects.create(username="alice", ip_address="10.0.0.1", attempt_time=now)
    AccessFailureLog.objects.create(username="mallory", ip_address="10.0.0.9", attempt_time=now)
    interval = IntervalSchedule.objects.create(every=30, period=IntervalSchedule.SECONDS)
    CrontabSchedule.objects.create(minute="0", hour="7")
    SolarSchedule.objects.create(event="sunrise", latitude=52.52, longitude=13.40)
    ClockedSchedule.objects.create(clocked_time=timezone.now())
    PeriodicTask.objects.create(name="sweep", task="devices.tasks.sweep_pending", interval=interval)
    # The converge runs on commit; a row stands in for its audit here.
    run = ApplyRun.objects.create(
        user=alice, target_version=1, reason="switch", started_at=timezone.now(), result=ApplyRun.Result.APPLIED
    )
    run.steps.create(position=0, extension="1000", op="set_dnd", args={}, description="DND off", ok=True)
    SimulatedDevice.objects.get_or_create(extension=alice.account.primary_extension)
    LineState.objects.create(extension=alice.account.primary_extension, state="on_call", changed_at=timezone.now())
    PbxEvent.objects.create(fields={"Event": "DeviceStateChange", "Device": "Custom:DND1000", "State": "BUSY"})
    ListenerStatus.objects.create(pbx="simulated", state="connected", connected_since=timezone.now())
    tokens.create_token(user=alice, name="alice's laptop")
    return {"alice": alice.pk, "bob": bob.pk}


def form_data(response) -> dict:
    """The POST data of an admin change form as rendered, inlines included,
    so a test can change one value and submit the rest unchanged."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms.append(inline.formset.management_form)
        forms.extend(inline.formset.forms)
    for form in forms:
        for field in form:
            value = field.value()
            if value is None or value is False:
                continue
            if value is True:
                value = "on"
            data[field.html_name] = value
    return data


def inline_prefix(response, phase: str) -> str:
    for inline in response.context["inline_admin_formsets"]:
        if getattr(inline.opts, "phase", None) == phase:
            return inline.formset.prefix
    raise AssertionError(f"no inline for {phase}")


# --- every page renders --------------------------------------------------------------


def test_every_model_of_the_portal_is_in_the_admin():
    from django.apps import apps

    ours = [m for app in ("devices", "profiles") for m in apps.get_app_config(app).get_models()]
    # Apply steps show inside their run; the catalog version is bookkeeping
    # that database triggers set (profiles.catalog), nothing to administer.
    internal = {"applystep", "catalogversion"}
    missing = [m._meta.label for m in ours if m not in admin.site._registry and m._meta.model_name not in internal]
    assert missing == []


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m._meta.label)
def test_every_admin_page_renders_for_a_superuser(admin_client, company, model):
    model_admin = admin.site._registry[model]
    assert admin_client.get(_url(model, "changelist")).status_code == 200
    assert admin_client.get(_url(model, "changelist"), {"q": "alice"}).status_code == 200

    obj = model._default_manager.order_by("pk").first()
    assert obj is not None, f"the fixture has no {model._meta.label}"
    assert admin_client.get(_url(model, "change", obj.pk)).status_code == 200

    add = admin_client.get(_url(model, "add"))
    request = add.wsgi_request
    assert add.status_code == (200 if model_admin.has_add_permission(request) else 403)


def test_a_non_staff_user_is_sent_to_the_admin_login(client, company):
    client.force_login(company["bob"])
    for url in (reverse("admin:index"), _url(PresenceProfile, "changelist"), _url(ClientProfile, "add")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_audit_rows_cannot_be_changed_in_the_admin(admin_client, company):
    event = SwitchEvent.objects.first()
    response = admin_client.post(_url(SwitchEvent, "change", event.pk), {"new_name": "Forged"})
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.new_name != "Forged"


# --- bad input is a form error -------------------------------------------------------


@pytest.fixture
def available(company):
    return PresenceProfile.objects.get(kind=PresenceProfile.Kind.SYSTEM, name="Available")


def test_the_chains_show_a_summary_and_link_to_the_typed_form_without_json(admin_client, available):
    url = _url(PresenceProfile, "change", available.pk)
    page = admin_client.get(url)
    html = page.content.decode()
    dnd = available.actions.get(type="set_dnd")
    assert "params" not in html  # no JSON to type anywhere on the page
    assert _url(Action, "change", dnd.pk) in html  # each action's edit link
    add = _url(Action, "add")
    assert f"{add}?profile={available.pk}&amp;phase=enter" in html
    assert f"{add}?profile={available.pk}&amp;phase=exit" in html
    prefix = inline_prefix(page, "enter")
    assert f"{prefix}-0-type" not in form_data(page)


def test_the_add_link_opens_the_typed_form_for_that_chain_at_its_end(admin_client, available):
    form = admin_client.get(_url(Action, "add"), {"profile": available.pk, "phase": "exit"}).context["adminform"].form
    last = max(available.actions.values_list("position", flat=True))
    assert (str(form.initial["profile"]), form.initial["phase"], form.initial["position"]) == (
        str(available.pk),
        "exit",
        last + 1,
    )


def test_an_unknown_team_in_an_action_is_a_form_error(admin_client, available):
    response = admin_client.post(
        _url(Action, "add"),
        {"profile": available.pk, "phase": "enter", "position": "9", "type": "team_login", "team_login-team": "999999"},
    )
    assert response.status_code == 200
    assert "team_login-team" in response.context["adminform"].form.errors
    assert not Action.objects.filter(profile=available, type="team_login").exists()


def test_an_invalid_colour_is_a_form_error(admin_client, available):
    url = _url(PresenceProfile, "change", available.pk)
    data = form_data(admin_client.get(url))
    data["colour"] = "green"
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "colour" in response.context["adminform"].form.errors
    available.refresh_from_db()
    assert available.colour == "#2e7d32"


def test_a_duplicate_system_profile_name_is_a_form_error(admin_client, available):
    url = _url(PresenceProfile, "add")
    response = admin_client.post(
        url,
        {
            "kind": "system",
            "name": "Available",
            "icon": "circle",
            "colour": "#123456",
            "position": "0",
            "actions-TOTAL_FORMS": "0",
            "actions-INITIAL_FORMS": "0",
            "actions-2-TOTAL_FORMS": "0",
            "actions-2-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "name" in response.context["adminform"].form.errors
    assert PresenceProfile.objects.filter(kind="system", name="Available").count() == 1


def test_a_personal_profile_without_owner_is_a_form_error(admin_client, company):
    response = admin_client.post(
        _url(PresenceProfile, "add"),
        {
            "kind": "personal",
            "name": "Lunch",
            "icon": "utensils",
            "colour": "#123456",
            "position": "0",
            "actions-TOTAL_FORMS": "0",
            "actions-INITIAL_FORMS": "0",
            "actions-2-TOTAL_FORMS": "0",
            "actions-2-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "owner" in response.context["adminform"].form.errors
    assert not PresenceProfile.objects.filter(name="Lunch").exists()


@pytest.fixture
def softphone_team(company):
    """A client profile with presence profiles off, whose member carol has a
    softphone (not a DEE main device) as primary extension."""
    team = ClientProfile.objects.create(name="Softphone users")
    carol = make_user("carol", "1002", kind=Extension.Kind.SOFTPHONE, client=team, enable=False)
    return team, carol


def test_enabling_presence_on_a_client_profile_with_a_non_dee_member_is_a_form_error(admin_client, softphone_team):
    team, _ = softphone_team
    url = _url(ClientProfile, "change", team.pk)
    data = form_data(admin_client.get(url))
    data["presence_profiles_enabled"] = "on"
    response = admin_client.post(url, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["presence_profiles_enabled"]
    assert "carol" in errors[0]
    team.refresh_from_db()
    assert team.presence_profiles_enabled is False


def test_the_enable_action_refuses_a_client_profile_with_a_non_dee_member(admin_client, softphone_team):
    team, carol = softphone_team
    response = admin_client.post(
        _url(ClientProfile, "changelist"),
        {"action": "enable_presence", "_selected_action": [team.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert any("carol" in str(m) for m in response.context["messages"])
    team.refresh_from_db()
    assert team.presence_profiles_enabled is False
    assert not PresenceProfile.objects.filter(owner=carol).exists()


def test_the_enable_action_gives_members_the_defaults(admin_client, company):
    team = ClientProfile.objects.create(name="Later")
    dave = make_user("dave", "1003", client=team, enable=False)
    admin_client.post(_url(ClientProfile, "changelist"), {"action": "enable_presence", "_selected_action": [team.pk]})
    team.refresh_from_db()
    assert team.presence_profiles_enabled is True
    assert PresenceProfile.objects.filter(owner=dave).count() == 6
    assert Selection.objects.get(user=dave).profile.name == "In the office"


def test_putting_a_non_dee_user_under_an_enabled_client_profile_is_a_form_error(admin_client, softphone_team):
    _, carol = softphone_team
    account = carol.account
    url = _url(Account, "change", account.pk)
    data = form_data(admin_client.get(url))
    data["client_profile"] = str(client_profile().pk)
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "DEE main device" in str(response.context["adminform"].form.errors["primary_extension"])
    account.refresh_from_db()
    assert account.client_profile.name == "Softphone users"


def test_a_bad_time_zone_on_an_account_is_a_form_error(admin_client, company):
    account = company["alice"].account
    url = _url(Account, "change", account.pk)
    data = form_data(admin_client.get(url))
    data["time_zone"] = "Mars/Olympus"
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "time_zone" in response.context["adminform"].form.errors
    account.refresh_from_db()
    assert account.time_zone == "Europe/Berlin"


# --- saves go through the services ----------------------------------------------------


def test_editing_a_selected_system_profile_reapplies_it_for_its_users(admin_client, company, available):
    alice, bob = company["alice"], company["bob"]
    select_profile(user=alice, profile=available)
    dnd = available.actions.get(type="set_dnd")
    url = _url(Action, "change", dnd.pk)
    data = form_data(admin_client.get(url))
    data.update({"set_dnd-on": "true", "set_dnd-message": "Back soon"})

    response = admin_client.post(url, data)

    assert response.status_code == 302
    assert response["Location"] == _url(PresenceProfile, "change", available.pk)  # back to the profile
    edit = SwitchEvent.objects.filter(user=alice, event="edit").get()
    assert edit.source == Selection.Source.ADMIN
    assert edit.actor.username == "admin"
    primary = TargetState.objects.get(user=alice).state["extensions"]["1000"]
    assert primary["dnd"] is True and primary["dnd_message"] == "Back soon"
    assert not SwitchEvent.objects.filter(user=bob, event="edit").exists()


def test_a_new_account_under_an_enabled_client_profile_gets_the_defaults(admin_client, company):
    erin = User.objects.create_user("erin")
    ext = Extension.objects.create(number="1004", owner=erin)
    response = admin_client.post(
        _url(Account, "add"),
        {
            "user": erin.pk,
            "client_profile": client_profile().pk,
            "time_zone": "Europe/Vienna",
            "primary_extension": ext.pk,
        },
    )
    assert response.status_code == 302
    assert Account.objects.get(user=erin).time_zone == "Europe/Vienna"
    assert Selection.objects.get(user=erin).profile.name == "In the office"


# --- query counts -------------------------------------------------------------------------


def test_changelists_cost_the_same_number_of_queries_whatever_the_row_count(
    admin_client, company, django_assert_max_num_queries
):
    def count(model) -> int:
        from django.db import connection

        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(_url(model, "changelist")).status_code == 200
        return len(queries)

    small = {model: count(model) for model in REGISTERED}
    for i in range(4):
        populate(f"user{i}", f"11{i}0", f"21{i}0")
    ApplyRun.objects.bulk_create(
        ApplyRun(user=company["bob"], target_version=v, started_at=timezone.now(), result="applied") for v in range(20)
    )
    for model in REGISTERED:
        with django_assert_max_num_queries(small[model], info=model._meta.label):
            assert admin_client.get(_url(model, "changelist")).status_code == 200


# --- events from the admin ----------------------------------------------------------------


def test_the_hot_desk_actions_log_the_user_out_and_in_through_the_events(admin_client, company):
    frank = make_user("frank", "1005", hot_desk=True)
    extension = frank.account.primary_extension
    url = _url(Extension, "changelist")

    admin_client.post(url, {"action": "hot_desk_logout", "_selected_action": [extension.pk]})
    extension.refresh_from_db()
    assert extension.hot_desk_logged_in is False
    assert SwitchEvent.objects.filter(user=frank, event="hot_desk_logout", source="admin").count() == 1

    admin_client.post(url, {"action": "hot_desk_login", "_selected_action": [extension.pk]})
    extension.refresh_from_db()
    assert extension.hot_desk_logged_in is True
    assert SwitchEvent.objects.filter(user=frank, event="hot_desk_login", source="admin").count() == 1


def test_the_hot_desk_action_on_a_fixed_extension_is_a_message_not_an_error(admin_client, company):
    extension = company["alice"].account.primary_extension
    response = admin_client.post(
        _url(Extension, "changelist"),
        {"action": "hot_desk_logout", "_selected_action": [extension.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert any("not a hot-desk device" in str(m) for m in response.context["messages"])
    extension.refresh_from_db()
    assert extension.hot_desk_logged_in is True


def test_disconnecting_a_client_session_in_the_admin_reapplies_without_the_softphone(admin_client, company):
    alice = company["alice"]
    session = ClientSession.objects.get(user=alice)
    admin_client.post(_url(ClientSession, "changelist"), {"action": "disconnect", "_selected_action": [session.pk]})
    assert not ClientSession.objects.filter(user=alice).exists()
    assert SwitchEvent.objects.filter(user=alice, event="session_disconnect", source="admin").count() == 1


def test_the_selected_profile_cannot_be_deleted_in_the_admin(admin_client, company, available):
    select_profile(user=company["alice"], profile=available)
    response = admin_client.post(_url(PresenceProfile, "delete", available.pk), {"post": "yes"})
    assert response.status_code == 200
    assert "protected" in response.content.decode().lower()
    assert PresenceProfile.objects.filter(pk=available.pk).exists()


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m._meta.label)
def test_an_empty_add_form_is_answered_with_form_errors(admin_client, model):
    before = model._default_manager.count()
    response = admin_client.post(_url(model, "add"), {})
    if admin.site._registry[model].has_add_permission(response.wsgi_request):
        assert response.status_code == 200
        assert response.context["adminform"].form.errors
    else:
        assert response.status_code == 403
    assert model._default_manager.count() == before


# --- the action form with a field per parameter ------------------------------------------


def test_an_action_is_added_with_a_field_per_parameter(admin_client, available):
    response = admin_client.post(
        _url(Action, "add"),
        {
            "profile": available.pk,
            "phase": "enter",
            "position": "5",
            "enabled": "on",
            "type": "set_forward",
            "set_forward-target": "+49 30 1234 5678",
        },
    )
    assert response.status_code == 302
    action = Action.objects.get(profile=available, type="set_forward")
    assert action.params == {"prompt": False, "target": "+493012345678"}


def test_a_bad_parameter_is_an_error_on_its_field(admin_client, available):
    response = admin_client.post(
        _url(Action, "add"),
        {
            "profile": available.pk,
            "phase": "enter",
            "position": "5",
            "type": "set_forward",
            "set_forward-target": "nowhere",
        },
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert list(form.errors) == ["set_forward-target"]
    assert not Action.objects.filter(profile=available, type="set_forward").exists()


def test_a_location_action_takes_the_chosen_location(admin_client, available):
    desk = Location.objects.get(name="Desk 1000")
    response = admin_client.post(
        _url(Action, "add"),
        {
            "profile": available.pk,
            "phase": "exit",
            "position": "0",
            "type": "set_location",
            "set_location-location": desk.pk,
        },
    )
    assert response.status_code == 302
    assert Action.objects.get(profile=available, phase="exit").params == {"location": desk.pk}


def test_the_action_form_shows_the_stored_parameters(admin_client, available):
    dnd = available.actions.get(type="set_dnd")
    dnd.params = {"on": True, "prompt": False, "message": "Back soon"}
    dnd.save(update_fields=["params"])
    form = admin_client.get(_url(Action, "change", dnd.pk)).context["adminform"].form
    values = (form["set_dnd-on"].value(), form["set_dnd-prompt"].value(), form["set_dnd-message"].value())
    assert values == ("true", False, "Back soon")


def test_calendar_admin_shows_the_status_never_the_address(admin_client, company):
    from profiles.models import CalendarLink

    link = CalendarLink.objects.filter(user=company["alice"]).first()
    CalendarLink.objects.filter(pk=link.pk).update(status="error: The calendar server refused access (401)")
    html = admin_client.get(_url(CalendarLink, "changelist")).content.decode()
    assert "refused access (401)" in html
    assert "https://example.com/….ics" in html
    html = admin_client.get(_url(CalendarLink, "change", link.pk)).content.decode()
    assert "s3cr3t" not in html
    assert link.url_encrypted not in html


def test_calendar_admin_never_shows_a_caldav_password(admin_client, company):
    from profiles.models import CalendarLink

    link = link_calendar(
        user=company["alice"],
        profile=profile_named(company["alice"], "In a meeting"),
        name="CalDAV",
        source="caldav",
        url="https://dav.example.com/s3cr3t/",
        username="alice",
        password="pa55-w0rd",
    )
    for page in (_url(CalendarLink, "changelist"), _url(CalendarLink, "change", link.pk)):
        html = admin_client.get(page).content.decode()
        assert "CalDAV" in html
        assert "pa55-w0rd" not in html and link.password_encrypted not in html and "s3cr3t" not in html


def test_graph_subscription_admin_never_shows_the_client_state(admin_client, company):
    row = GraphSubscription.objects.first()
    for page in (_url(GraphSubscription, "changelist"), _url(GraphSubscription, "change", row.pk)):
        html = admin_client.get(page).content.decode()
        assert row.subscription_id in html and "client-state-s3cr3t" not in html
    connector = admin_client.get(_url(StatusConnector, "change", row.connector_id)).content.decode()
    assert "Graph subscriptions" in connector and "1 users until" in connector
