"""The user pages in a real browser: switching with a prompt, reordering an
action, adding a time trigger (the region list following its country),
linking a CalDAV account, the refusal to delete the selected profile,
and a colleague's switch appearing on the board."""

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from devices.models import Extension, Mismatch
from devices.services import manual_change
from devices.state import Command
from profiles.automation.sessions import set_session_trigger
from profiles.automation.triggers import create_time_trigger
from profiles.events import ClientInfo, connect_client
from profiles.models import Action, Selection, Trigger
from profiles.services import select_profile
from tests.browser.axe import assert_accessible
from tests.browser.conftest import DESKTOP, PHONE, shoot
from tests.factories import make_user, profile_named

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def alice():
    return make_user("alice", "1000", teams=["Sales", "Support"])


def test_switch_to_profile_with_prompt_shows_status_update(open_page, alice):
    # Through the real login form (the other tests get their session as a cookie).
    page = open_page(alice, form=True)
    expect(page.locator(".current-name")).to_have_text("In the office")
    page.get_by_role("button", name=re.compile("Working from home")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Forward calls to").fill("+49 30 1234567")
    shoot(page, "prompt-dialog-desktop")
    assert_accessible(page)
    dialog.get_by_role("button", name="Switch").click()
    expect(dialog).to_have_count(0)
    expect(page.locator(".current-name")).to_have_text("Working from home")
    # The answer carried only the two tiles whose mark moved: one is current.
    expect(page.locator(".profile-tile.is-current")).to_have_count(1)
    expect(page.locator(".profile-tile.is-current")).to_contain_text("Working from home")
    expect(page.locator("#apply-status")).to_contain_text("Applied to your phones")
    expect(page.get_by_text("Calls forwarded to")).to_contain_text("+49301234567")
    assert Selection.objects.get(user=alice).prompt_values == {"forward": "+49301234567"}


def test_handset_change_shows_a_mismatch_and_reapply_clears_it(open_page, alice):
    page = open_page(alice)
    expect(page.locator("#apply-status")).to_contain_text("Applied to your phones")
    # Alice presses DND on her desk phone: it sticks, and the portal says so.
    manual_change(extension="1000", command=Command("1000", "set_dnd", {"on": True, "message": ""}))
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Your phones differ from your profile", timeout=10_000)
    shoot(page, "mismatch-desktop")
    assert_accessible(page)
    page.get_by_role("button", name="Re-apply my profile").click()
    expect(page.locator("#apply-status")).to_contain_text("Applied again to your phones")
    expect(page.get_by_role("alert")).to_have_count(0)
    assert not Mismatch.objects.filter(user=alice).exists()


def test_reorder_an_action_with_the_arrows(open_page, alice, live_server):
    office = profile_named(alice, "In the office")
    first = Action.objects.filter(profile=office, phase="enter").order_by("position", "id").first()
    page = open_page(alice, path=f"/profiles/{office.pk}/")
    items = page.locator("#chain-enter + .chain-list .chain-desc")
    first_text = items.first.inner_text()
    page.get_by_role("button", name=f"Move “{first_text.strip()}” down").click()
    expect(items.nth(1)).to_contain_text(first_text.strip())
    chain = list(Action.objects.filter(profile=office, phase="enter").order_by("position", "id"))
    assert chain[1].pk == first.pk


def test_add_an_action_with_field_errors_in_place(open_page, alice, live_server):
    holiday = profile_named(alice, "On holiday")
    page = open_page(alice, path=f"/profiles/{holiday.pk}/")
    page.get_by_label("Action to add (When I select this profile)").select_option("change_destinations")
    page.locator("#chain-enter").locator("xpath=..").get_by_role("button", name="Add").click()
    form = page.locator(".action-form")
    expect(form).to_be_visible()
    form.get_by_label("Active").select_option("")  # only the ring delay
    form.get_by_label("Ring delay (seconds)").fill("500")
    form.get_by_role("button", name="Add action").click()
    expect(form).to_contain_text("Enter a number from 0 to 120.")
    shoot(page, "action-error-desktop")
    assert_accessible(page)
    form.get_by_label("Ring delay (seconds)").fill("10")
    form.get_by_role("button", name="Add action").click()
    expect(page.locator("#chains")).to_contain_text("All destinations: ring delay 10 s")
    expect(page.locator(".action-form")).to_have_count(0)
    assert Action.objects.filter(profile=holiday, type="change_destinations", params__ring_delay=10).exists()


def test_add_a_time_trigger(open_page, alice, live_server):
    holiday = profile_named(alice, "On holiday")
    page = open_page(alice, path=f"/profiles/{holiday.pk}/triggers/")
    page.get_by_label("Time", exact=True).fill("18:30")
    page.get_by_role("button", name="Add time trigger").click()
    expect(page.locator("#trigger-panel")).to_contain_text("At 18:30")
    assert_accessible(page)
    trigger = Trigger.objects.get(profile=holiday)
    assert trigger.time_of_day.strftime("%H:%M") == "18:30" and trigger.weekdays == 0b0011111


def test_the_region_list_follows_the_country(open_page, alice, live_server):
    holiday = profile_named(alice, "On holiday")
    page = open_page(alice, path=f"/profiles/{holiday.pk}/triggers/")
    regions = page.locator("#holiday-regions option")
    bavaria = page.locator("#holiday-regions option", has_text="DE: Bayern")
    expect(bavaria).to_have_count(1)  # every country's regions, first
    country = page.get_by_label("Skip public holidays of")
    country.fill("AT")
    country.press("Tab")  # change: htmx swaps the list
    expect(regions).to_have_count(9)
    expect(regions.first).to_have_text("AT: Burgenland")
    expect(bavaria).to_have_count(0)


def test_link_a_caldav_account(open_page, alice, live_server):
    from profiles.models import CalendarLink

    meeting = profile_named(alice, "In a meeting")
    page = open_page(alice, path=f"/profiles/{meeting.pk}/triggers/")
    password = page.get_by_label("CalDAV password")
    expect(password).to_be_hidden()  # an ICS address needs none
    page.get_by_label("CalDAV account").check()
    expect(password).to_be_visible()
    page.get_by_label("Calendar address", exact=True).fill("https://dav.example.com/alice/work/")
    page.get_by_label("CalDAV user name").fill("alice")
    password.fill("s3cr3t-pw")
    page.get_by_role("button", name="Link calendar").click()
    expect(page.locator("#trigger-panel")).to_contain_text("CalDAV alice")
    expect(page.locator("#trigger-panel")).not_to_contain_text("s3cr3t-pw")
    link = CalendarLink.objects.get(user=alice)
    assert (link.source, link.username, link.url_hint) == ("caldav", "alice", "https://dav.example.com/…ork/")


def test_deleting_the_selected_profile_is_refused(open_page, alice, live_server):
    page = open_page(alice, path="/profiles/")
    page.get_by_role("link", name="Delete In the office").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    assert_accessible(page)
    dialog.get_by_role("button", name="Delete").click()
    expect(page.locator("#messages")).to_contain_text("You cannot delete the profile you have selected")
    assert_accessible(page)
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert profile_named(alice, "In the office").pk


def test_colleagues_switch_appears_on_the_board(open_page, alice, live_server):
    bob = make_user("bob", "1001", teams=["Sales"])
    page = open_page(alice, path="/colleagues/")
    bob_card = page.locator('[data-user="bob"]')
    expect(bob_card).to_contain_text("In the office")
    # While nothing changes the polls answer 304 and the board is not swapped:
    # wait for the next poll's answer (an event, not a fixed time).
    page.evaluate("document.getElementById('board').dataset.probe = 'unchanged'")
    with page.expect_response(lambda r: "/colleagues/" in r.url, timeout=10_000) as poll:
        pass
    assert poll.value.status == 304
    assert page.evaluate("document.getElementById('board').dataset.probe") == "unchanged"
    select_profile(user=bob, profile=profile_named(bob, "In a meeting"))
    expect(bob_card).to_contain_text("In a meeting", timeout=10_000)
    assert_accessible(page)


def test_screenshots_of_the_main_pages(open_page, alice, live_server):
    make_user("bob", "1001", teams=["Sales"])
    carol = make_user("carol", "1002", teams=["Support"])
    carol.first_name, carol.last_name = "Carol", "Jones"
    carol.save()
    select_profile(user=carol, profile=profile_named(carol, "On holiday"))
    alice.first_name, alice.last_name = "Alice", "Smith"
    alice.save()
    office = profile_named(alice, "In the office")
    create_time_trigger(user=alice, profile=office, time_of_day=dt.time(8, 30))
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    # A connected desktop client and a session trigger (its page).
    set_session_trigger(user=alice, profile=profile_named(alice, "On holiday"), return_on_connect=True)
    softphone = Extension.objects.create(number="2000", kind=Extension.Kind.SOFTPHONE, owner=alice)
    connect_client(user=alice, extension=softphone, client=ClientInfo("desk-1", "Phone Manager", "7.2"))
    pages = {
        "presence": "/",
        "profiles": "/profiles/",
        "editor": f"/profiles/{office.pk}/",
        "triggers": f"/profiles/{office.pk}/triggers/",
        "colleagues": "/colleagues/",
        "devices": "/devices/",
        "session-trigger": "/devices/session-trigger/",
        "history": "/history/",
    }
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = open_page(alice, viewport)
        # The login page, seen from a second, anonymous browser context.
        anonymous = page.context.browser.new_context(viewport=viewport)
        login = anonymous.new_page()
        login.goto(live_server.url + "/accounts/login/")
        expect(login.get_by_role("button", name="Log in")).to_be_visible()
        shoot(login, f"login-{size}")
        anonymous.close()
        for name, path in pages.items():
            page.goto(live_server.url + path)
            expect(page.locator("main h1").first).to_be_visible()
            # axe on these pages, in these states, at both widths:
            # test_accessibility.py::test_every_page_has_no_axe_violation_at_both_widths
            shoot(page, f"{name}-{size}")
        # The same pages in German: the browser's language on the log-in
        # page, then the language chosen on the page.
        anonymous = page.context.browser.new_context(viewport=viewport, locale="de-DE")
        login = anonymous.new_page()
        login.goto(live_server.url + "/accounts/login/")
        expect(login.get_by_role("button", name="Anmelden")).to_be_visible()
        shoot(login, f"login-{size}-de")
        anonymous.close()
        page.get_by_role("button", name="Deutsch").click()
        expect(page.locator("html")).to_have_attribute("lang", "de")
        for name, path in pages.items():
            page.goto(live_server.url + path)
            expect(page.locator("main h1").first).to_be_visible()
            shoot(page, f"{name}-{size}-de")
