"""The client API under gunicorn on PostgreSQL, with the rate limit counted
in Redis as in production.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_api_bench \\
    CACHE_URL=redis://127.0.0.1:6379/5 \\
    .venv/bin/python bench/api.py [--users 1000] [--sessions 10000] [--seconds 8] [--port 8200]

It EMPTIES the database it is given (migrate + flush): use a scratch one.

1. Throughput: gunicorn (2 workers) serves ``POST /api/v1/me/switch``
   (U users with a token each, alternating two profiles) and, in the same
   run, the bare token-authenticated ``GET /api/v1/whoami``; requests/s of
   each, their p50/p99 latency and their ratio (goal >= 0.45), after every
   user was switched often enough that both workers' catalogs hold them
   (--warm-passes). Converges go to a broker nobody reads (the web side is
   measured, not the PBX).
2. Heartbeat: queries per heartbeat through the Django stack, and the
   database time of the heartbeat UPDATE with S connected sessions.
3. Expiry: 1,000 of the S sessions expire at once; the due-scan's cost to
   find them and the batch tasks' cost to end them (run in-process).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "0"
os.environ["CELERY_BROKER_URL"] = "memory://"  # converges are enqueued and dropped

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from api import tokens  # noqa: E402
from devices.models import ClientSession, Destination, Extension  # noqa: E402
from profiles import events  # noqa: E402
from profiles.automation import duescan  # noqa: E402
from profiles.models import Account, Action, ClientProfile, PresenceProfile, Selection  # noqa: E402

User = get_user_model()


def seed(users: int, sessions: int) -> tuple[list[str], dict[str, tuple[int, int]]]:
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    client = ClientProfile.objects.create(name="Bench", presence_profiles_enabled=True)
    User.objects.bulk_create([User(username=f"bench{i}", password="!") for i in range(users)], batch_size=2000)
    people = list(User.objects.order_by("id"))
    Extension.objects.bulk_create(
        [Extension(number=str(200000 + i), owner=u) for i, u in enumerate(people)], batch_size=2000
    )
    primaries = {e.owner_id: e for e in Extension.objects.all()}
    Destination.objects.bulk_create(
        [Destination(extension=e, family="desk", number=e.number + "1") for e in primaries.values()],
        batch_size=5000,
    )
    Account.objects.bulk_create(
        [Account(user=u, client_profile=client, primary_extension=primaries[u.pk]) for u in people], batch_size=2000
    )
    PresenceProfile.objects.bulk_create(
        [
            PresenceProfile(owner=u, kind="personal", name=n, position=p)
            for u in people
            for p, n in enumerate(("Office", "Away"))
        ],
        batch_size=5000,
    )
    profiles = {(p.owner_id, p.name): p for p in PresenceProfile.objects.all()}
    Action.objects.bulk_create(
        [Action(profile=profiles[u.pk, "Away"], type="set_dnd", params={"on": True}) for u in people]
        + [Action(profile=profiles[u.pk, "Office"], type="set_dnd", params={"on": False}) for u in people],
        batch_size=5000,
    )
    now = timezone.now()
    Selection.objects.bulk_create(
        [Selection(user=u, profile=profiles[u.pk, "Office"], since=now, source="system") for u in people],
        batch_size=5000,
    )
    # Softphones with connected API clients, spread over the users.
    Extension.objects.bulk_create(
        [Extension(number=str(500000 + i), kind="softphone", owner=people[i % users]) for i in range(sessions)],
        batch_size=5000,
    )
    phones = list(Extension.objects.filter(kind="softphone").order_by("number"))
    later = now + dt.timedelta(hours=1)
    ClientSession.objects.bulk_create(
        [
            ClientSession(
                user_id=p.owner_id, extension=p, client_id=f"c{p.number}", last_heartbeat_at=now, expires_at=later
            )
            for p in phones
        ],
        batch_size=5000,
    )
    raw = [tokens.create_token(user=u, name="bench").raw for u in people]
    ids = {r: (profiles[u.pk, "Office"].pk, profiles[u.pk, "Away"].pk) for r, u in zip(raw, people, strict=True)}
    return raw, ids


def hammer(
    port: int, seconds: float, threads: int, make_request, *, requests: int | None = None
) -> tuple[float, list[float]]:
    """Requests/s over ``seconds`` (or until ``requests`` were sent) from
    ``threads`` keep-alive connections, and each request's latency in ms."""
    stop = time.monotonic() + seconds
    counts, errors, latencies = [0] * threads, [], [[] for _ in range(threads)]

    def run(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i = n
        while (time.monotonic() < stop) if requests is None else (i < requests):
            method, path, body, headers = make_request(i)
            begin = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            latencies[n].append((time.perf_counter() - begin) * 1000)
            if response.status >= 400:
                errors.append(response.status)
            counts[n] += 1
            i += threads
        conn.close()

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    started = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, e.g. {errors[:5]}")
    return sum(counts) / (time.monotonic() - started), sorted(x for part in latencies for x in part)


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p))] if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=10000)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--warm-passes", type=int, default=6)
    args = parser.parse_args()
    t0 = time.monotonic()
    raw, ids = seed(args.users, args.sessions)
    print(f"seeded {args.users} users, {args.sessions} client sessions in {time.monotonic() - t0:.1f} s")

    env = {**os.environ, "API_RATE_LIMIT": "1000000/m", "API_TOKEN_TOUCH_SECONDS": "60", "DEBUG": "0"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi",
            "-b",
            f"127.0.0.1:{args.port}",
            "-w",
            "2",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        time.sleep(3)

        def whoami(i):
            return "GET", "/api/v1/whoami", None, {"Authorization": f"Bearer {raw[i % len(raw)]}"}

        def switch(i):
            token = raw[i % len(raw)]
            office, away = ids[token]
            body = json.dumps({"profile_id": away if (i // len(raw)) % 2 == 0 else office})
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            return "POST", "/api/v1/me/switch", body, headers

        hammer(args.port, 1.5, args.threads, whoami)  # warm up connections and workers
        # ... and each worker's catalog with every user: the steady state of a
        # server that runs for a while. Requests go to either worker, so each
        # user is switched --warm-passes times (6: a user is still cold in a
        # given worker with probability 1/64).
        begin = time.monotonic()
        hammer(args.port, 3600, args.threads, switch, requests=args.warm_passes * len(raw))
        print(f"warmed the catalogs: {args.warm_passes} switches per user in {time.monotonic() - begin:.0f} s")
        # Rounds alternate, so a load change on a shared machine hits both.
        ratios, all_bare, all_switched = [], [], []
        for round_ in range(args.rounds):
            bare, bare_ms = hammer(args.port, args.seconds, args.threads, whoami)
            switched, switch_ms = hammer(args.port, args.seconds, args.threads, switch)
            ratios.append(switched / bare)
            all_bare.append(bare)
            all_switched.append(switched)
            print(
                f"round {round_ + 1}: bare token endpoint (GET /whoami) {bare:.1f} req/s"
                f" (p50 {percentile(bare_ms, 0.5):.1f} ms, p99 {percentile(bare_ms, 0.99):.1f} ms),"
                f" API switch (POST /me/switch) {switched:.1f} req/s"
                f" (p50 {percentile(switch_ms, 0.5):.1f} ms, p99 {percentile(switch_ms, 0.99):.1f} ms),"
                f" ratio {switched / bare:.2f}"
            )
        print(
            f"median: bare {statistics.median(all_bare):.1f} req/s, switch {statistics.median(all_switched):.1f} req/s;"
            f" ratio median {statistics.median(ratios):.2f} (goal >= 0.45)"
        )
    finally:
        server.terminate()
        server.wait(timeout=20)

    # 2. heartbeat cost
    user = User.objects.get(username="bench0")
    session = ClientSession.objects.filter(user=user).first()
    token = raw[0]
    client = Client(HTTP_HOST="localhost")
    client.post(f"/api/v1/sessions/{session.pk}/heartbeat", HTTP_AUTHORIZATION=f"Bearer {token}")
    with CaptureQueriesContext(connection) as ctx:
        response = client.post(f"/api/v1/sessions/{session.pk}/heartbeat", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    print(
        f"heartbeat: {len(ctx.captured_queries)} queries ({', '.join(q['sql'].split()[0] for q in ctx.captured_queries)})"
    )
    timings = []
    for s in ClientSession.objects.order_by("?")[:500]:
        begin = time.perf_counter()
        assert events.heartbeat(user=User(pk=s.user_id), session_id=s.pk)
        timings.append((time.perf_counter() - begin) * 1000)
    print(
        f"heartbeat UPDATE with {args.sessions} sessions: median {statistics.median(timings):.2f} ms, "
        f"p95 {sorted(timings)[int(len(timings) * 0.95)]:.2f} ms"
    )

    # 3. expiring 1,000 at once
    now = timezone.now()
    expiring = list(ClientSession.objects.order_by("?").values_list("pk", flat=True)[:1000])
    ClientSession.objects.filter(pk__in=expiring).update(expires_at=now - dt.timedelta(seconds=1))
    sent: list[list[int]] = []
    with CaptureQueriesContext(connection) as ctx:
        begin = time.perf_counter()
        result = duescan.scan(
            now=now, send_firings=lambda ids: None, send_clear_after=lambda ids: None, send_expired_sessions=sent.append
        )
        scan_ms = (time.perf_counter() - begin) * 1000
    print(
        f"due-scan found {result.expired_sessions} expired sessions in {scan_ms:.1f} ms, "
        f"{len(ctx.captured_queries)} queries, {len(sent)} batches"
    )
    with CaptureQueriesContext(connection) as ctx:
        begin = time.perf_counter()
        ended = sum(events.expire_client_sessions(batch, now=now) for batch in sent)
        end_s = time.perf_counter() - begin
    print(
        f"ended {ended} sessions (re-applied, softphones released) in {end_s:.2f} s, "
        f"{len(ctx.captured_queries)} queries ({len(ctx.captured_queries) // max(1, len(sent))} per batch of 500)"
    )
    with CaptureQueriesContext(connection) as ctx:
        begin = time.perf_counter()
        idle = duescan.scan(
            now=now, send_firings=lambda ids: None, send_clear_after=lambda ids: None, send_expired_sessions=sent.append
        )
    print(
        f"idle due-scan with {ClientSession.objects.count()} live sessions: "
        f"{(time.perf_counter() - begin) * 1000:.1f} ms, {len(ctx.captured_queries)} queries, "
        f"{idle.expired_sessions} expired"
    )


if __name__ == "__main__":
    main()
