"""What a newcomer meets, in a real browser: refusals in the message area
even under DEBUG, the language choice, the action form inside its chain,
the preview after a switch and on a phone, My devices at phone width."""

import re

import pytest
from playwright.sync_api import expect

from profiles.models import Action
from tests.browser.conftest import PHONE, shoot
from tests.factories import make_user, profile_named

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def alice():
    return make_user("alice", "1000", teams=["Sales", "Support"])


def test_refusals_land_in_the_message_area_with_debug_on(open_page, alice, live_server, settings):
    settings.DEBUG = True
    page = open_page(alice)
    meeting = profile_named(alice, "In a meeting")
    # A meeting trigger without a status connector is refused (400).
    page.goto(f"{live_server.url}/profiles/{meeting.pk}/triggers/")
    page.get_by_role("button", name="Add meeting trigger").click()
    expect(page.locator("#messages .message-error")).to_be_visible()
    expect(page.locator(".topbar")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("Triggers for"))).to_be_visible()
    # An object deleted meanwhile (404): a message, not Django's debug page.
    page.goto(f"{live_server.url}/profiles/{meeting.pk}/")
    first = Action.objects.filter(profile=meeting, phase="enter").order_by("position", "id").first()
    edit = page.locator(f"#action-{first.pk}").get_by_role("link", name=re.compile("Edit"))
    Action.objects.filter(pk=first.pk).delete()
    edit.click()
    expect(page.locator("#messages")).to_contain_text("That item no longer exists")
    expect(page.locator(".topbar")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("When I select this profile"))).to_be_visible()


def test_language_choice_switches_the_page_and_is_remembered(open_page, alice, live_server):
    page = open_page(alice)
    expect(page.get_by_role("heading", name="My presence")).to_be_visible()
    page.get_by_role("button", name="Deutsch").click()
    expect(page.get_by_role("heading", name="Meine Präsenz")).to_be_visible()
    expect(page.locator(".current-name")).to_have_text("Im Büro")
    page.goto(f"{live_server.url}/devices/")
    expect(page.get_by_role("heading", name="Meine Geräte", exact=True)).to_be_visible()
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="My devices", exact=True)).to_be_visible()


def test_action_form_opens_in_its_chain_without_asking_the_phase(open_page, alice, live_server):
    office = profile_named(alice, "In the office")
    page = open_page(alice, path=f"/profiles/{office.pk}/")
    leaving = page.locator("section.chain").filter(has=page.get_by_role("heading", name="When I leave this profile"))
    leaving.get_by_label(re.compile("Action to add")).select_option("change_destinations")
    leaving.get_by_role("button", name="Add").click()
    form = leaving.locator(".action-form")
    expect(form).to_be_visible()
    expect(form.get_by_label("Run")).to_have_count(0)
    # The defaults are valid: submitting them adds the action to this chain.
    form.get_by_role("button", name="Add action").click()
    expect(leaving.locator(".chain-item")).to_have_count(1)
    action = Action.objects.get(profile=office, phase="exit")
    assert action.type == "change_destinations" and action.params["active"] is True


def test_preview_after_switch_and_on_a_phone(open_page, alice):
    page = open_page(alice, viewport=PHONE)
    meeting = page.locator(".profile-tile").filter(has_text="In a meeting")
    meeting.get_by_role("link", name=re.compile("Preview")).click()
    panel = page.locator("#preview-panel")
    expect(panel).to_contain_text("Switching to In a meeting would")
    # Visible on the phone: scrolled into view, not under the bottom bar.
    box = panel.bounding_box()
    nav = page.locator(".mainnav").bounding_box()
    assert box["y"] >= 0 and box["y"] < nav["y"]
    shoot(page, "preview-phone")
    meeting.get_by_role("button").click()
    expect(page.locator(".current-name")).to_have_text("In a meeting")
    expect(panel).not_to_contain_text("Switching to In a meeting would")


def test_phone_width_my_devices_fits_and_rows_are_labelled(open_page, alice, live_server):
    page = open_page(alice, viewport=PHONE)
    expect(page.locator(".whoami")).to_be_visible()  # whose portal this is
    page.goto(f"{live_server.url}/devices/")
    expect(page.get_by_role("heading", name="My devices", exact=True)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    first_row = page.locator("table.compare tbody tr").first
    expect(first_row.locator("td").nth(1)).to_be_visible()  # "Profile" is on screen, labelled
    expect(page.get_by_role("link", name="phone 1000")).to_be_visible()  # the simulated handset
    shoot(page, "devices-phone-fits")
    page.goto(f"{live_server.url}/profiles/")
    row = page.locator("#profile-list .row").first
    expect(row.get_by_role("link", name="Edit")).to_be_visible()
    expect(row.get_by_role("link", name="Triggers")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_admin_profile_form_has_no_json_and_fits_1280(chromium, live_server, alice):
    from django.contrib.auth import get_user_model

    from profiles.models import PresenceProfile
    from tests.browser.conftest import DESKTOP

    get_user_model().objects.create_superuser("admin", "admin@example.com", "pw-admin")
    available = PresenceProfile.objects.get(kind="system", name="Available")
    context = chromium.new_context(viewport=DESKTOP, locale="de-DE")
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "pw-admin")
    page.locator("input[type=submit]").click()
    page.goto(f"{live_server.url}/admin/profiles/presenceprofile/{available.pk}/change/")
    expect(page.get_by_text("Aktion hinzufügen")).to_be_visible()  # German admin labels
    assert page.locator("textarea").count() == 0  # no JSON field
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    shoot(page, "admin-profile-desktop-de")
    page.get_by_role("link", name="beim Verlassen").click()
    expect(page.locator("#id_phase")).to_have_value("exit")
    context.close()
