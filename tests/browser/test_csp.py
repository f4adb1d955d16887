"""The Content-Security-Policy in a real browser: every user page, the
simulated phone and every admin list and add form load without one
refusal (tests/browser/conftest.py fails a test on any), profile colours
still show, and the guard itself catches an inline style."""

import datetime as dt

import pytest
from django.contrib import admin
from django.urls import reverse
from playwright.sync_api import expect

from profiles.automation.triggers import create_time_trigger
from tests.browser.conftest import CSP_VIOLATIONS, DESKTOP, PHONE
from tests.factories import make_user, profile_named

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

USER_PAGES = [
    "/",
    "/profiles/",
    "/colleagues/",
    "/devices/",
    "/devices/session-trigger/",
    "/history/",
    "/presence/time-zone/",
    "/api-tokens/",
]


@pytest.fixture
def alice():
    return make_user("alice", "1000", teams=["Sales"])


def test_the_policy_refuses_an_inline_style_and_the_guard_sees_it(open_page, alice):
    page = open_page(alice)
    policy = page.request.get(page.url).headers["content-security-policy"]
    assert "style-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    # The console message arrives asynchronously: wait for it, not a while.
    with page.expect_console_message(lambda message: "Content Security Policy" in message.text):
        page.evaluate("document.body.setAttribute('style', 'background: red')")
    page.wait_for_function("document.body.getAttribute('style') !== null")
    assert any("style-src" in text for text in CSP_VIOLATIONS)
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != "rgb(255, 0, 0)"
    CSP_VIOLATIONS.clear()  # seen on purpose; the guard checks the rest of the test


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_user_pages_load_under_the_policy_with_profile_colours(open_page, alice, live_server, viewport):
    office = profile_named(alice, "In the office")
    create_time_trigger(user=alice, profile=office, time_of_day=dt.time(8, 30))
    page = open_page(alice, viewport)
    for path in [*USER_PAGES, f"/profiles/{office.pk}/", f"/profiles/{office.pk}/triggers/"]:
        page.goto(live_server.url + path)
        expect(page.locator("main")).to_be_visible()
    # The colour set through the CSSOM (no inline style attribute).
    page.goto(live_server.url + "/profiles/")
    row = page.locator("[data-colour]").first
    colour = row.get_attribute("data-colour")
    assert page.evaluate("el => el.style.getPropertyValue('--profile')", row.element_handle()) == colour


def test_switch_preview_and_action_cancel_work_without_inline_handlers(open_page, alice, live_server):
    page = open_page(alice)
    away = profile_named(alice, "On holiday")
    page.locator(f"#tile-{away.pk} .preview-link").click()
    expect(page.locator("#preview-panel .preview")).to_be_visible()
    page.locator("#preview-panel [data-close-panel]").click()
    expect(page.locator("#preview-panel .preview")).to_have_count(0)
    assert page.url == live_server.url + "/"


def test_simulated_phone_and_every_admin_list_and_add_form_load_under_the_policy(open_page, live_server):
    boss = make_user("boss", "1999")
    boss.is_staff = boss.is_superuser = True
    boss.save()
    page = open_page(boss, path="/phone/1999/")
    expect(page.locator("main, body").first).to_be_visible()
    page.goto(live_server.url + reverse("admin:index"))
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        page.goto(live_server.url + reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        assert page.title(), meta.label
        if model_admin.has_add_permission(_request_for(boss)):
            page.goto(live_server.url + reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            page.goto(live_server.url + reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk]))


def _request_for(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def test_the_api_docs_render_under_the_policy(open_page, alice, live_server):
    page = open_page(alice, path="/api/v1/docs")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()


def test_session_trigger_set_error_and_clear_under_the_policy(open_page, alice, live_server):
    """The session trigger page's htmx answers (saved, a form error, cleared)
    swap in without a refusal; a connected client is listed."""
    from devices.models import Extension
    from profiles import events

    ext = Extension.objects.create(number="2000", kind=Extension.Kind.SOFTPHONE, owner=alice)
    events.connect_client(user=alice, extension=ext, client=events.ClientInfo("desk-1", "Phone Manager", "7.2"))
    page = open_page(alice, PHONE, path="/devices/session-trigger/")
    expect(page.locator("#session-panel")).to_contain_text("Softphone 2000 · Phone Manager 7.2")
    page.locator("#session-trigger-save").click()
    expect(page.locator("#id_profile_error")).to_have_text("Choose a profile.")
    page.get_by_label("When my last client disconnects or expires, switch to").select_option(label="On holiday")
    page.locator("#session-trigger-save").click()
    expect(page.locator("#messages")).to_contain_text("Session trigger saved.")
    page.locator("#session-trigger-clear").click()
    expect(page.locator("#messages")).to_contain_text("Session trigger cleared.")
    expect(page.locator("#session-trigger-clear")).to_have_count(0)
