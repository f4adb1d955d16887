"""Calendar triggers: reading realistic ICS files (Outlook-style VTIMEZONE,
a weekly recurrence with an EXDATE and a moved occurrence, an all-day
holiday, an event across the DST change, an event in another zone, a
floating time), fetching them from a local HTTP server (ETag, 304, 401,
404, not a calendar, 20 MB, slow, unreachable, endless recurrence), and
the due-scan switching a user during an event and back after it."""

import datetime as dt
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from devices.models import TargetState
from profiles.automation.connectors import calendar
from profiles.automation.tasks import due_scan
from profiles.models import Account, CalendarLink, Selection
from profiles.services import select_profile, update_profile
from tests.ami_server import QUICK_STOP
from tests.factories import make_user, profile_named

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
WEEKLY = (Path(__file__).parent / "calendars" / "outlook_weekly.ics").read_bytes()
BUSY, TITLE, CATEGORY = calendar.Rule(), calendar.Rule("title", "standup"), calendar.Rule("category", "holiday")


def _berlin(intervals):
    return [
        (a.astimezone(BERLIN).strftime("%a %d %b %H:%M"), b.astimezone(BERLIN).strftime("%a %d %b %H:%M"))
        for a, b in intervals
    ]


def _busy(start, end, rule=BUSY, zone=BERLIN):
    return _berlin(calendar.busy_intervals(calendar.parse(WEEKLY), start=start, end=end, rule=rule, zone=zone))


# --- reading ICS ------------------------------------------------------------------------------


def test_weekly_recurrence_with_exdate_moved_occurrence_other_zone_and_floating_time():
    week = _busy(dt.datetime(2026, 11, 30, tzinfo=UTC), dt.datetime(2026, 12, 8, tzinfo=UTC))
    assert week == [
        ("Mon 30 Nov 10:00", "Mon 30 Nov 10:30"),  # the standup; the free lunch and the cancelled review do not count
        ("Tue 01 Dec 15:00", "Tue 01 Dec 16:00"),  # 09:00 in New York
        # Wednesday 2 December's standup is an EXDATE.
        ("Thu 03 Dec 08:00", "Thu 03 Dec 09:00"),  # floating time: the user's 08:00
        ("Mon 07 Dec 14:00", "Mon 07 Dec 14:30"),  # moved from 10:00 (RECURRENCE-ID)
    ]


def test_all_day_holiday_is_the_users_whole_day():
    assert _busy(dt.datetime(2026, 12, 24, tzinfo=UTC), dt.datetime(2026, 12, 27, tzinfo=UTC), CATEGORY) == [
        ("Fri 25 Dec 00:00", "Sat 26 Dec 00:00")
    ]


def test_event_across_the_dst_change_lasts_nine_real_hours():
    (interval,) = calendar.busy_intervals(
        calendar.parse(WEEKLY),
        start=dt.datetime(2026, 10, 24, tzinfo=UTC),
        end=dt.datetime(2026, 10, 26, tzinfo=UTC),
        rule=BUSY,
        zone=BERLIN,
    )
    assert interval[1] - interval[0] == dt.timedelta(hours=9)  # 22:00 CEST to 06:00 CET
    assert _berlin([interval]) == [("Sat 24 Oct 22:00", "Sun 25 Oct 06:00")]


def test_rules_title_word_and_category():
    week = (dt.datetime(2026, 11, 30, tzinfo=UTC), dt.datetime(2026, 12, 8, tzinfo=UTC))
    assert _busy(*week, TITLE) == [("Mon 30 Nov 10:00", "Mon 30 Nov 10:30"), ("Mon 07 Dec 14:00", "Mon 07 Dec 14:30")]
    assert _busy(*week, calendar.Rule("category", "Team")) == [("Mon 30 Nov 10:00", "Mon 30 Nov 10:30")]


def test_floating_time_follows_the_users_zone():
    new_york = _busy(
        dt.datetime(2026, 12, 3, tzinfo=UTC), dt.datetime(2026, 12, 4, tzinfo=UTC), zone=ZoneInfo("America/New_York")
    )
    assert new_york == [("Thu 03 Dec 14:00", "Thu 03 Dec 15:00")]  # 08:00 in New York


ENDLESS = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VEVENT\r\nUID:e@x\r\nDTSTAMP:20261101T000000Z\r\nSUMMARY:spam\r\nDTSTART:20261130T080000Z\r\nDTEND:20261130T080001Z\r\nRRULE:FREQ=MINUTELY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"


