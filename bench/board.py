"""The colleagues board with many users: what the first screen, a changed
poll and an unchanged poll (304) cost, in queries and milliseconds,
through Django's test client (no network, no server).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
    .venv/bin/python bench/board.py [--users 10000] [--rounds 30]

It EMPTIES the database it is given (migrate + flush): use a scratch one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from profiles.models import Account, PresenceProfile, Selection  # noqa: E402
from profiles.seeding import seed_defaults  # noqa: E402

User = get_user_model()
HX = {"HTTP_HX_REQUEST": "true"}


def setup(users: int) -> User:
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    seed_defaults()
    system = PresenceProfile.objects.filter(kind=PresenceProfile.Kind.SYSTEM).first()
    people = User.objects.bulk_create(
        User(username=f"user{i:05d}", first_name=f"User {i:05d}", password="!") for i in range(users)
    )
    now = timezone.now()
    Selection.objects.bulk_create(Selection(user=u, profile=system, since=now) for u in people)
    viewer = people[0]
    Account.objects.create(user=viewer, time_zone="Europe/Berlin")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # as autovacuum would after a bulk load
    return viewer


def measure(client: Client, rounds: int, **headers) -> tuple[float, int, int]:
    timings = []
    for _ in range(rounds):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get("/colleagues/", **headers)
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), len(queries), response.status_code


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    settings.ALLOWED_HOSTS = ["testserver"]
    viewer = setup(args.users)
    client = Client()
    client.force_login(viewer)
    client.get("/colleagues/")  # warm the template cache

    page_ms, page_q, page_status = measure(client, args.rounds)
    part_ms, part_q, part_status = measure(client, args.rounds, **HX)
    etag = client.get("/colleagues/", **HX)["ETag"]
    same_ms, same_q, same_status = measure(client, args.rounds, HTTP_IF_NONE_MATCH=etag, **HX)
    print(f"colleagues board, {args.users} users, median of {args.rounds} requests (test client, {connection.vendor})")
    print(f"  full page, first screen:   {page_ms:7.1f} ms  {page_q} queries  HTTP {page_status}")
    print(f"  htmx partial (changed):    {part_ms:7.1f} ms  {part_q} queries  HTTP {part_status}")
    print(f"  poll, nothing changed:     {same_ms:7.1f} ms  {same_q} queries  HTTP {same_status}")


if __name__ == "__main__":
    main()
