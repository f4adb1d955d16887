"""Benchmark of the profile engine on PostgreSQL.

Creates N users (default 500), each with ten devices (a DEE main extension
with five destinations and two teams, plus nine softphones with connected
client sessions), then switches every user and converges every user through
the simulated PBX, and prints switches per second, queries per switch and
queries per converge (plus a batched re-apply and reconcile).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal .venv/bin/python bench/engine.py 500

It works in a fresh throw-away database (bench_<name>, created and dropped
here), so the database named by DATABASE_URL is not touched.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402

SOFTPHONES = 9
FAMILIES = ("desk", "mobile", "voicemail", "external", "softphone")


def populate(n: int):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from devices.models import ClientSession, Destination, Extension, Team
    from devices.services import collect_converges
    from profiles.models import Account, ClientProfile, PresenceProfile
    from profiles.seeding import give_default_profiles, seed_defaults

    User = get_user_model()
    seed_defaults()
    client = ClientProfile.objects.create(name="Bench", presence_profiles_enabled=True)
    client.system_profiles.set(PresenceProfile.objects.filter(kind=PresenceProfile.Kind.SYSTEM))
    teams = [Team.objects.create(name=f"Team {i}", queue=f"team{i}") for i in range(2)]
    password = make_password("bench")
    users = User.objects.bulk_create(User(username=f"user{i}", password=password) for i in range(n))
    primaries = Extension.objects.bulk_create(
        Extension(number=str(100000 + i), owner=u, kind=Extension.Kind.DEE_MAIN) for i, u in enumerate(users)
    )
    Destination.objects.bulk_create(
        Destination(extension=e, family=f, number=f"{e.number}{j}", position=j)
        for e in primaries
        for j, f in enumerate(FAMILIES)
    )
    for team in teams:
        team.members.add(*primaries)
    soft = Extension.objects.bulk_create(
        Extension(number=str(2000000 + i * SOFTPHONES + j), owner=u, kind=Extension.Kind.SOFTPHONE)
        for i, u in enumerate(users)
        for j in range(SOFTPHONES)
    )
    ClientSession.objects.bulk_create(ClientSession(user=e.owner, extension=e) for e in soft)
    Account.objects.bulk_create(
        Account(user=u, client_profile=client, primary_extension=e) for u, e in zip(users, primaries, strict=True)
    )
    with collect_converges():  # the benchmark converges by itself below
        for user in users:
            give_default_profiles(user)
    return users


class QueryCounter:
    """Counts queries without keeping them (CaptureQueriesContext keeps 9,000 at most)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def measure(label: str, items, func):
    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        for item in items:
            func(item)
        elapsed = time.perf_counter() - started
    count = len(items)
    print(
        f"{label:<34} {count:>6} in {elapsed:7.2f} s  {count / elapsed:8.1f}/s  "
        f"{counter.count / count:6.1f} queries each"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    if connection.vendor != "postgresql":
        sys.exit("bench/engine.py measures PostgreSQL: set DATABASE_URL=postgres://…")
    settings.DEBUG = False
    # Its own throw-away database, apart from the test suite's test_<name>.
    db = settings.DATABASES["default"]
    db.setdefault("TEST", {})["NAME"] = f"bench_{db['NAME']}"
    old = setup_databases(verbosity=0, interactive=False)
    try:
        from devices import converge, services
        from devices.models import TargetState
        from profiles.models import PresenceProfile
        from profiles.services import reapply_many, select_profile

        started = time.perf_counter()
        users = populate(n)
        print(f"setup: {n} users x 10 devices in {time.perf_counter() - started:.1f} s")
        for user in users:
            converge.converge(user_id=user.pk, reason="setup")
        meeting = {p.owner_id: p for p in PresenceProfile.objects.filter(name="In a meeting", owner__in=users)}

        with services.collect_converges():
            measure("switch (select_profile)", users, lambda u: select_profile(user=u, profile=meeting[u.pk]))
        measure("converge (10 devices, changes)", users, lambda u: converge.converge(user_id=u.pk, reason="bench"))
        measure("converge again (devices match)", users, lambda u: converge.converge(user_id=u.pk, reason="bench"))
        ids = [u.pk for u in users]
        batches = [ids[i : i + services.BATCH_SIZE] for i in range(0, len(ids), services.BATCH_SIZE)]
        with services.collect_converges():
            measure(
                f"re-apply batch (<= {services.BATCH_SIZE} users)",
                batches,
                lambda b: reapply_many(user_ids=b, event="bench"),
            )
        for user in users:
            converge.converge(user_id=user.pk, reason="bench")
        measure(f"reconcile batch (<= {services.BATCH_SIZE} users)", batches, services.reconcile_users)
        applied = TargetState.objects.filter(status="applied", applied_version=models_f("version")).count()
        print(f"targets applied: {applied} of {n}")
    finally:
        teardown_databases(old, verbosity=0)


def models_f(name):
    from django.db.models import F

    return F(name)


if __name__ == "__main__":
    main()