def test_endless_recurrence_is_a_clear_error_not_a_hang():
    with pytest.raises(calendar.CalendarError, match="more than 500 events"):
        calendar.busy_intervals(
            calendar.parse(ENDLESS),
            start=dt.datetime(2026, 11, 30, tzinfo=UTC),
            end=dt.datetime(2026, 12, 2, tzinfo=UTC),
            rule=BUSY,
            zone=BERLIN,
        )


@pytest.mark.parametrize(
    "body", [b"<!doctype html><html><body>Sign in</body></html>", b"", b"BEGIN:VCARD\r\nEND:VCARD\r\n"]
)
def test_a_body_that_is_no_calendar_is_a_clear_error(body):
    with pytest.raises(calendar.CalendarError, match="not a calendar"):
        calendar.parse(body)


# --- fetching from a local HTTP server ------------------------------------------------------------


class CalendarServer(BaseHTTPRequestHandler):
    routes: dict = {}
    log: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.log.append((self.path, self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")))
        route = self.routes.get(self.path)
        if route is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        route(self)


def _send(handler, status, body=b"", headers=None):
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    if "Content-Length" not in (headers or {}):
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _ics(handler):
    if handler.headers.get("If-None-Match") == '"v1"':
        return _send(handler, 304, headers={"ETag": '"v1"'})
    _send(
        handler,
        200,
        WEEKLY,
        {"Content-Type": "text/calendar", "ETag": '"v1"', "Last-Modified": "Sun, 29 Nov 2026 08:00:00 GMT"},
    )


def _huge_declared(handler):
    _send(handler, 200, b"", {"Content-Length": str(20 * 1024 * 1024), "Content-Type": "text/calendar"})


def _huge_streamed(handler):
    handler.send_response(200)
    handler.send_header("Content-Type", "text/calendar")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = b"X" * 65536
    try:
        for _ in range(20 * 16):  # 20 MB in 64 KB chunks
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        handler.wfile.write(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass


def _slow(handler):
    handler.send_response(200)
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    try:
        for _ in range(100):
            handler.wfile.write(b"X" * 1000)
            handler.wfile.flush()
            time.sleep(0.1)
    except (BrokenPipeError, ConnectionResetError):
        pass


@pytest.fixture
def server():
    CalendarServer.routes = {
        "/owa/calendar/secret123/calendar.ics": _ics,
        "/private": lambda h: _send(h, 401, b"Unauthorized", {"WWW-Authenticate": "Basic"}),
        "/html": lambda h: _send(h, 200, b"<!doctype html><p>Sign in</p>", {"Content-Type": "text/html"}),
        "/huge": _huge_declared,
        "/huge-streamed": _huge_streamed,
        "/slow": _slow,
        "/endless.ics": lambda h: _send(h, 200, ENDLESS, {"Content-Type": "text/calendar"}),
    }
    CalendarServer.log = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), CalendarServer)
    thread = threading.Thread(target=httpd.serve_forever, kwargs=QUICK_STOP, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_fetch_sends_etag_and_gets_304(server):
    url = f"{server}/owa/calendar/secret123/calendar.ics"
    first = calendar.fetch(url)
    assert first.body == WEEKLY and first.etag == '"v1"'
    second = calendar.fetch(url, etag=first.etag, last_modified=first.last_modified)
    assert second.body is None
    assert CalendarServer.log[-1] == ("/owa/calendar/secret123/calendar.ics", '"v1"', "Sun, 29 Nov 2026 08:00:00 GMT")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/private", "refused access (401)"),
        ("/nothing-here", "no calendar at this address (404)"),
        ("/huge", "larger than 5 MB"),
        ("/huge-streamed", "larger than 5 MB"),
        ("/slow", "took longer than 2 s"),
    ],
)
def test_fetch_problems_are_clear_errors(server, settings, path, message):
    settings.CALENDAR_FETCH_SECONDS = 2
    started = time.monotonic()
    with pytest.raises(calendar.CalendarError, match=message.replace("(", r"\(").replace(")", r"\)")):
        calendar.fetch(f"{server}{path}")
    # The slow server needs 10 s for its 100 kB: the fetch stops at its
    # deadline, not at the end of a 64 kB read.
    assert time.monotonic() - started < 4


