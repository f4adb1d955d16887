"""Calendar triggers (ICS and CalDAV): a user's calendar events switch
them, with meeting precedence
(profiles.automation.meetings.calendar_event_changed).

A user links a calendar by its secret address (Outlook "ICS link", Google
"secret address in iCal format") or by a CalDAV account (server or calendar
address, user name, password; read by a small WebDAV reader on
`requests`, see ``fetch_caldav``). The portal fetches an ICS address with a timeout and
a size limit, sending ETag / If-Modified-Since so an unchanged calendar
costs a 304, and expands the events of the next hours with `icalendar` and
`recurring-ical-events` (RRULE, EXDATE, moved occurrences by
RECURRENCE-ID, all-day events, VTIMEZONE and floating times). Everything
that can go wrong with the source (unreachable, 401, not a calendar, too
big, too slow, an endless recurrence) is a CalendarError with a sentence
for the page and the admin; nothing raises past it.

The due-scan drives it, no task per event: each calendar keeps the next
instant something happens (``next_change_at``: the next start or end of a
matching event) and the next fetch (``next_poll_at``, every
``poll_minutes``), both indexed; due calendars go to one batch task
(profiles.automation.tasks.refresh_calendars).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events
import requests
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from profiles.automation import meetings
from profiles.errors import NotAllowed
from profiles.models import Account, CalendarLink, PresenceProfile

# Occurrences looked at per fetch: an endless recurrence (FREQ=MINUTELY
# without an end) stops here instead of filling memory.
MAX_OCCURRENCES = 500
CONNECT_TIMEOUT, READ_TIMEOUT = 5, 15
CHUNK = 64 * 1024
# How far ahead one fetch expands events; polls come much more often.
HORIZON = dt.timedelta(hours=48)


class CalendarError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Fetched:
    body: bytes | None  # None: not modified since the last fetch
    etag: str = ""
    last_modified: str = ""


def fetch(url: str, *, etag: str = "", last_modified: str = "") -> Fetched:
    """GET the calendar; a CalendarError names what went wrong."""
    headers = {"Accept": "text/calendar, */*;q=0.5", "User-Agent": "presence-portal"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    limit = settings.CALENDAR_MAX_BYTES
    deadline = time.monotonic() + settings.CALENDAR_FETCH_SECONDS
    try:
        with requests.get(url, headers=headers, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), stream=True) as response:
            if response.status_code == 304:
                return Fetched(None, etag, last_modified)
            if response.status_code in (401, 403):
                raise CalendarError(
                    f"The calendar server refused access ({response.status_code}); "
                    "copy the calendar's secret address again."
                )
            if response.status_code == 404:
                raise CalendarError("The calendar server has no calendar at this address (404).")
            if response.status_code >= 400:
                raise CalendarError(f"The calendar server answered {response.status_code}.")
            body = _read_limited(response, limit, deadline, "calendar server")
            return Fetched(body, response.headers.get("ETag", ""), response.headers.get("Last-Modified", ""))
    except requests.Timeout:
        raise CalendarError("The calendar server did not answer in time.") from None
    except requests.RequestException as exc:
        raise CalendarError(f"The calendar server cannot be reached ({type(exc).__name__}).") from None


def _read_limited(response, limit: int, deadline: float, who: str) -> bytes:
    """The body of a streamed ``response``; a CalendarError once it passes
    ``limit`` bytes (the declared length first) or the ``deadline``."""
    too_big = f"The calendar is larger than {settings.CALENDAR_MAX_BYTES // 1_000_000} MB."
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise CalendarError(too_big)
    body = bytearray()
    # read1: what one read of the socket brings (up to CHUNK), so the
    # deadline is checked as bytes arrive; iter_content waits for a whole
    # CHUNK, and a server sending 10 kB/s was cut off after 6.5 s, not 2.
    while chunk := response.raw.read1(CHUNK, decode_content=True):
        body += chunk
        if len(body) > limit:
            raise CalendarError(too_big)
        if time.monotonic() > deadline:
            raise CalendarError(f"The {who} took longer than {settings.CALENDAR_FETCH_SECONDS} s to send it.")
    return bytes(body)


@dataclass(frozen=True)
class Rule:
    """Which events switch: every busy one, a word in the title, or a category."""

    match: str = "busy"  # busy | title | category
    value: str = ""

    def matches(self, event) -> bool:
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            return False
        if self.match == "title":
            return self.value.casefold() in str(event.get("SUMMARY", "")).casefold()
        if self.match == "category":
            categories = event.get("CATEGORIES")
            names = []
            for item in categories if isinstance(categories, list) else [categories] if categories else []:
                names += [str(c).strip().casefold() for c in item.cats]
            return self.value.strip().casefold() in names
        # Busy: anything not marked free (TRANSP:TRANSPARENT, e.g. all-day
        # holidays in most calendars).
        return str(event.get("TRANSP", "OPAQUE")).upper() != "TRANSPARENT"


def _instant(value, zone: ZoneInfo) -> dt.datetime:
    """A DTSTART/DTEND value as an aware instant: dates (all-day) start at
    local midnight, floating times are the user's local time."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(dt.UTC)


