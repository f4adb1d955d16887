"""Texts the services and the worker store in English (a selection's
source detail, a calendar's status): they are data, written where no
reader's language is known. Pages show the known phrasings in the reader's
language through these functions; anything else is shown as stored."""

from __future__ import annotations

import re

from django.utils.translation import gettext_lazy

_DETAILS = [
    (re.compile(r"^presence profiles enabled$"), gettext_lazy("presence profiles enabled")),
    (re.compile(r"^timer ended$"), gettext_lazy("timer ended")),
    (re.compile(r"^timer ended during a meeting$"), gettext_lazy("timer ended during a meeting")),
    (re.compile(r"^new primary$"), gettext_lazy("new primary extension")),
    (re.compile(r"^admin edit$"), gettext_lazy("changed by an administrator")),
    (re.compile(r"^re-apply$"), gettext_lazy("re-apply")),
    (re.compile(r"^client connected to (?P<number>.+)$"), gettext_lazy("client connected to %(number)s")),
    (re.compile(r"^client disconnected from (?P<number>.+)$"), gettext_lazy("client disconnected from %(number)s")),
    (re.compile(r"^hot desk (?P<number>.+)$"), gettext_lazy("hot desk %(number)s")),
    (re.compile(r"^meeting \((?P<name>.+)\) ended$"), gettext_lazy("meeting (%(name)s) ended")),
    (re.compile(r"^meeting \((?P<name>.+)\)$"), gettext_lazy("meeting (%(name)s)")),
    (re.compile(r"^calendar event \((?P<name>.+)\) ended$"), gettext_lazy("calendar event (%(name)s) ended")),
    (re.compile(r"^calendar event \((?P<name>.+)\)$"), gettext_lazy("calendar event (%(name)s)")),
    (re.compile(r"^time trigger at (?P<time>[0-9:]+)$"), gettext_lazy("time trigger at %(time)s")),
    (re.compile(r"^client profile (?P<name>.+)$"), gettext_lazy("client profile %(name)s")),
]

# A calendar's status (profiles.automation.connectors.calendar): "ok: …" or
# "error: " and the CalendarError's message.
_CALENDAR = [
    (
        re.compile(r"^ok: (?P<count>\d+) matching events in the next 48 hours$"),
        gettext_lazy("ok: %(count)s matching events in the next 48 hours"),
    ),
    (re.compile(r"^ok: unchanged$"), gettext_lazy("ok: unchanged")),
]
_CALENDAR_ERRORS = [
    (
        re.compile(
            r"^The calendar server refused access \((?P<status>\d+)\); copy the calendar's secret address again\.$"
        ),
        gettext_lazy("The calendar server refused access (%(status)s); copy the calendar’s secret address again."),
    ),
    (
        re.compile(r"^The calendar server has no calendar at this address \(404\)\.$"),
        gettext_lazy("The calendar server has no calendar at this address (404)."),
    ),
    (
        re.compile(r"^The calendar server answered (?P<status>\d+)\.$"),
        gettext_lazy("The calendar server answered %(status)s."),
    ),
    (
        re.compile(r"^The calendar is larger than (?P<mb>\d+) MB\.$"),
        gettext_lazy("The calendar is larger than %(mb)s MB."),
    ),
    (
        re.compile(r"^The calendar server took longer than (?P<seconds>\d+) s to send it\.$"),
        gettext_lazy("The calendar server took longer than %(seconds)s s to send it."),
    ),
    (
        re.compile(r"^The calendar server did not answer in time\.$"),
        gettext_lazy("The calendar server did not answer in time."),
    ),
    (
        re.compile(r"^The calendar server cannot be reached \((?P<error>\w+)\)\.$"),
        gettext_lazy("The calendar server cannot be reached (%(error)s)."),
    ),
    (
        re.compile(r"^This is not a calendar \(ICS\) file: (?P<detail>.*)$", re.S),
        gettext_lazy("This is not a calendar (ICS) file: %(detail)s"),
    ),
    (
        re.compile(r"^The calendar's events cannot be read: (?P<detail>.*)$", re.S),
        gettext_lazy("The calendar’s events cannot be read: %(detail)s"),
    ),
    (
        re.compile(r"^The calendar has more than (?P<count>\d+) events in the next hours\.$"),
        gettext_lazy("The calendar has more than %(count)s events in the next hours."),
    ),
    # CalDAV accounts (fetch_caldav)
    (
        re.compile(r"^The CalDAV server refused the user name or password \((?P<status>\d+)\); enter them again\.$"),
        gettext_lazy("The CalDAV server refused the user name or password (%(status)s); enter them again."),
    ),
    (
        re.compile(r"^The CalDAV server has no calendar at this address \(404\)\.$"),
        gettext_lazy("The CalDAV server has no calendar at this address (404)."),
    ),
    (
        re.compile(r"^The CalDAV server answered (?P<status>\d+), not a WebDAV answer; is this a CalDAV address\?$"),
        gettext_lazy("The CalDAV server answered %(status)s, not a WebDAV answer; is this a CalDAV address?"),
    ),
    (
        re.compile(r"^The CalDAV server(?:'|’)s answer cannot be read \((?P<error>\w+)\); is this a CalDAV address\?$"),
        gettext_lazy("The CalDAV server’s answer cannot be read (%(error)s); is this a CalDAV address?"),
    ),
    (
        re.compile(r"^This address is neither a CalDAV calendar nor a CalDAV account\.$"),
        gettext_lazy("This address is neither a CalDAV calendar nor a CalDAV account."),
    ),
    (
        re.compile(r"^The CalDAV account names no calendar home\.$"),
        gettext_lazy("The CalDAV account names no calendar home."),
    ),
    (
        re.compile(r"^The CalDAV account has no calendar with events\.$"),
        gettext_lazy("The CalDAV account has no calendar with events."),
    ),
    (
        re.compile(r"^The CalDAV server redirects too often\.$"),
        gettext_lazy("The CalDAV server redirects too often."),
    ),
    (
        re.compile(r"^The CalDAV server did not answer in time\.$"),
        gettext_lazy("The CalDAV server did not answer in time."),
    ),
    (
        re.compile(r"^The CalDAV server cannot be reached \((?P<error>\w+)\)\.$"),
        gettext_lazy("The CalDAV server cannot be reached (%(error)s)."),
    ),
    (
        re.compile(r"^The CalDAV server took longer than (?P<seconds>\d+) s to send it\.$"),
        gettext_lazy("The CalDAV server took longer than %(seconds)s s to send it."),
    ),
    (
        re.compile(r"^The calendar address cannot be read \(the portal(?:'|’)s secret key changed\); link it again\.$"),
        gettext_lazy("The calendar address cannot be read (the portal's secret key changed); link it again."),
    ),
]


def _translate(text: str, table) -> str | None:
    for pattern, message in table:
        match = pattern.match(text)
        if match:
            values = match.groupdict()
            return str(message) % values if values else str(message)
    return None


def source_detail(text: str) -> str:
    """A selection's stored source detail in the reader's language."""
    text = text or ""
    translated = _translate(text, _DETAILS)
    if translated is None:
        return text
    return translated


def calendar_status(text: str) -> str:
    """A calendar's stored status in the reader's language."""
    text = text or ""
    translated = _translate(text, _CALENDAR)
    if translated is not None:
        return translated
    if text.startswith("error: "):
        message = text[len("error: ") :]
        return str(gettext_lazy("error: %(message)s")) % {"message": _translate(message, _CALENDAR_ERRORS) or message}
    return text
