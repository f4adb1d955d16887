"""Event -> mismatch latency: the time from a change at a handset to the
Mismatch row recorded (DND pressed) or cleared (DND released), with the
PBX event listener (devices.listener) running, on the simulated PBX and
against the fake AMI peer (tests/ami_server.py, the wire format recorded
from Asterisk 22).

    .venv/bin/python bench/event_latency.py [--users 200] [--rounds 100]

It uses a scratch SQLite database in a temporary folder unless
DATABASE_URL is set; given one, it EMPTIES it (migrate + flush). The
handset's own reconcile task is sent to an in-memory broker nobody reads,
so only the listener can record the mismatch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
if "DATABASE_URL" not in os.environ:
    os.environ["PORTAL_VAR_DIR"] = tempfile.mkdtemp(prefix="portal-bench-")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from devices import services  # noqa: E402
from devices.listener import Listener  # noqa: E402
from devices.models import ListenerStatus, Mismatch  # noqa: E402
from devices.state import Command  # noqa: E402
from portal.celery import app  # noqa: E402
from tests.ami_server import FakeAsterisk  # noqa: E402
from tests.factories import make_user  # noqa: E402


def wait_for(predicate, timeout: float = 10.0) -> float:
    started = time.perf_counter()
    while not predicate():
        if time.perf_counter() - started > timeout:
            raise SystemExit("no mismatch within 10 s: is the listener running?")
        time.sleep(0.002)
    return time.perf_counter()


def run(mode: str, users: int, rounds: int) -> list[float]:
    call_command("flush", interactive=False, verbosity=0)
    fake = None
    if mode == "asterisk":
        fake = FakeAsterisk(login_delay=0.05).start()
        settings.PBX_DRIVER = "asterisk"
        settings.AMI_HOST, settings.AMI_PORT, settings.AMI_SECRET = "127.0.0.1", fake.port, "portalsecret"
    else:
        settings.PBX_DRIVER = "simulated"
    app.conf.task_always_eager = True  # the users' first applies, inline
    people = [make_user(f"user{i:04d}", str(1000 + i), teams=["Sales"]) for i in range(users)]
    app.conf.task_always_eager = False
    app.conf.broker_url = "memory://"

    stop = threading.Event()
    thread = threading.Thread(target=Listener(stop=stop).run, daemon=True)
    thread.start()
    wait_for(lambda: ListenerStatus.objects.filter(state="connected").exists(), timeout=30)
    timings = []
    try:
        for i in range(rounds):
            user = people[i % len(people)]
            number = str(1000 + i % len(people))
            on = not Mismatch.objects.filter(user=user).exists()
            started = time.perf_counter()
            if fake is not None:
                fake.handset_dnd(number, on)
            else:
                services.manual_change(extension=number, command=Command(number, "set_dnd", {"on": on}))
            done = wait_for(lambda user=user, on=on: Mismatch.objects.filter(user=user).exists() == on)
            timings.append((done - started) * 1000)
    finally:
        stop.set()
        thread.join(15)
        if fake is not None:
            fake.stop()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    print(f"event -> mismatch latency, {args.users} users, {args.rounds} handset changes ({connection.vendor})")
    for mode in ("simulated", "asterisk"):
        timings = sorted(run(mode, args.users, args.rounds))
        p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
        print(f"  {mode:9}  p50 {statistics.median(timings):7.1f} ms   p99 {p99:7.1f} ms   max {timings[-1]:7.1f} ms")


if __name__ == "__main__":
    main()