def parse(body: bytes) -> icalendar.Calendar:
    try:
        calendar = icalendar.Calendar.from_ical(body)
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise CalendarError(f"This is not a calendar (ICS) file: {str(exc)[:120]}") from None
    if getattr(calendar, "name", "") != "VCALENDAR":
        raise CalendarError("This is not a calendar (ICS) file: no VCALENDAR.")
    return calendar


def busy_intervals(
    calendar: icalendar.Calendar, *, start: dt.datetime, end: dt.datetime, rule: Rule, zone: ZoneInfo
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The merged [start, end) intervals of matching events overlapping
    [start, end), in UTC, sorted."""
    try:
        # after() yields occurrences by start time, lazily: an endless
        # recurrence costs at most MAX_OCCURRENCES + 1 of them.
        occurrences = recurring_ical_events.of(calendar, components=["VEVENT"]).after(start.astimezone(zone))
        window = itertools.takewhile(lambda event: _instant(event["DTSTART"].dt, zone) < end, occurrences)
        events = list(itertools.islice(window, MAX_OCCURRENCES + 1))
    except Exception as exc:  # noqa: BLE001 - any defect of the file is the user's status, never a crash
        raise CalendarError(f"The calendar's events cannot be read: {type(exc).__name__}: {str(exc)[:120]}") from None
    if len(events) > MAX_OCCURRENCES:
        raise CalendarError(f"The calendar has more than {MAX_OCCURRENCES} events in the next hours.")
    intervals = []
    for event in events:
        if not rule.matches(event):
            continue
        begins = _instant(event["DTSTART"].dt, zone)
        if "DTEND" in event:
            ends = _instant(event["DTEND"].dt, zone)
        elif "DURATION" in event:
            ends = begins + event["DURATION"].dt
        elif not isinstance(event["DTSTART"].dt, dt.datetime):
            ends = _instant(event["DTSTART"].dt + dt.timedelta(days=1), zone)
        else:
            continue  # an instant, no time to be busy
        if ends > begins:
            intervals.append((begins, ends))
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for begins, ends in sorted(intervals):
        if merged and begins <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], ends))
        else:
            merged.append((begins, ends))
    return merged


# --- CalDAV ------------------------------------------------------------------------------------
# A small reader on `requests` (RFC 4918 PROPFIND, RFC 4791 calendar-query), not
# the `caldav` library: that one depends on niquests, whose urllib3 fork
# replaces `urllib3` for every package in the environment. Three to five
# requests a poll, one total deadline and one size limit over all of them.

DAV, CAL = "DAV:", "urn:ietf:params:xml:ns:caldav"
MAX_HOPS = 3  # redirects followed (method and body kept)

_PROPFIND = (
    '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" xmlns:C="{cal}"><D:prop>{props}'
    "</D:prop></D:propfind>"
)
_FIND = _PROPFIND.format(
    cal=CAL, props="<D:resourcetype/><D:getetag/><D:sync-token/><D:current-user-principal/>"
).encode()
_HOME = _PROPFIND.format(cal=CAL, props="<C:calendar-home-set/>").encode()
_LIST = _PROPFIND.format(
    cal=CAL, props="<D:resourcetype/><D:getetag/><D:sync-token/><C:supported-calendar-component-set/>"
).encode()
_QUERY = (
    '<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" xmlns:C="{cal}">'
    '<D:prop><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
    '<C:time-range start="{start}" end="{end}"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>'
)


def _dav(name: str) -> str:
    return f"{{{DAV}}}{name}"


def _cal(name: str) -> str:
    return f"{{{CAL}}}{name}"


class _Dav:
    """One poll's conversation with a CalDAV server: Basic authentication
    (Digest when the server asks for it), one deadline, one byte budget."""

    def __init__(self, username: str, password: str):
        self.http = requests.Session()
        self.http.headers["User-Agent"] = "presence-portal"
        self.http.auth = requests.auth.HTTPBasicAuth(username, password)
        self.credentials = (username, password)
        self.deadline = time.monotonic() + settings.CALENDAR_FETCH_SECONDS
        self.budget = settings.CALENDAR_MAX_BYTES

    def multistatus(self, method: str, url: str, body: bytes, depth: str) -> list[tuple[str, dict]]:
        """The (absolute href, {property tag: element}) of each resource in
        the server's 207 answer, with the properties it found (status 200)."""
        for _hop in range(MAX_HOPS + 1):
            response = self.http.request(
                method,
                url,
                data=body,
                headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"},
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                allow_redirects=False,
                stream=True,
            )
            with response:
                challenge = response.headers.get("WWW-Authenticate", "").lower()
                if response.status_code == 401 and "digest" in challenge and "basic" not in challenge:
                    if not isinstance(self.http.auth, requests.auth.HTTPDigestAuth):
                        self.http.auth = requests.auth.HTTPDigestAuth(*self.credentials)
                        continue
                if response.status_code in (301, 302, 307, 308) and response.headers.get("Location"):
                    url = urljoin(url, response.headers["Location"])
                    continue
                if response.status_code in (401, 403):
                    raise CalendarError(
                        f"The CalDAV server refused the user name or password ({response.status_code}); "
                        "enter them again."
                    )
                if response.status_code == 404:
                    raise CalendarError("The CalDAV server has no calendar at this address (404).")
                if response.status_code != 207:
                    raise CalendarError(
                        f"The CalDAV server answered {response.status_code}, not a WebDAV answer; "
                        "is this a CalDAV address?"
                    )
                content = _read_limited(response, self.budget, self.deadline, "CalDAV server")
                self.budget -= len(content)
            return _responses(url, content)
        raise CalendarError("The CalDAV server redirects too often.")


def _responses(base: str, content: bytes) -> list[tuple[str, dict]]:
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError:
        raise CalendarError(
            "The CalDAV server's answer cannot be read (ParseError); is this a CalDAV address?"
        ) from None
    found = []
    for response in root.iter(_dav("response")):
        href = (response.findtext(_dav("href")) or "").strip()
        props = {}
        for propstat in response.iter(_dav("propstat")):
            if " 200 " in f"{propstat.findtext(_dav('status')) or ''} ":
                for prop in propstat.iter(_dav("prop")):
                    props.update({child.tag: child for child in prop})
        found.append((urljoin(base, href), props))
    return found


def _href(prop) -> str:
    return (prop.findtext(_dav("href")) or "").strip() if prop is not None else ""


def _is_calendar(props: dict) -> bool:
    kind = props.get(_dav("resourcetype"))
    return kind is not None and kind.find(_cal("calendar")) is not None


def _has_events(props: dict) -> bool:
    components = props.get(_cal("supported-calendar-component-set"))
    if components is None:  # a server without the property: assume events
        return True
    return any(c.get("name", "").upper() == "VEVENT" for c in components.iter(_cal("comp")))


def _caldav_tag(props: dict) -> str:
    """What changes whenever an event in the collection does: its ETag (or
    sync token); empty when the server offers neither."""
    for name in ("getetag", "sync-token"):
        prop = props.get(_dav(name))
        if prop is not None and (prop.text or "").strip():
            return prop.text.strip()[:200]
    return ""


def _caldav_collection(dav: _Dav, url: str) -> tuple[str, str]:
    """(the calendar's address, its tag): ``url`` if it is a calendar (one
    PROPFIND); otherwise (a server or principal address) the account's first
    calendar with events, found through its principal and calendar home."""
    found = dav.multistatus("PROPFIND", url, _FIND, "0")
    props = found[0][1] if found else {}
    if _is_calendar(props):
        return found[0][0], _caldav_tag(props)
    principal = _href(props.get(_dav("current-user-principal")))
    if not principal:
        raise CalendarError("This address is neither a CalDAV calendar nor a CalDAV account.")
    homes = dav.multistatus("PROPFIND", urljoin(url, principal), _HOME, "0")
    home = _href(homes[0][1].get(_cal("calendar-home-set"))) if homes else ""
    if not home:
        raise CalendarError("The CalDAV account names no calendar home.")
    for address, props in dav.multistatus("PROPFIND", urljoin(url, home), _LIST, "1"):
        if _is_calendar(props) and _has_events(props):
            return address, _caldav_tag(props)
    raise CalendarError("The CalDAV account has no calendar with events.")


def _merge(resources: list[str]) -> bytes:
    """The events of the CalDAV resources as one VCALENDAR (each resource is
    one event with its overrides and time zones), for the ICS reader."""
    merged = icalendar.Calendar()
    merged.add("prodid", "-//presence-portal//caldav//EN")
    merged.add("version", "2.0")
    zones = set()
    for data in resources:
        for component in parse(data.encode()).subcomponents:
            if component.name == "VTIMEZONE":
                if str(component.get("TZID")) in zones:
                    continue
                zones.add(str(component.get("TZID")))
            if component.name in ("VTIMEZONE", "VEVENT"):
                merged.add_component(component)
    return merged.to_ical()


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def fetch_caldav(url: str, username: str, password: str, *, tag: str, start: dt.datetime, end: dt.datetime) -> Fetched:
    """Ask a CalDAV server for the events overlapping [start, end)
    (recurring ones whole, with their exceptions), unless the collection's
    tag says nothing changed (``Fetched.body`` None). Every failure is a
    CalendarError with a sentence for the page."""
    dav = _Dav(username, password)
    try:
        address, current = _caldav_collection(dav, url)
        if tag and current == tag:
            return Fetched(None, tag)
        query = _QUERY.format(cal=CAL, start=_utc(start), end=_utc(end)).encode()
        found = dav.multistatus("REPORT", address, query, "1")
        resources = [
            props[_cal("calendar-data")].text or "" for _href_, props in found if _cal("calendar-data") in props
        ]
        if len(resources) > MAX_OCCURRENCES:
            raise CalendarError(f"The calendar has more than {MAX_OCCURRENCES} events in the next hours.")
        return Fetched(_merge(resources), current)
    except CalendarError:
        raise
    except requests.Timeout:
        raise CalendarError("The CalDAV server did not answer in time.") from None
    except requests.RequestException as exc:
        raise CalendarError(f"The CalDAV server cannot be reached ({type(exc).__name__}).") from None
    except Exception as exc:  # noqa: BLE001 - whatever a foreign server sends is a status, never a crash
        raise CalendarError(
            f"The CalDAV server's answer cannot be read ({type(exc).__name__}); is this a CalDAV address?"
        ) from None
    finally:
        dav.http.close()


# --- the secrets (address, CalDAV password) ---------------------------------------------------


def _fernet() -> Fernet:
    digest = hashlib.sha256(b"calendar-url:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_url(url: str) -> str:
    return _fernet().encrypt(url.encode()).decode()


def decrypt_url(token: str, what: str = "address") -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise CalendarError(
            f"The calendar {what} cannot be read (the portal's secret key changed); link it again."
        ) from None


def url_hint(url: str) -> str:
    """What the pages show of a secret address: host and its last 4 characters."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}/…{url[-4:]}"


def clean_url(url: str) -> str:
    url = (url or "").strip()
    if url.lower().startswith("webcal://"):
        url = "https://" + url[len("webcal://") :]
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationError({"url": _("Paste the calendar's address; it starts with https:// (or webcal://).")})
    if len(url) > 2000:
        raise ValidationError({"url": _("This address is longer than 2000 characters.")})
    return url


# --- linking a calendar (services) --------------------------------------------------------------------


def link_calendar(
    *,
    user,
    profile: PresenceProfile,
    name: str,
    url: str,
    match: str = "busy",
    match_value: str = "",
    poll_minutes: int = 15,
    source: str = "ics",
    username: str = "",
    password: str = "",
) -> CalendarLink:
    """Link a calendar whose matching events switch ``user`` to ``profile``
    (one of their own): an ICS address, or a CalDAV account (``url`` is
    the server's or the calendar's address, with ``username`` and
    ``password``). Its first fetch runs on the next due-scan tick."""
    if profile.kind != PresenceProfile.Kind.PERSONAL or profile.owner_id != user.pk:
        raise NotAllowed(_("Calendars can only switch to your own profiles."))
    errors = {}
    name = (name or "").strip()[:100]
    if not name:
        errors["name"] = _("Give the calendar a name, e.g. Work calendar.")
    try:
        url = clean_url(url)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if source not in CalendarLink.Source.values:
        errors["source"] = "Choose an ICS address or a CalDAV account."
    username = (username or "").strip()
    password = password or ""
    if source == CalendarLink.Source.CALDAV:
        if not username:
            errors["username"] = "Type the CalDAV account's user name."
        elif len(username) > 200:
            errors["username"] = "The user name is longer than 200 characters."
        if not password:
            errors["password"] = "Type the CalDAV account's password (or an app password)."
        elif len(password) > 500:
            errors["password"] = "The password is longer than 500 characters."
    else:
        username = password = ""
    if match not in CalendarLink.Match.values:
        errors["match"] = _("Choose which events switch.")
    match_value = (match_value or "").strip()[:100]
    if match in (CalendarLink.Match.TITLE, CalendarLink.Match.CATEGORY) and not match_value:
        errors["match_value"] = _("Type the word or the category to look for.")
    if not isinstance(poll_minutes, int) or not 5 <= poll_minutes <= 1440:
        errors["poll_minutes"] = _("Check the calendar every 5 to 1440 minutes.")
    if errors:
        raise ValidationError(errors)
    return CalendarLink.objects.create(
        user=user,
        profile=profile,
        name=name,
        url_encrypted=encrypt_url(url),
        url_hint=url_hint(url),
        source=source,
        username=username,
        password_encrypted=encrypt_url(password) if password else "",
        match=match,
        match_value=match_value if match != CalendarLink.Match.BUSY else "",
        poll_minutes=poll_minutes,
        next_poll_at=timezone.now(),
        status="waiting for the first check",
    )


def unlink_calendar(*, user, calendar: CalendarLink) -> None:
    """Remove a calendar; a switch it made ends as its event would."""
    if calendar.user_id != user.pk:
        raise NotAllowed(_("That calendar belongs to someone else."))
    if calendar.in_event:
        meetings.calendar_event_changed(calendar.pk, in_event=False)
    calendar.delete()


def own_calendars(user, profile: PresenceProfile) -> list[CalendarLink]:
    return list(CalendarLink.objects.filter(user=user, profile=profile).order_by("name", "id"))


def get_own_calendar(user, calendar_id) -> CalendarLink:
    return CalendarLink.objects.select_related("profile").get(pk=calendar_id, user=user)


# --- refreshing (the due-scan's batch task) -------------------------------------------------------------


def _zone(user_id: int) -> ZoneInfo:
    name = Account.objects.filter(user_id=user_id).values_list("time_zone", flat=True).first()
    return ZoneInfo(name or "UTC")


def refresh(calendar_id: int, *, now: dt.datetime | None = None) -> str:
    """Fetch the calendar if its poll is due, then switch or return the user
    if an event started or ended, and store when to look next. Returns the
    status (also stored)."""
    now = now or timezone.now()
    calendar = CalendarLink.objects.filter(pk=calendar_id, enabled=True).first()
    if calendar is None:
        return "gone"
    status = calendar.status
    intervals = [(dt.datetime.fromisoformat(a), dt.datetime.fromisoformat(b)) for a, b in calendar.intervals]
    fields: dict = {}
    if calendar.next_poll_at is None or calendar.next_poll_at <= now:
        fields["next_poll_at"] = now + dt.timedelta(minutes=calendar.poll_minutes)
        fields["checked_at"] = now
        # "Unchanged" only spares the work while the events expanded last
        # time still reach far enough ahead; then the body is read again.
        fresh = calendar.expanded_at is not None and now - calendar.expanded_at < HORIZON / 2
        etag, last_modified = (calendar.etag, calendar.last_modified) if fresh else ("", "")
        try:
            if calendar.source == CalendarLink.Source.CALDAV:
                fetched = fetch_caldav(
                    decrypt_url(calendar.url_encrypted),
                    calendar.username,
                    decrypt_url(calendar.password_encrypted, "password"),
                    tag=etag,
                    start=now,
                    end=now + HORIZON,
                )
            else:
                fetched = fetch(decrypt_url(calendar.url_encrypted), etag=etag, last_modified=last_modified)
            if fetched.body is not None:
                parsed = parse(fetched.body)
                intervals = busy_intervals(
                    parsed,
                    start=now,
                    end=now + HORIZON,
                    rule=Rule(calendar.match, calendar.match_value),
                    zone=_zone(calendar.user_id),
                )
                # Only a body that was read remembers its tag: a broken one
                # is fetched whole again next time, not answered "unchanged".
                fields["etag"], fields["last_modified"] = fetched.etag[:200], fetched.last_modified[:100]
                fields["expanded_at"] = now
                status = f"ok: {len(intervals)} matching events in the next 48 hours"
            else:
                status = calendar.status if calendar.status.startswith("ok") else "ok: unchanged"
        except CalendarError as exc:
            # The last good events stay in force; the problem is the status.
            status = f"error: {exc.message}"
        fields["status"] = status[:2000]
        fields["intervals"] = [[a.isoformat(), b.isoformat()] for a, b in intervals if b > now]
    busy = any(a <= now < b for a, b in intervals)
    if busy != calendar.in_event:
        meetings.calendar_event_changed(calendar.pk, in_event=busy, now=now)
    upcoming = [t for a, b in intervals for t in (a, b) if t > now]
    fields["next_change_at"] = min(upcoming) if upcoming else None
    with transaction.atomic():
        CalendarLink.objects.filter(pk=calendar.pk).update(**fields)
    return status


def due_calendars(now: dt.datetime, limit: int) -> list[int]:
    """Calendars with an event starting or ending, or a fetch, due."""
    changes = CalendarLink.objects.filter(enabled=True, next_change_at__lte=now).values_list("id", flat=True)[:limit]
    polls = CalendarLink.objects.filter(enabled=True, next_poll_at__lte=now).values_list("id", flat=True)[:limit]
    return sorted(set(changes) | set(polls))