def test_unreachable_server_is_a_clear_error():
    # A port nobody listens on.
    with pytest.raises(calendar.CalendarError, match="cannot be reached"):
        calendar.fetch("http://127.0.0.1:9/calendar.ics")


# --- the due-scan switches and returns -------------------------------------------------------------

NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 in Berlin


@pytest.fixture
def alice(db, time_machine):
    time_machine.move_to(NOW, tick=False)
    user = make_user("alice", "1000")
    Account.objects.filter(user=user).update(time_zone="Europe/Berlin")
    return user


def _link(user, url, **kwargs):
    return calendar.link_calendar(
        user=user, profile=profile_named(user, "In a meeting"), name="Work", url=url, **kwargs
    )


def _selection(user):
    return Selection.objects.select_related("profile").get(user=user)


@pytest.fixture
def scan(committed):
    """due_scan() with its on-commit work (the converge of a switch) run at
    its end, as production commits: the tests need no transactional
    database (a flush after each) for that."""

    def _scan():
        with committed():
            due_scan()

    return _scan


@pytest.mark.django_db
def test_calendar_event_switches_and_returns(server, alice, time_machine, scan):
    link = _link(alice, f"{server}/owa/calendar/secret123/calendar.ics", match="title", match_value="standup")
    scan()  # first fetch
    link.refresh_from_db()
    assert link.status == "ok: 1 matching events in the next 48 hours"
    assert link.next_change_at == dt.datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # the standup at 10:00 Berlin
    assert _selection(alice).profile.name == "In the office"

    time_machine.move_to(dt.datetime(2026, 11, 30, 9, 0, 10, tzinfo=UTC), tick=False)
    scan()
    selection = _selection(alice)
    assert (selection.profile.name, selection.source) == ("In a meeting", Selection.Source.MEETING)
    assert selection.source_detail == "calendar event (Work)"
    assert TargetState.objects.get(user=alice).status == "applied"  # converged on commit

    time_machine.move_to(dt.datetime(2026, 11, 30, 9, 30, 10, tzinfo=UTC), tick=False)
    scan()
    selection = _selection(alice)
    assert (selection.profile.name, selection.source) == ("In the office", Selection.Source.MEETING_END)
    link.refresh_from_db()
    assert link.in_event is False
    # The next poll sends the ETag back: 304, nothing re-read.
    time_machine.move_to(dt.datetime(2026, 11, 30, 8, 16, tzinfo=UTC) + dt.timedelta(hours=2), tick=False)
    scan()
    assert CalendarServer.log[-1][1] == '"v1"'


@pytest.mark.django_db
def test_sticky_calendar_profile_returns_and_hand_sticky_blocks(server, alice, time_machine, scan, committed):
    update_profile(user=alice, profile=profile_named(alice, "In a meeting"), sticky=True)
    _link(alice, f"{server}/owa/calendar/secret123/calendar.ics")
    scan()
    time_machine.move_to(dt.datetime(2026, 11, 30, 9, 0, 10, tzinfo=UTC), tick=False)
    scan()
    assert _selection(alice).profile.name == "In a meeting"
    time_machine.move_to(dt.datetime(2026, 11, 30, 9, 30, 10, tzinfo=UTC), tick=False)
    scan()
    assert _selection(alice).profile.name == "In the office"
    # A sticky profile chosen by hand is never left by an event.
    update_profile(user=alice, profile=profile_named(alice, "On holiday"), sticky=True)
    with committed():
        select_profile(user=alice, profile=profile_named(alice, "On holiday"))
    time_machine.move_to(dt.datetime(2026, 12, 1, 14, 0, 10, tzinfo=UTC), tick=False)
    scan()
    assert _selection(alice).profile.name == "On holiday"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/private", "error: The calendar server refused access (401)"),
        ("/html", "error: This is not a calendar (ICS) file"),
        ("/huge", "error: The calendar is larger than 5 MB."),
        ("/endless.ics", "error: The calendar has more than 500 events"),
    ],
)
def test_bad_calendar_is_a_status_and_switches_nobody(server, alice, path, status):
    link = _link(alice, f"{server}{path}")
    due_scan()
    link.refresh_from_db()
    assert link.status.startswith(status)
    assert link.next_poll_at == NOW + dt.timedelta(minutes=15)
    assert _selection(alice).profile.name == "In the office"


