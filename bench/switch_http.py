"""The switch over HTTP against a bare authenticated request, in one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_lean_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/8 \\
    .venv/bin/python bench/switch_http.py [--users 40] [--rounds 3] [--seconds 5] [--port 8800]

It EMPTIES the database it is given (migrate + flush): use a scratch one.
The broker only receives the converge tasks the switches enqueue (no worker
runs them); its default queue is purged at the end.

1. Seeds N users, each with a primary extension with ten destinations (two
   teams), the default personal profiles and the system profiles, logged in
   (a session each, made the way django.contrib.auth.login makes it).
2. Starts gunicorn (2 sync workers, as the README's production setup) on
   127.0.0.1 with bench/http_settings.py: the product's URLs plus two views
   that exist only there (bench/http_urls.py): a bare ``@login_required``
   view, and one doing only a switch's unavoidable writes (one UPDATE and
   one INSERT in a transaction, committed durably), the floor of a switch.
3. wrk (Debian's; installed when missing) with 20 connections: the bare
   view (GET /bench/bare/), the HTMX switch (POST /presence/select/<id>/,
   every request another user and another profile) and the writes alone
   (POST /bench/writes/<id>/) in interleaved rounds.
4. Prints per round and overall: requests/s, the switch/bare and
   writes/bare ratios (medians of the per-round ratios), p50/p99 latency, and the queries one request of
   each kind costs (counted in-process with the same settings), and the CPU
   one request costs by process (gunicorn, PostgreSQL, Redis, wrk; from
   /proc) with how busy the two CPUs were: a ratio read with them can be
   compared across machines. Writes them to --out (default
   var/bench/switch_http.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.http_settings"
os.environ["DEBUG"] = "0"  # as in production: no per-query bookkeeping
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "0"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from devices.models import Destination, Extension, Team  # noqa: E402
from portal.celery import app  # noqa: E402
from profiles.actions import prompts_needed  # noqa: E402
from profiles.models import Account, ClientProfile, PresenceProfile  # noqa: E402
from profiles.seeding import give_default_profiles, seed_defaults  # noqa: E402

User = get_user_model()
FAMILIES = ("desk", "softphone", "mobile", "dect", "external", "voicemail", "desk", "mobile", "external", "dect")
CONNECTIONS = 20
CSRF = "benchcsrfsecret0123456789abcdefg"  # 32 characters: a valid CSRF secret

LUA = """
local items = @ITEMS@
local counter = 0
local method = "@METHOD@"
function request()
  counter = counter + 1
  local item = items[(counter %% #items) + 1]
  local headers = {
    ["Cookie"] = "sessionid=" .. item[1] .. "; csrftoken=@CSRF@",
    ["X-CSRFToken"] = "@CSRF@",
    ["HX-Request"] = "true",
    ["HX-Target"] = "presence",
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }
  if method == "POST" then
    return wrk.format("POST", item[2], headers, "")
  end
  return wrk.format("GET", item[2], headers, nil)
end
function done(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests": %%d, "micros": %%d, "p50": %%d, "p99": %%d, "errors": %%d, "bad_status": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is needed: sudo apt-get install wrk")
    print("installing Debian's wrk")
    subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "wrk"],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    return shutil.which("wrk") or "/usr/bin/wrk"


def seed(count: int) -> list[tuple[str, list[int]]]:
    """Users, devices, profiles and sessions; returns (session key,
    selectable profile ids without prompts) per user."""
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    seed_defaults()
    client = ClientProfile.objects.create(name="Bench", presence_profiles_enabled=True)
    client.system_profiles.set(PresenceProfile.objects.filter(kind=PresenceProfile.Kind.SYSTEM))
    teams = [Team.objects.create(name=f"Team {i}", queue=f"team{i}") for i in range(2)]
    sessions = []
    for i in range(count):
        user = User.objects.create(username=f"bench{i}", email=f"bench{i}@example.com")
        extension = Extension.objects.create(number=str(3000 + i), name=user.username, owner=user)
        Destination.objects.bulk_create(
            Destination(extension=extension, family=family, number=f"{4000 + i}{p}", position=p)
            for p, family in enumerate(FAMILIES)
        )
        extension.teams.set(teams)
        Account.objects.create(user=user, client_profile=client, primary_extension=extension)
        give_default_profiles(user)
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        profiles = [
            p.pk
            for p in (
                PresenceProfile.objects.filter(owner=user) | PresenceProfile.objects.filter(client_profiles=client)
            )
            .distinct()
            .prefetch_related("actions")
            if not any(prompts_needed(a.type, a.params) for a in p.actions.all() if a.enabled)
        ]
        sessions.append((session.session_key, profiles))
    app.control.purge()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return sessions


def targets(sessions, kind: str) -> list[tuple[str, str]]:
    """(session key, path) for each request of a round, so each request is
    another user and each user's next switch another profile."""
    if kind == "bare":
        return [(key, "/bench/bare/") for key, _ in sessions]
    prefix = "/bench/writes/" if kind == "writes" else "/presence/select/"
    longest = max(len(p) for _, p in sessions)
    return [(key, f"{prefix}{profiles[n % len(profiles)]}/") for n in range(longest) for key, profiles in sessions]


def lua_script(items, method: str) -> str:
    table = "{" + ",".join(f'{{"{key}","{path}"}}' for key, path in items) + "}"
    return (LUA % ()).replace("@ITEMS@", table).replace("@METHOD@", method).replace("@CSRF@", CSRF)


def start_gunicorn(port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--worker-class",
            "sync",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    for _ in range(100):
        if server.poll() is not None:
            raise SystemExit("gunicorn did not start")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=1)
            return server
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn does not answer")


# The bare view, the switch, and the switch's unavoidable writes alone.
KINDS = ("bare", "switch", "writes")
CPU_GROUPS = ("web", "PostgreSQL", "Redis", "wrk")


def cpu_seconds() -> dict[str, float]:
    """CPU time (user + system) so far of the processes that serve a round,
    by group: gunicorn, PostgreSQL (backends and its own workers), Redis,
    and the waited-for children of this process (wrk)."""
    tick = os.sysconf("SC_CLK_TCK")
    totals = dict.fromkeys(CPU_GROUPS, 0.0)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        group = (
            "web"
            if "gunicorn portal.wsgi" in command
            else "PostgreSQL"
            if command.startswith("postgres")
            else "Redis"
            if "redis-server" in command
            else None
        )
        if group:
            totals[group] += (int(fields[11]) + int(fields[12])) / tick
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    totals["wrk"] = children.ru_utime + children.ru_stime
    return totals


def run_wrk(wrk: str, port: int, script: str, seconds: int) -> dict:
    before = cpu_seconds()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            [
                wrk,
                "-t2",
                f"-c{CONNECTIONS}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                "-s",
                f.name,
                f"http://127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
        )
    finally:
        os.unlink(f.name)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk said nothing usable:\n{out.stdout}\n{out.stderr}")
    result = json.loads(line[len("RESULT ") :])
    result["rate"] = result["requests"] / (result["micros"] / 1e6)
    after = cpu_seconds()
    # Milliseconds of CPU per request by group, and how busy the CPUs were.
    result["cpu"] = {g: (after[g] - before[g]) * 1000 / result["requests"] for g in CPU_GROUPS}
    result["busy"] = sum(after[g] - before[g] for g in CPU_GROUPS) / (result["micros"] / 1e6) / os.cpu_count()
    return result


def queries_per_request(sessions) -> dict[str, int]:
    """One request of each kind in-process (same settings, same database)."""
    key, profiles = sessions[0]
    client = Client(HTTP_HX_REQUEST="true", HTTP_HOST="127.0.0.1")
    client.cookies["sessionid"] = key
    counts = {}
    for kind, call in (
        ("bare", lambda: client.get("/bench/bare/")),
        ("switch", lambda: client.post(f"/presence/select/{profiles[1]}/")),
        ("writes", lambda: client.post(f"/bench/writes/{profiles[1]}/")),
    ):
        call()  # warm
        with CaptureQueriesContext(connection) as queries:
            response = call()
        if response.status_code != 200:
            raise SystemExit(f"{kind}: HTTP {response.status_code}")
        counts[kind] = len(queries)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5, help="length of each measured round")
    parser.add_argument("--port", type=int, default=8800)
    parser.add_argument("--out", default=str(ROOT / "var" / "bench" / "switch_http.txt"))
    args = parser.parse_args()
    if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis://"):
        raise SystemExit("Run on PostgreSQL (DATABASE_URL) and Redis (CELERY_BROKER_URL); see the docstring.")
    wrk = ensure_wrk()
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    started = time.perf_counter()
    sessions = seed(args.users)
    counts = queries_per_request(sessions)
    say(f"seeded {len(sessions)} users in {time.perf_counter() - started:.1f} s")
    say(f"queries per request: bare {counts['bare']}, switch {counts['switch']}, writes {counts['writes']}")
    say(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    scripts = {
        "bare": lua_script(targets(sessions, "bare"), "GET"),
        "switch": lua_script(targets(sessions, "switch"), "POST"),
        "writes": lua_script(targets(sessions, "writes"), "POST"),
    }
    server = start_gunicorn(args.port)
    rounds: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    try:
        for kind in KINDS:
            run_wrk(wrk, args.port, scripts[kind], 2)  # warm both workers
        for n in range(args.rounds):
            for kind in KINDS:
                result = run_wrk(wrk, args.port, scripts[kind], args.seconds)
                if result["errors"] or result["bad_status"]:
                    raise SystemExit(f"round {n + 1} {kind}: {result['errors']} errors, {result['bad_status']} non-2xx")
                rounds[kind].append(result)
                say(
                    f"round {n + 1} {kind:6}: {result['rate']:7.1f} req/s  "
                    f"p50 {result['p50'] / 1000:6.1f} ms  p99 {result['p99'] / 1000:6.1f} ms"
                )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        app.control.purge()
    ratios = {
        kind: [s["rate"] / b["rate"] for s, b in zip(rounds[kind], rounds["bare"], strict=True)]
        for kind in ("switch", "writes")
    }
    say()
    for kind in KINDS:
        r = rounds[kind]
        p50 = statistics.median(x["p50"] for x in r) / 1000
        p99 = statistics.median(x["p99"] for x in r) / 1000
        say(
            f"{kind:6}: {statistics.median(x['rate'] for x in r):7.1f} req/s (median of {len(r)} rounds)  "
            f"p50 {p50:.1f} ms  p99 {p99:.1f} ms  p99/p50 {p99 / p50:.1f}  {counts[kind]} queries"
        )
    for kind in KINDS:
        r = rounds[kind]
        cpu = {g: statistics.median(x["cpu"][g] for x in r) for g in CPU_GROUPS}
        say(
            f"{kind:6}: CPU per request {sum(cpu.values()):.2f} ms ("
            + ", ".join(f"{g} {cpu[g]:.2f}" for g in CPU_GROUPS)
            + f"); the CPUs {statistics.median(x['busy'] for x in r):.0%} busy"
        )
    for kind, label in (("writes", "its writes alone (the floor)"), ("switch", "the switch")):
        r = ratios[kind]
        say(f"{kind}/bare ratio: {statistics.median(r):.2f} (per round: {', '.join(f'{x:.2f}' for x in r)}): {label}")
    say(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
