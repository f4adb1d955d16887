"""Calendar triggers from a CalDAV account, against a real CalDAV server:
Radicale (from the package registry) started on 127.0.0.1 for this module,
holding the events of tests/calendars/outlook_weekly.ics one resource per
UID as a CalDAV client stores them (weekly recurrence with an EXDATE and a
moved occurrence, an all-day holiday, an Outlook VTIMEZONE, another zone, a
floating time, an event across the DST change).

Covered: reading through a calendar address and through the server's
address (discovery of the account's calendar), the collection tag sparing
a re-read, bad password / unreachable / no calendar / not a CalDAV server
as clear statuses on the Triggers page, the due-scan switching and
returning, and the password stored encrypted and never shown again."""

import datetime as dt
import hashlib
import re
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import requests
from django.urls import reverse

from profiles.automation.connectors import calendar
from profiles.automation.tasks import due_scan
from profiles.models import Account, CalendarLink, Selection
from tests.ami_server import QUICK_STOP
from tests.factories import make_user, profile_named
from tests.test_calendar import server  # noqa: F401 - the plain HTTP (not CalDAV) server fixture

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
WEEKLY = Path(__file__).parent / "calendars" / "outlook_weekly.ics"
USER, PASSWORD = "alice", "c0rrect horse"
WEEK = (dt.datetime(2026, 11, 30, tzinfo=UTC), dt.datetime(2026, 12, 8, tzinfo=UTC))
NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
# One xdist worker runs the whole module: its Radicale server is module-scoped.
pytestmark = pytest.mark.xdist_group(__name__)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _resources(path: Path) -> dict[str, bytes]:
    """The ICS file as a CalDAV client stores it: one resource per UID
    (the series with its moved occurrence), each with the time zones."""
    source = icalendar.Calendar.from_ical(path.read_bytes())
    zones = [c for c in source.subcomponents if c.name == "VTIMEZONE"]
    by_uid = defaultdict(list)
    for component in source.subcomponents:
        if component.name == "VEVENT":
            by_uid[str(component["UID"])].append(component)
    resources = {}
    for uid, events in by_uid.items():
        resource = icalendar.Calendar()
        resource.add("prodid", "-//tests//caldav//EN")
        resource.add("version", "2.0")
        for component in [*zones, *events]:
            resource.add_component(component)
        resources[uid.split("@")[0] + ".ics"] = resource.to_ical()
    return resources


