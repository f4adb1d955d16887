"""Live updates in a real browser: bob's open Colleagues board shows
alice's switch and her phone ringing from the event stream (uvicorn in a
subprocess, tests/stream.py) without one poll of the board."""

import copy

import pytest
from playwright.sync_api import expect

from devices.services import record_line_states
from profiles.services import select_profile
from tests.factories import make_user, profile_named
from tests.stream import stream_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_switch_shows_on_a_colleagues_open_board_without_a_poll(open_page, live_server, settings, tmp_path):
    wake = f"file://{tmp_path / 'live.wake'}"
    settings.LIVE_TRANSPORT_URL = wake
    with stream_server(LIVE_TRANSPORT_URL=wake, LIVE_ALLOWED_ORIGINS=live_server.url) as stream:
        # The pages find the stream on its own port of the page's host, as under ./run.
        port = stream.rsplit(":", 1)[1]
        settings.LIVE_STREAM_URL = "http://{host}:" + port + "/live/events/"
        policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
        policy["DIRECTIVES"]["connect-src"].append(f"http://localhost:{port}")
        settings.CONTENT_SECURITY_POLICY = policy  # as CSP_CONNECT_SRC would
        alice, bob = make_user("alice", "1000"), make_user("bob", "1001")
        page = open_page(bob)
        board = live_server.url + "/colleagues/"
        # The stream opens, then the board checks once what changed before it did (304).
        with page.expect_response(lambda r: r.url.startswith(board) and r.status == 304):
            page.goto(board)
        expect(page.locator("#live-status")).to_have_text("live")
        polls = []
        page.on("request", lambda request: polls.append(request.url) if request.url.startswith(board) else None)

        select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
        card = page.locator('li[data-user="alice"]')
        expect(card.locator(".person-status")).to_have_text("In a meeting")
        record_line_states({"1000": "ringing"})
        expect(card.locator(".person-line")).to_contain_text("ringing")
        assert polls == []
