"""Profile one batch of the time-trigger burst in-process (cProfile).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
    .venv/bin/python bench/profile_burst.py [users] [--top 35]

It EMPTIES the database it is given (seeded by bench.triggers.seed): use a
scratch one. Makes ``users`` users due now, runs the due-scan without a
worker (measured too), then the firing batches (profiles.automation.firings.apply_firings)
and their converges (devices.converge.converge_many), one after the other.
The last batch is shown: the wall time, the CPU time of this process and
of its PostgreSQL backend (from /proc: load-robust where the wall time is
not), the number of queries of each, and the top of each profile. The
batches between the first (it warms the process, as a worker's earlier
batches do) and a profiled last give the min and median CPU per batch.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import os
import pstats
import statistics
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
from portal import celery  # noqa: E402
from profiles.automation import duescan, firings  # noqa: E402
from profiles.models import Trigger  # noqa: E402


class GcTime:
    """CPU seconds spent in the cyclic garbage collector, by generation."""

    def __init__(self):
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0
        gc.callbacks.append(self)

    def __call__(self, phase, info):
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds[info["generation"]] += time.process_time() - self._started


GC = GcTime()


def backend_cpu() -> float:
    """CPU seconds used so far by this connection's PostgreSQL backend (a
    local server: its /proc entry is readable), 0 when it is not."""
    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profiled(function, enabled: bool, quiet: bool = False):
    """The result, wall seconds, CPU seconds of this process and of the
    database backend, queries, profile."""
    # CPU time, not wall time: on a shared machine the wall clock counts the
    # time the process waited for a CPU, wherever it was preempted.
    profile = cProfile.Profile(time.process_time)
    db_cpu = backend_cpu()
    GC.seconds = [0.0, 0.0, 0.0]
    with CaptureQueriesContext(connection) as queries:
        started, cpu = time.perf_counter(), time.process_time()
        if enabled:
            profile.enable()
        result = function()
        profile.disable()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    db_cpu = backend_cpu() - db_cpu
    slowest = [] if quiet else sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:5]
    for q in slowest:
        print(f"    {float(q['time']) * 1000:7.1f} ms  {q['sql'][:110]}")
    if not quiet:
        print(f"    garbage collector: {', '.join(f'{t:.3f}' for t in GC.seconds)} s (generations 0, 1, 2)")
    return result, wall, (cpu, db_cpu), len(queries), profile


def _cpu(times: tuple[float, float]) -> str:
    return f"CPU {times[0]:.3f} s + database {times[1]:.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("users", type=int, nargs="?", default=3000)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--no-profile", action="store_true", help="only the times, without cProfile's overhead")
    parser.add_argument(
        "--default-gc", action="store_true", help="Python's garbage collector settings, not the worker's"
    )
    parser.add_argument("--callers", help="also print the callers of functions matching this")
    args = parser.parse_args()
    minute = (timezone.now() + dt.timedelta(minutes=10)).replace(second=0, microsecond=0)
    seed(args.users, args.users, minute)
    Trigger.objects.filter(profile__name="Away").update(next_fire_at=timezone.now() - dt.timedelta(seconds=5))
    # A fresh database session, as a worker has: on the session that seeded,
    # each batch's commits cost PostgreSQL about 110 ms of CPU instead of
    # 11 ms, which made the per-batch figures 0.1 s too high.
    connection.close()
    batches = []
    on = not args.no_profile
    if not args.default_gc:
        celery.collect_less()  # as a worker process does when it starts
    _, scan_s, scan_cpu, scan_q, scan_p = profiled(
        lambda: duescan.scan(
            send_firings=batches.append, send_clear_after=lambda ids: None, send_calendars=lambda ids: None
        ),
        on,
    )
    print(f"due-scan ({[len(b) for b in batches]} firings): {scan_s:.3f} s, {_cpu(scan_cpu)}, {scan_q} queries")
    switched = []
    fire_cpu, conv_cpu = [], []
    for i, batch in enumerate(batches):
        last = i == len(batches) - 1
        _, fire_s, fire_c, fire_q, fire_p = profiled(
            lambda batch=batch: firings.apply_firings(batch, converge=switched.append), on and last, quiet=not last
        )
        users = switched.pop()
        left, conv_s, conv_c, conv_q, conv_p = profiled(
            lambda users=users: converge.converge_many(users, reason="trigger"), on and last, quiet=not last
        )
        if i and not (on and last):  # the first batch warms the process, as a worker's earlier batches
            fire_cpu.append(sum(fire_c))
            conv_cpu.append(sum(conv_c))
    print(f"apply_firings ({len(batches[-1])} firings): {fire_s:.3f} s, {_cpu(fire_c)}, {fire_q} queries")
    print(f"converge_many ({len(users)} users): {conv_s:.3f} s, {_cpu(conv_c)}, {conv_q} queries; {left}")
    if fire_cpu:
        print(
            f"CPU of process + database per warm batch ({len(fire_cpu)} unprofiled):"
            f" apply_firings min {min(fire_cpu):.3f} s, median {statistics.median(fire_cpu):.3f} s;"
            f" converge_many min {min(conv_cpu):.3f} s, median {statistics.median(conv_cpu):.3f} s"
        )
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
