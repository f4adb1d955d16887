"""Profile one batch of the time-trigger burst in-process (cProfile).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
    .venv/bin/python bench/profile_burst.py [users] [--top 35]

It EMPTIES the database it is given (seeded by bench.triggers.seed): use a
scratch one. Makes ``users`` users due now, runs the due-scan without a
worker (measured too), then the first firing batch (profiles.automation.firings.apply_firings)
and its converge (devices.converge.converge_many), and prints the wall and
CPU time and the number of queries of each and the top of both profiles.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.triggers import seed  # noqa: E402
from devices import converge  # noqa: E402
from profiles.automation import duescan, firings  # noqa: E402
from profiles.models import Trigger  # noqa: E402


def profiled(function, enabled: bool):
    """The result, wall seconds, CPU seconds of this process, queries, profile."""
    profile = cProfile.Profile()
    with CaptureQueriesContext(connection) as queries:
        started, cpu = time.perf_counter(), time.process_time()
        if enabled:
            profile.enable()
        result = function()
        profile.disable()
    slowest = sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:5]
    for q in slowest:
        print(f"    {float(q['time']) * 1000:7.1f} ms  {q['sql'][:110]}")
    return result, time.perf_counter() - started, time.process_time() - cpu, len(queries), profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("users", type=int, nargs="?", default=1000)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--no-profile", action="store_true", help="only the times, without cProfile's overhead")
    parser.add_argument("--callers", help="also print the callers of functions matching this")
    args = parser.parse_args()
    minute = (timezone.now() + dt.timedelta(minutes=10)).replace(second=0, microsecond=0)
    seed(args.users, args.users, minute)
    Trigger.objects.filter(profile__name="Away").update(next_fire_at=timezone.now() - dt.timedelta(seconds=5))
    batches = []
    on = not args.no_profile
    _, scan_s, scan_cpu, scan_q, scan_p = profiled(
        lambda: duescan.scan(
            send_firings=batches.append, send_clear_after=lambda ids: None, send_calendars=lambda ids: None
        ),
        on,
    )
    print(f"due-scan ({[len(b) for b in batches]} firings): {scan_s:.3f} s, CPU {scan_cpu:.3f} s, {scan_q} queries")
    switched = []
    _, fire_s, fire_cpu, fire_q, fire_p = profiled(
        lambda: firings.apply_firings(batches[0], converge=switched.append), on
    )
    left, conv_s, conv_cpu, conv_q, conv_p = profiled(lambda: converge.converge_many(switched[0], reason="trigger"), on)
    print(f"apply_firings ({len(batches[0])} firings): {fire_s:.3f} s, CPU {fire_cpu:.3f} s, {fire_q} queries")
    print(f"converge_many ({len(switched[0])} users): {conv_s:.3f} s, CPU {conv_cpu:.3f} s, {conv_q} queries; {left}")
    print(f"load average: {os.getloadavg()[0]:.2f}" + (" (under cProfile)" if on else ""))
    if not on:
        return
    for profile in (scan_p, fire_p, conv_p):
        stats = pstats.Stats(profile)
        stats.sort_stats("cumulative").print_stats(args.top)
        if args.callers:
            stats.print_callers(args.callers)


if __name__ == "__main__":
    main()
