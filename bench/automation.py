"""Figures for the automation's pure parts (no database needed):

- decide(): precedence decisions per second;
- a calendar: parsing and expanding the Outlook-style test file for 48 hours;
- an endless recurrence (FREQ=MINUTELY): how long until the 500-occurrence
  bound refuses it.

    .venv/bin/python bench/automation.py
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from profiles.automation.connectors import calendar  # noqa: E402
from profiles.automation.precedence import MeetingStarted, Ref, TriggerFired, UserState, decide  # noqa: E402

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def timed(label: str, repeat: int, work) -> None:
    start = time.perf_counter()
    for _ in range(repeat):
        work()
    elapsed = time.perf_counter() - start
    print(f"{label}: {elapsed / repeat * 1000:.3f} ms each ({repeat} runs, {repeat / elapsed:,.0f}/s)")


def main() -> None:
    state = UserState(profile=Ref(1, "In the office"), source="user", previous=Ref(2, "Out"))
    fired = TriggerFired(Ref(3, "DND"), "time trigger at 09:00", NOW, NOW, dt.timedelta(minutes=15))
    meeting = MeetingStarted(Ref(4, "In a meeting"), "meeting (Teams)")
    timed("decide(), time trigger", 100_000, lambda: decide(state, fired))
    timed("decide(), meeting start", 100_000, lambda: decide(state, meeting))

    body = (ROOT / "tests" / "calendars" / "outlook_weekly.ics").read_bytes()
    zone = ZoneInfo("Europe/Berlin")
    rule = calendar.Rule()

    def expand():
        calendar.busy_intervals(calendar.parse(body), start=NOW, end=NOW + calendar.HORIZON, rule=rule, zone=zone)

    timed(f"calendar: parse + expand 48 h of the Outlook test file ({len(body)} bytes)", 50, expand)

    endless = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VEVENT\r\nUID:e@x\r\n"
        b"DTSTAMP:20261101T000000Z\r\nDTSTART:20261130T080000Z\r\nDTEND:20261130T080001Z\r\n"
        b"RRULE:FREQ=MINUTELY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )

    def refuse():
        try:
            calendar.busy_intervals(
                calendar.parse(endless), start=NOW, end=NOW + calendar.HORIZON, rule=rule, zone=zone
            )
        except calendar.CalendarError:
            return
        raise AssertionError("an endless recurrence was accepted")

    timed("calendar: refusing an endless FREQ=MINUTELY", 3, refuse)


if __name__ == "__main__":
    main()