@pytest.fixture(scope="module")
def radicale(tmp_path_factory):
    """A Radicale server with alice's calendar "work"; yields its base URL."""
    root = tmp_path_factory.mktemp("radicale")
    (root / "users").write_text(f"{USER}:{PASSWORD}\n")
    port = _free_port()
    (root / "config").write_text(
        f"[server]\nhosts = 127.0.0.1:{port}\n"
        f"[auth]\ntype = htpasswd\nhtpasswd_filename = {root / 'users'}\nhtpasswd_encryption = plain\n"
        f"[storage]\nfilesystem_folder = {root / 'collections'}\n"
        "[logging]\nlevel = warning\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "radicale", "--config", str(root / "config")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):  # up to 20 s for the server to listen
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                assert process.poll() is None, "Radicale exited"
                time.sleep(0.1)
        auth = (USER, PASSWORD)
        made = requests.request("MKCALENDAR", f"{base}/{USER}/work/", auth=auth, timeout=10)
        assert made.status_code == 201, made.text
        for name, body in _resources(WEEKLY).items():
            put = requests.put(
                f"{base}/{USER}/work/{name}",
                data=body,
                auth=auth,
                timeout=10,
                headers={"Content-Type": "text/calendar"},
            )
            assert put.status_code == 201, (name, put.status_code, put.text)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _berlin(intervals):
    return [
        (a.astimezone(BERLIN).strftime("%a %d %b %H:%M"), b.astimezone(BERLIN).strftime("%a %d %b %H:%M"))
        for a, b in intervals
    ]


BUSY = calendar.Rule()


def _read(url, start, end, rule=BUSY, zone=BERLIN, password=PASSWORD):
    fetched = calendar.fetch_caldav(url, USER, password, tag="", start=start, end=end)
    return _berlin(calendar.busy_intervals(calendar.parse(fetched.body), start=start, end=end, rule=rule, zone=zone))


# --- reading from the server --------------------------------------------------------------------


@pytest.mark.parametrize("path", [f"/{USER}/work/", "/"], ids=["calendar address", "server address"])
def test_recurrence_exdate_moved_occurrence_other_zone_and_floating_time(radicale, path):
    assert _read(radicale + path, *WEEK) == [
        ("Mon 30 Nov 10:00", "Mon 30 Nov 10:30"),  # the standup (Outlook's zone name); lunch is free, review cancelled
        ("Tue 01 Dec 15:00", "Tue 01 Dec 16:00"),  # 09:00 in New York
        # Wednesday 2 December's standup is an EXDATE.
        ("Thu 03 Dec 08:00", "Thu 03 Dec 09:00"),  # floating time: the user's 08:00
        ("Mon 07 Dec 14:00", "Mon 07 Dec 14:30"),  # moved from 10:00 (RECURRENCE-ID)
    ]


def test_all_day_event_dst_change_and_floating_zone(radicale):
    url = f"{radicale}/{USER}/work/"
    christmas = (dt.datetime(2026, 12, 24, tzinfo=UTC), dt.datetime(2026, 12, 27, tzinfo=UTC))
    assert _read(url, *christmas, rule=calendar.Rule("category", "holiday")) == [
        ("Fri 25 Dec 00:00", "Sat 26 Dec 00:00")
    ]
    night = (dt.datetime(2026, 10, 24, tzinfo=UTC), dt.datetime(2026, 10, 26, tzinfo=UTC))
    assert _read(url, *night) == [("Sat 24 Oct 22:00", "Sun 25 Oct 06:00")]  # 9 real hours
    new_york = _read(url, *WEEK, rule=calendar.Rule("title", "dentist"), zone=ZoneInfo("America/New_York"))
    assert new_york == [("Thu 03 Dec 14:00", "Thu 03 Dec 15:00")]  # 08:00 in New York


def test_an_unchanged_collection_is_not_read_again_a_changed_one_is(radicale):
    url = f"{radicale}/{USER}/work/"
    first = calendar.fetch_caldav(url, USER, PASSWORD, tag="", start=WEEK[0], end=WEEK[1])
    assert first.etag and first.body
    assert calendar.fetch_caldav(url, USER, PASSWORD, tag=first.etag, start=WEEK[0], end=WEEK[1]).body is None
    extra = icalendar.Calendar.from_ical(
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VEVENT\r\nUID:extra@example.com\r\n"
        b"DTSTAMP:20261101T080000Z\r\nSUMMARY:Extra\r\nDTSTART:20261204T100000Z\r\nDTEND:20261204T110000Z\r\n"
        b"END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    requests.put(f"{url}extra.ics", data=extra.to_ical(), auth=(USER, PASSWORD), timeout=10).raise_for_status()
    try:
        second = calendar.fetch_caldav(url, USER, PASSWORD, tag=first.etag, start=WEEK[0], end=WEEK[1])
        assert second.etag != first.etag
        assert b"Extra" in second.body
    finally:
        requests.delete(f"{url}extra.ics", auth=(USER, PASSWORD), timeout=10).raise_for_status()


@pytest.mark.parametrize(
    ("where", "password", "message"),
    [
        ("/alice/work/", "wrong", "refused the user name or password (401)"),
        ("/alice/holidays/", PASSWORD, "no calendar at this address (404)"),
    ],
)
def test_server_problems_are_clear_errors(radicale, where, password, message):
    with pytest.raises(calendar.CalendarError) as caught:
        calendar.fetch_caldav(radicale + where, USER, password, tag="", start=WEEK[0], end=WEEK[1])
    assert message in caught.value.message


def test_unreachable_and_not_caldav_are_clear_errors(server):  # noqa: F811
    with pytest.raises(calendar.CalendarError, match="cannot be reached"):
        calendar.fetch_caldav("http://127.0.0.1:9/", USER, PASSWORD, tag="", start=WEEK[0], end=WEEK[1])
    # A plain web server (the ICS fixture) is no CalDAV server.
    with pytest.raises(calendar.CalendarError) as caught:
        calendar.fetch_caldav(f"{server}/html", USER, PASSWORD, tag="", start=WEEK[0], end=WEEK[1])
    assert "CalDAV" in caught.value.message


# --- on the Triggers page, and the due-scan -------------------------------------------------------


@pytest.fixture
def alice(db, time_machine):
    time_machine.move_to(NOW, tick=False)
    user = make_user("alice", "1000")
    Account.objects.filter(user=user).update(time_zone="Europe/Berlin")
    return user


def _post(client, profile, **data):
    form = {
        "cal-name": "Work (CalDAV)",
        "cal-source": "caldav",
        "cal-url": "",
        "cal-username": USER,
        "cal-password": PASSWORD,
        "cal-match": "busy",
        "cal-poll_minutes": "15",
    }
    form.update({f"cal-{key}": value for key, value in data.items()})
    return client.post(reverse("profiles:calendar_new", args=[profile.pk]), form)


def _selection(user):
    return Selection.objects.select_related("profile").get(user=user)


@pytest.mark.django_db(transaction=True)
def test_caldav_event_switches_and_returns_password_never_shown(client, radicale, alice, time_machine):
    client.force_login(alice)
    profile = profile_named(alice, "In a meeting")
    response = _post(client, profile, url=f"{radicale}/{USER}/work/", match="title", match_value="standup")
    assert response.status_code == 302
    link = CalendarLink.objects.get(user=alice)
    assert (link.source, link.username) == ("caldav", USER)
    assert PASSWORD not in link.password_encrypted
    assert calendar.decrypt_url(link.password_encrypted) == PASSWORD

    due_scan()  # the first read, in the calendar task path
    link.refresh_from_db()
    assert link.status == "ok: 1 matching events in the next 48 hours"
    assert link.next_change_at == dt.datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    html = client.get(reverse("profiles:triggers", args=[profile.pk])).content.decode()
    assert "CalDAV alice" in html and "ok: 1 matching events" in html
    assert PASSWORD not in html

    time_machine.move_to(dt.datetime(2026, 11, 30, 9, 0, 10, tzinfo=UTC), tick=False)
    due_scan()
    selection = _selection(alice)
    assert (selection.profile.name, selection.source) == ("In a meeting", Selection.Source.MEETING)
    assert selection.source_detail == "calendar event (Work (CalDAV))"
    time_machine.move_to(dt.datetime(2026, 11, 30, 9, 30, 10, tzinfo=UTC), tick=False)
    due_scan()
    selection = _selection(alice)
    assert (selection.profile.name, selection.source) == ("In the office", Selection.Source.MEETING_END)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("where", "password", "status"),
    [
        ("/alice/work/", "wrong", "error: The CalDAV server refused the user name or password (401)"),
        ("UNREACHABLE", PASSWORD, "error: The CalDAV server cannot be reached"),
    ],
)
def test_bad_account_is_a_status_on_the_page_and_switches_nobody(client, radicale, alice, where, password, status):
    client.force_login(alice)
    profile = profile_named(alice, "In a meeting")
    url = "http://127.0.0.1:9/" if where == "UNREACHABLE" else radicale + where
    assert _post(client, profile, url=url, password=password).status_code == 302
    due_scan()
    link = CalendarLink.objects.get(user=alice)
    assert link.status.startswith(status)
    assert link.next_poll_at == NOW + dt.timedelta(minutes=15)
    response = client.get(reverse("profiles:triggers", args=[profile.pk]))
    assert response.status_code == 200
    assert status.removeprefix("error: ") in response.content.decode()
    assert link.intervals == [] and link.next_change_at is None
    assert _selection(alice).profile.name == "In the office"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"username": ""}, "Type the CalDAV account&#x27;s user name."),
        ({"password": ""}, "Type the CalDAV account&#x27;s password"),
        ({"source": "ftp"}, "Select a valid choice."),
        ({"url": "caldav.example.com"}, "Paste the calendar&#x27;s address"),
    ],
)
def test_bad_caldav_form_is_refused_and_the_password_not_echoed(client, alice, data, message):
    client.force_login(alice)
    data = {"url": "https://caldav.example.com/dav/", **data}
    response = _post(client, profile_named(alice, "In a meeting"), **data)
    assert response.status_code == 422
    html = response.content.decode()
    assert message in html
    assert PASSWORD not in html
    assert not CalendarLink.objects.exists()