# --- on the Triggers page -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_link_a_calendar_on_the_triggers_page_secret_never_shown(client, alice):
    client.force_login(alice)
    profile = profile_named(alice, "In a meeting")
    secret = "https://outlook.office365.com/owa/calendar/0123456789abcdef@example.com/s3cr3tT0ken/calendar.ics"
    response = client.post(
        reverse("profiles:calendar_new", args=[profile.pk]),
        {"cal-name": "Work", "cal-url": secret, "cal-match": "busy", "cal-match_value": "", "cal-poll_minutes": "15"},
    )
    assert response.status_code == 302
    link = CalendarLink.objects.get(user=alice)
    assert "s3cr3tT0ken" not in link.url_encrypted
    assert calendar.decrypt_url(link.url_encrypted) == secret
    html = client.get(reverse("profiles:triggers", args=[profile.pk])).content.decode()
    assert "https://outlook.office365.com/….ics" in html
    assert "s3cr3tT0ken" not in html
    assert "waiting for the first check" in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"cal-url": "file:///etc/passwd"}, "Paste the calendar&#x27;s address"),
        ({"cal-url": "not a url"}, "Paste the calendar&#x27;s address"),
        ({"cal-match": "title", "cal-match_value": ""}, "Type the word or the category"),
        ({"cal-name": ""}, "This field is required."),
        ({"cal-poll_minutes": "1"}, "Ensure this value is greater than or equal to 5."),
    ],
)
def test_bad_calendar_form_is_refused(client, alice, data, message):
    client.force_login(alice)
    profile = profile_named(alice, "In a meeting")
    form = {"cal-name": "Work", "cal-url": "https://example.com/c.ics", "cal-match": "busy", "cal-poll_minutes": "15"}
    form.update(data)
    response = client.post(reverse("profiles:calendar_new", args=[profile.pk]), form)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not CalendarLink.objects.exists()


@pytest.mark.django_db
def test_others_cannot_link_to_or_remove_your_calendar(client, alice):
    link = _link(alice, "https://example.com/c.ics")
    bob = make_user("bob", "1001")
    client.force_login(bob)
    assert client.post(reverse("profiles:calendar_delete", args=[link.pk])).status_code == 404
    response = client.post(
        reverse("profiles:calendar_new", args=[profile_named(alice, "In a meeting").pk]),
        {"cal-name": "x", "cal-url": "https://example.com/x.ics", "cal-match": "busy", "cal-poll_minutes": "15"},
    )
    assert response.status_code == 404
    assert CalendarLink.objects.count() == 1


@pytest.mark.django_db
def test_remove_a_calendar(client, alice):
    client.force_login(alice)
    link = _link(alice, "https://example.com/c.ics")
    assert client.post(reverse("profiles:calendar_delete", args=[link.pk])).status_code == 302
    assert not CalendarLink.objects.exists()


@pytest.mark.django_db
def test_an_unchanged_calendar_is_read_again_before_its_events_run_out(server, alice, time_machine):
    """A 304 keeps the events expanded last time; they reach 48 hours
    ahead, so after 24 hours the body is asked for whole again (no
    If-None-Match), or next week's standups would never switch."""
    link = _link(alice, f"{server}/owa/calendar/secret123/calendar.ics", poll_minutes=720)
    due_scan()
    assert CalendarServer.log[-1][1] is None
    time_machine.move_to(NOW + dt.timedelta(hours=12), tick=False)
    due_scan()
    assert CalendarServer.log[-1][1] == '"v1"'  # 304: the events read 12 hours ago still reach 36 hours ahead
    time_machine.move_to(NOW + dt.timedelta(hours=24, minutes=1), tick=False)
    due_scan()
    assert CalendarServer.log[-1][1] is None  # read whole again
    link.refresh_from_db()
    assert link.expanded_at == NOW + dt.timedelta(hours=24, minutes=1)
    # Thursday's floating 08:00 (Berlin), beyond the first read's 48 hours, is known.
    assert ["2026-12-03T07:00:00+00:00", "2026-12-03T08:00:00+00:00"] in link.intervals


@pytest.mark.django_db
def test_a_broken_body_is_not_remembered_as_unchanged(server, alice, time_machine):
    link = _link(alice, f"{server}/html")
    CalendarServer.routes["/html"] = lambda h: _send(h, 200, b"<p>Sign in</p>", {"ETag": '"broken"'})
    due_scan()
    link.refresh_from_db()
    assert link.status.startswith("error: This is not a calendar") and link.etag == ""
