"""Figures for CalDAV calendars: Radicale (the test dependency) on
127.0.0.1 with the Outlook-style test file, one resource per UID, read the
way a calendar poll reads it.

- a full read: find the calendar, its tag, the events of the next 48 hours
  (calendar-query with a time range), merged and expanded;
- an unchanged calendar: the one PROPFIND that finds the tag unchanged.

    .venv/bin/python bench/caldav_poll.py
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

import requests  # noqa: E402

from profiles.automation.connectors import calendar  # noqa: E402
from tests.test_caldav import PASSWORD, USER, WEEKLY, _free_port, _resources  # noqa: E402

START = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
END = START + calendar.HORIZON


def timed(label: str, repeat: int, work) -> None:
    start = time.perf_counter()
    for _ in range(repeat):
        work()
    elapsed = time.perf_counter() - start
    print(f"{label}: {elapsed / repeat * 1000:.1f} ms each ({repeat} runs)")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "users").write_text(f"{USER}:{PASSWORD}\n")
        port = _free_port()
        (root / "config").write_text(
            f"[server]\nhosts = 127.0.0.1:{port}\n"
            f"[auth]\ntype = htpasswd\nhtpasswd_filename = {root / 'users'}\nhtpasswd_encryption = plain\n"
            f"[storage]\nfilesystem_folder = {root / 'collections'}\n[logging]\nlevel = warning\n"
        )
        server = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(root / "config")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            base = f"http://127.0.0.1:{port}/{USER}/work/"
            requests.request("MKCALENDAR", base, auth=(USER, PASSWORD), timeout=10).raise_for_status()
            for name, body in _resources(WEEKLY).items():
                requests.put(base + name, data=body, auth=(USER, PASSWORD), timeout=10).raise_for_status()
            zone, rule = ZoneInfo("Europe/Berlin"), calendar.Rule()

            def full(url=base):
                fetched = calendar.fetch_caldav(url, USER, PASSWORD, tag="", start=START, end=END)
                calendar.busy_intervals(calendar.parse(fetched.body), start=START, end=END, rule=rule, zone=zone)
                return fetched

            tag = full().etag

            def unchanged():
                assert calendar.fetch_caldav(base, USER, PASSWORD, tag=tag, start=START, end=END).body is None

            timed("CalDAV full read, calendar address (PROPFIND + REPORT + expand 48 h)", 20, full)
            timed(
                "CalDAV full read, server address (discovery first)",
                20,
                lambda: full(f"http://127.0.0.1:{port}/"),
            )
            timed("CalDAV unchanged calendar (one PROPFIND)", 20, unchanged)
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
