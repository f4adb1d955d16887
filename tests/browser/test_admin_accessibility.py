"""The admin pages we customise, in a real browser: axe finds nothing
critical or serious at 1280 and 390 px, and the presence profile form with
its action chains fits a 1280 px window."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from devices.models import ListenerStatus
from devices.services import record_line_states
from profiles.automation.connectors.calendar import link_calendar
from profiles.models import Action, PresenceProfile
from tests.browser.axe import assert_accessible
from tests.browser.conftest import DESKTOP
from tests.factories import make_user, profile_named

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def admin_page(chromium, live_server):
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-root")
    context = chromium.new_context(viewport=DESKTOP, device_scale_factor=1)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(live_server.url + "/admin/login/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("pw-root")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_server.url + "/admin/")
    yield page
    context.close()


def test_presence_profile_admin_pages_have_no_serious_axe_violation(admin_page, live_server):
    alice = make_user("alice", "1000", teams=["Sales"])
    office = profile_named(alice, "In the office")
    system = PresenceProfile.objects.filter(kind=PresenceProfile.Kind.SYSTEM).first()
    action = Action.objects.filter(profile=office).first()
    listener = ListenerStatus.objects.create(pbx="asterisk 127.0.0.1:5038", state=ListenerStatus.State.CONNECTED)
    record_line_states({"1000": "on_call"})
    link_calendar(user=alice, profile=office, name="Work", url="https://calendar.example.com/work.ics")
    paths = [
        "/admin/",
        "/admin/profiles/presenceprofile/",
        f"/admin/profiles/presenceprofile/{office.pk}/change/",
        f"/admin/profiles/presenceprofile/{system.pk}/change/",
        "/admin/profiles/presenceprofile/add/",
        f"/admin/profiles/action/{action.pk}/change/",
        "/admin/profiles/clientprofile/",
        "/admin/profiles/account/",
        # Main's newer admin pages: the listener's status, line states, calendars.
        "/admin/devices/listenerstatus/",
        f"/admin/devices/listenerstatus/{listener.pk}/change/",
        "/admin/devices/linestate/",
        "/admin/profiles/calendarlink/",
    ]
    for path in paths:
        response = admin_page.goto(live_server.url + path)
        assert response.status == 200, path
        expect(admin_page.locator("#content h1").first).to_be_visible()
        assert_accessible(admin_page, admin=True)


def test_presence_profile_change_form_fits_1280_px(admin_page, live_server):
    alice = make_user("alice", "1000", teams=["Sales"])
    office = profile_named(alice, "In the office")
    admin_page.goto(f"{live_server.url}/admin/profiles/presenceprofile/{office.pk}/change/")
    width = admin_page.evaluate("document.documentElement.scrollWidth")
    assert width <= DESKTOP["width"], width


def test_action_form_shows_only_the_chosen_types_fields(admin_page, live_server):
    alice = make_user("alice", "1000", teams=["Sales"])
    saved = Action.objects.filter(profile=profile_named(alice, "In the office")).first()
    admin_page.goto(live_server.url + "/admin/profiles/action/add/")
    groups = admin_page.locator("fieldset.action-params")
    assert groups.count() > 5  # one per action type with fields, all in the page
    expect(groups.locator("visible=true")).to_have_count(0)  # no type chosen yet
    admin_page.select_option("#id_type", "set_forward")
    expect(groups.locator("visible=true")).to_have_count(1)
    expect(admin_page.get_by_label("Forward to")).to_be_visible()
    expect(admin_page.get_by_label("DND")).to_be_hidden()
    admin_page.select_option("#id_type", "set_dnd")
    expect(admin_page.get_by_label("DND")).to_be_visible()
    expect(admin_page.get_by_label("Forward to")).to_be_hidden()
    # A saved action opens with its own type's fields.
    admin_page.goto(f"{live_server.url}/admin/profiles/action/{saved.pk}/change/")
    expect(groups.locator("visible=true")).to_have_count(1)
    expect(admin_page.locator(f"fieldset.action-type-{saved.type}")).to_be_visible()