@pytest.mark.django_db
def test_an_ics_link_keeps_no_caldav_credentials(client, alice):
    client.force_login(alice)
    response = _post(client, profile_named(alice, "In a meeting"), source="ics", url="https://example.com/c.ics")
    assert response.status_code == 302
    link = CalendarLink.objects.get(user=alice)
    assert (link.source, link.username, link.password_encrypted) == ("ics", "", "")


# --- what Radicale does not do: Digest, redirects, an answer too big ---------------------------

EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VEVENT\r\nUID:digest@example.com\r\n"
    "DTSTAMP:20261101T080000Z\r\nSUMMARY:Behind Digest\r\nDTSTART:20261201T100000Z\r\n"
    "DTEND:20261201T110000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
REALM, NONCE = "dav", "6d1f0c"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - RFC 2617 Digest is MD5


class DigestDav(BaseHTTPRequestHandler):
    """A WebDAV server that takes only Digest (as Baïkal's default does),
    moves /old/ to /cal/ and answers PROPFIND and REPORT in the RFC 4791
    wire format; ``padding`` bytes of comment make the REPORT large."""

    log: list[tuple[str, str, str]] = []
    padding = 0

    def log_message(self, *args):
        pass

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Digest "):
            return False
        fields = dict(re.findall(r'(\w+)="?([^",]+)"?', header[7:]))
        ha1 = _md5(f"{USER}:{REALM}:{PASSWORD}")
        ha2 = _md5(f"{self.command}:{fields.get('uri')}")
        expected = _md5(f"{ha1}:{NONCE}:{fields.get('nc')}:{fields.get('cnonce')}:{fields.get('qop')}:{ha2}")
        return fields.get("response") == expected

    def _answer(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        scheme = self.headers.get("Authorization", " ").split(" ")[0]
        self.log.append((self.command, self.path, scheme))
        if not self._authorised():
            challenge = f'Digest realm="{REALM}", nonce="{NONCE}", qop="auth", algorithm=MD5'
            return self._send(401, b"", {"WWW-Authenticate": challenge})
        if self.path == "/old/":
            return self._send(301, b"", {"Location": "/cal/"})
        if self.command == "PROPFIND":
            body = (
                '<?xml version="1.0"?><multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                "<response><href>/cal/</href><propstat><prop><resourcetype><collection/><C:calendar/>"
                '</resourcetype><getetag>"c1"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat>'
                "</response></multistatus>"
            )
        else:
            data = EVENT.replace("\r\nEND:VCALENDAR", "\r\nX-PAD:" + "x" * self.padding + "\r\nEND:VCALENDAR")
            body = (
                '<?xml version="1.0"?><multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                "<response><href>/cal/digest.ics</href><propstat><prop><C:calendar-data>"
                f"{data}</C:calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response>"
                "</multistatus>"
            )
        self._send(207, body.encode(), {"Content-Type": "application/xml; charset=utf-8"})

    def _send(self, status, body, headers):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if not self.padding:  # a large answer streams with no length (HTTP/1.0: until the close)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the portal stopped reading at its limit

    do_PROPFIND = do_REPORT = _answer


@pytest.fixture
def digest_dav():
    DigestDav.log, DigestDav.padding = [], 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), DigestDav)
    threading.Thread(target=httpd.serve_forever, kwargs=QUICK_STOP, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_a_digest_server_behind_a_redirect_is_read(digest_dav):
    fetched = calendar.fetch_caldav(f"{digest_dav}/old/", USER, PASSWORD, tag="", start=WEEK[0], end=WEEK[1])
    assert b"Behind Digest" in fetched.body and fetched.etag == '"c1"'
    # Basic first (refused), then requests' Digest handshake (a bare request
    # for the challenge, then the answer); the redirect keeps the method.
    assert DigestDav.log == [
        ("PROPFIND", "/old/", "Basic"),
        ("PROPFIND", "/old/", ""),
        ("PROPFIND", "/old/", "Digest"),
        ("PROPFIND", "/cal/", "Digest"),
        ("REPORT", "/cal/", "Digest"),
    ]
    unchanged = calendar.fetch_caldav(f"{digest_dav}/cal/", USER, PASSWORD, tag='"c1"', start=WEEK[0], end=WEEK[1])
    assert unchanged.body is None


def test_a_wrong_digest_password_and_a_large_answer_are_clear_errors(digest_dav, settings):
    with pytest.raises(calendar.CalendarError, match=r"refused the user name or password \(401\)"):
        calendar.fetch_caldav(f"{digest_dav}/cal/", USER, "wrong", tag="", start=WEEK[0], end=WEEK[1])
    # The byte limit holds over the whole conversation, while the answer streams in.
    settings.CALENDAR_MAX_BYTES = 2_000_000
    DigestDav.padding = 2_500_000
    with pytest.raises(calendar.CalendarError, match="larger than 2 MB"):
        calendar.fetch_caldav(f"{digest_dav}/cal/", USER, PASSWORD, tag="", start=WEEK[0], end=WEEK[1])
