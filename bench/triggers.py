"""Triggers at scale, on PostgreSQL and Redis with one real Celery worker.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/4 \\
    .venv/bin/python bench/triggers.py [--users 10000] [--idle-triggers 20000]

It EMPTIES the database it is given (migrate + flush): use a scratch one.

1. Idle tick: with N enabled time triggers of which none is due, the cost of
   one due-scan (queries, milliseconds) and the plan of its query.
2. One minute, many users: U users whose time trigger fires at the same
   minute. The due-scan runs at that minute (as Beat would send it) on a
   worker started here as a subprocess (`celery worker`, default prefork
   pool); measured from the minute until every user is switched and their
   simulated PBX converged (target applied). Compared with the time the
   same worker needs for U empty tasks, measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "0"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.tasks import noop  # noqa: E402
from devices.models import Destination, Extension, TargetState  # noqa: E402
from portal.celery import app  # noqa: E402
from profiles.automation import duescan  # noqa: E402
from profiles.automation.tasks import due_scan  # noqa: E402
from profiles.models import (  # noqa: E402
    Account,
    Action,
    ClientProfile,
    PresenceProfile,
    Selection,
    Trigger,
    TriggerFiring,
)

User = get_user_model()
EVERY_DAY = 0b1111111


def seed(users: int, idle_triggers: int, minute: dt.datetime) -> list[int]:
    """Users with a primary extension (desk + voicemail destinations), two
    personal profiles (Office selected, Away), one trigger to Away at
    ``minute`` each, and idle triggers due tomorrow; bulk-inserted."""
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    client = ClientProfile.objects.create(name="Bench", presence_profiles_enabled=True)
    User.objects.bulk_create(
        [User(username=f"bench{i}", email=f"bench{i}@example.com", password="!") for i in range(users)],
        batch_size=2000,
    )
    people = list(User.objects.order_by("id"))
    Extension.objects.bulk_create(
        [Extension(number=str(200000 + i), name=u.username, owner=u) for i, u in enumerate(people)], batch_size=2000
    )
    extensions = {e.owner_id: e for e in Extension.objects.all()}
    Destination.objects.bulk_create(
        [
            Destination(extension=e, family=family, number=number, position=p)
            for e in extensions.values()
            for p, (family, number) in enumerate((("desk", e.number + "1"), ("voicemail", "*97")))
        ],
        batch_size=5000,
    )
    Account.objects.bulk_create(
        [
            Account(user=u, client_profile=client, primary_extension=extensions[u.pk], time_zone="Europe/Berlin")
            for u in people
        ],
        batch_size=2000,
    )
    PresenceProfile.objects.bulk_create(
        [
            PresenceProfile(owner=u, kind="personal", name=name, position=p)
            for u in people
            for p, name in enumerate(("Office", "Away"))
        ],
        batch_size=5000,
    )
    profiles = {(p.owner_id, p.name): p for p in PresenceProfile.objects.all()}
    Action.objects.bulk_create(
        [
            action
            for u in people
            for action in (
                Action(
                    profile=profiles[u.pk, "Office"],
                    position=0,
                    type="change_destinations",
                    params={"family": "all", "active": True},
                ),
                Action(profile=profiles[u.pk, "Office"], position=1, type="set_dnd", params={"on": False}),
                Action(
                    profile=profiles[u.pk, "Away"],
                    position=0,
                    type="change_destinations",
                    params={"family": "all", "active": False},
                ),
                Action(
                    profile=profiles[u.pk, "Away"],
                    position=1,
                    type="change_destinations",
                    params={"family": "voicemail", "active": True},
                ),
                Action(profile=profiles[u.pk, "Away"], position=2, type="set_dnd", params={"on": True}),
            )
        ],
        batch_size=5000,
    )
    now = timezone.now()
    Selection.objects.bulk_create(
        [Selection(user=u, profile=profiles[u.pk, "Office"], since=now, source="system") for u in people],
        batch_size=5000,
    )
    tomorrow = minute + dt.timedelta(days=1)
    local = minute.astimezone(dt.timezone(dt.timedelta(hours=1))).time()
    triggers = [
        Trigger(profile=profiles[u.pk, "Away"], time_of_day=local, weekdays=EVERY_DAY, next_fire_at=tomorrow)
        for u in people
    ]
    triggers += [
        Trigger(
            profile=profiles[people[i % users].pk, "Office"],
            time_of_day=local,
            weekdays=EVERY_DAY,
            next_fire_at=tomorrow,
        )
        for i in range(max(0, idle_triggers - users))
    ]
    Trigger.objects.bulk_create(triggers, batch_size=5000)
    # A day of history, so the firing table is not empty (as in production).
    TriggerFiring.objects.bulk_create(
        [
            TriggerFiring(trigger=t, scheduled_for=minute - dt.timedelta(days=1), fired_at=now, outcome="applied")
            for t in Trigger.objects.all()
        ],
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return [u.pk for u in people]


def idle_tick(count: int) -> None:
    now = timezone.now()
    duescan.scan(now=now, send_firings=_refuse, send_clear_after=_refuse)  # warm the connection
    timings = []
    for _ in range(200):
        started = time.perf_counter()
        duescan.scan(now=now, send_firings=_refuse, send_clear_after=_refuse)
        timings.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        duescan.scan(now=now, send_firings=_refuse, send_clear_after=_refuse)
    enabled = Trigger.objects.filter(enabled=True, next_fire_at__isnull=False).count()
    print(f"## 1. Idle tick: {enabled} enabled time triggers, none due")
    print(f"queries per tick: {len(queries)}")
    print(f"tick time: median {statistics.median(timings):.3f} ms, p95 {sorted(timings)[189]:.3f} ms (200 ticks)")
    sql = queries.captured_queries[0]["sql"]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + sql)
        print("EXPLAIN ANALYZE:")
        for (line,) in cursor.fetchall():
            print("   ", line)


def _refuse(ids):
    raise AssertionError("nothing should be due")


def start_worker() -> subprocess.Popen:
    env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "0"}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--loglevel=WARNING",
            "-n",
            "bench@%h",
            "--without-gossip",
            "--without-mingle",
            "--include",
            "bench.tasks",
        ],
        cwd=ROOT,
        env=env,
    )
    for _ in range(100):
        if app.control.ping(timeout=0.5):
            return worker
        if worker.poll() is not None:
            raise SystemExit("the worker did not start")
    raise SystemExit("the worker does not answer pings")


def queue_idle() -> bool:
    """Nothing left in the broker queue nor on the worker."""
    with app.connection_for_write() as conn:
        waiting = conn.default_channel.client.llen("celery")
    if waiting:
        return False
    inspect = app.control.inspect(timeout=1, limit=1)
    busy = [*(inspect.active() or {}).values(), *(inspect.reserved() or {}).values()]
    return not any(busy)


def empty_tasks(count: int) -> float:
    """Send ``count`` no-op tasks and wait until the worker ran them all.
    Polls the queue length (cheap) and asks the worker only at the end."""
    started = time.perf_counter()
    with app.producer_or_acquire() as producer:
        for _ in range(count):
            noop.apply_async(producer=producer)
    while not queue_idle():
        time.sleep(0.02)
    return time.perf_counter() - started


def one_minute(user_ids: list[int], minute: dt.datetime) -> tuple[float, float, int]:
    """Seconds until every user was switched, and switched and converged.
    Every 20 ms one cheap probe (two partial-index EXISTS: a firing still
    pending, a target still pending) says whether it may be done; only then
    do the counts (every user on Away, every target applied) confirm it. So
    the end is seen within 20 ms, as the empty tasks' end is, and the
    probes cost the worker little on a small machine (the counts every
    0.25 s added up to 0.25 s to the burst and cost more)."""
    Trigger.objects.filter(profile__name="Away").update(next_fire_at=minute)
    while timezone.now() < minute:
        time.sleep(0.01)
    started = time.perf_counter()
    due_scan.delay()  # what Beat sends at its tick
    switched_at = None
    seen_firing = False
    probe = (
        f"SELECT EXISTS (SELECT 1 FROM {TriggerFiring._meta.db_table} WHERE outcome = 'pending'),"
        f" EXISTS (SELECT 1 FROM {TargetState._meta.db_table} WHERE status = 'pending')"
    )
    while True:
        with connection.cursor() as cursor:
            cursor.execute(probe)
            firing_pending, target_pending = cursor.fetchone()
        seen_firing = seen_firing or firing_pending
        if seen_firing and not firing_pending:
            if switched_at is None and Selection.objects.filter(profile__name="Away").count() == len(user_ids):
                switched_at = time.perf_counter() - started
            if switched_at is not None and not target_pending:
                converged = TargetState.objects.filter(status="applied", version__gt=0).count()
                if converged == len(user_ids):
                    break
        if time.perf_counter() - started > 900:
            raise SystemExit("not converged after 900 s")
        time.sleep(0.02)
    return switched_at, time.perf_counter() - started, _tasks_run()


def _tasks_run() -> int:
    replies = app.control.inspect(timeout=2).stats() or {}
    totals = {}
    for reply in replies.values():
        totals.update(reply.get("total", {}))
    return sum(v for k, v in totals.items() if k != noop.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--idle-triggers", type=int, default=20_000)
    args = parser.parse_args()
    if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis://"):
        raise SystemExit("Run on PostgreSQL (DATABASE_URL) and Redis (CELERY_BROKER_URL).")

    started = time.perf_counter()
    minute = (timezone.now() + dt.timedelta(minutes=10)).replace(second=0, microsecond=0)
    user_ids = seed(args.users, args.idle_triggers, minute)
    print(
        f"seeded {len(user_ids)} users and {Trigger.objects.count()} triggers in {time.perf_counter() - started:.1f} s"
    )
    idle_tick(args.idle_triggers)

    app.control.purge()
    worker = start_worker()
    try:
        print(f"\n## 2. {len(user_ids)} users, one minute, one worker (prefork, {os.cpu_count()} CPUs)")
        empty = empty_tasks(len(user_ids))
        print(f"{len(user_ids)} empty tasks (before):           {empty:.2f} s")
        minute = (timezone.now() + dt.timedelta(seconds=2)).replace(microsecond=0)
        switched, converged, tasks = one_minute(user_ids, minute)
        print(f"all users switched after:                {switched:.2f} s")
        print(f"all users switched and converged after:  {converged:.2f} s  ({tasks} tasks besides the no-ops)")
        # Once more after: the machine's load varies, so both are shown.
        again = empty_tasks(len(user_ids))
        print(f"{len(user_ids)} empty tasks (after):            {again:.2f} s")
        print(f"ratio to the faster empty-task run:      {converged / min(empty, again):.2f}")
    finally:
        worker.terminate()
        worker.wait(60)


if __name__ == "__main__":
    main()
