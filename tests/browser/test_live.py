"""Live updates in a real browser, from the event stream (uvicorn in a
subprocess, tests/stream.py) with the pages' polls paused: bob's open
Colleagues board shows alice's switch and her ringing phone, and alice's My
presence shows a mismatch the moment it is recorded."""

import copy
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from devices.converge import replace_mismatches
from devices.services import record_line_states
from devices.state import Command
from profiles.models import Account, Selection
from profiles.services import select_profile
from tests.factories import make_user, profile_named
from tests.stream import stream_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stream(live_server, settings, tmp_path):
    wake = f"file://{tmp_path / 'live.wake'}"
    settings.LIVE_TRANSPORT_URL = wake
    with stream_server(LIVE_TRANSPORT_URL=wake, LIVE_ALLOWED_ORIGINS=live_server.url) as base:
        # The pages find the stream on its own port of the page's host, as under ./run.
        port = base.rsplit(":", 1)[1]
        settings.LIVE_STREAM_URL = "http://{host}:" + port + "/live/events/"
        policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
        policy["DIRECTIVES"]["connect-src"].append(f"http://localhost:{port}")
        settings.CONTENT_SECURITY_POLICY = policy  # as CSP_CONNECT_SRC would
        yield base


@pytest.fixture
def open_page(open_page, stream):
    """The suite's open_page, whose pages are closed before the stream
    server stops: a page's open event stream held the server's shutdown for
    its whole grace period (2 s of each test's teardown)."""
    pages = []

    def _open(*args, **kwargs):
        pages.append(open_page(*args, **kwargs))
        return pages[-1]

    yield _open
    for page in pages:
        page.context.close()


def open_live(page, url, poll):
    """Open ``url`` and wait until the stream is open and the page's one
    catch-up poll (``poll``) after it has been answered."""
    with page.expect_response(lambda r: r.url.startswith(poll) and r.status == 304):
        page.goto(url)
    expect(page.locator("#live-status")).to_have_text("live")


def test_a_switch_shows_on_a_colleagues_open_board_without_a_poll(open_page, live_server, stream):
    alice, bob = make_user("alice", "1000"), make_user("bob", "1001")
    Account.objects.filter(user=bob).update(time_zone="Pacific/Kiritimati")  # UTC+14, not the browser's
    page = open_page(bob)
    board = live_server.url + "/colleagues/"
    open_live(page, board, board)
    polls = []
    page.on("request", lambda request: polls.append(request.url) if request.url.startswith(board) else None)

    meeting = profile_named(alice, "In a meeting")
    select_profile(user=alice, profile=meeting)
    card = page.locator('li[data-user="alice"]')
    expect(card.locator(".person-status")).to_have_text("In a meeting")
    # The row takes the new profile's colour (painted through the CSSOM).
    expect(card).to_have_attribute("data-colour", meeting.colour)
    assert card.evaluate("el => el.style.getPropertyValue('--profile')") == meeting.colour
    # "since" in bob's time zone, as the page renders it.
    since = Selection.objects.get(user=alice).since.astimezone(ZoneInfo("Pacific/Kiritimati"))
    expect(card.locator("time")).to_contain_text(since.strftime("%H:%M"))
    record_line_states({"1000": "ringing"})
    expect(card.locator(".person-line")).to_contain_text("ringing")
    assert polls == []


def test_my_presence_shows_a_mismatch_from_the_stream(open_page, live_server, stream):
    alice = make_user("alice", "1000")
    page = open_page(alice)
    open_live(page, live_server.url + "/", live_server.url + "/presence/status/")
    expect(page.locator(".alert-warning")).to_have_count(0)

    replace_mismatches({alice.pk: [Command("1000", "set_dnd", {"on": True, "message": ""})]}, timezone.now())
    expect(page.locator(".alert-warning")).to_contain_text("Your phones differ from your profile")
