"""The event stream with many viewers: N stream connections held open on
127.0.0.1 against one uvicorn process (portal.asgi), then

- memory per connection (the server's RSS before and after opening them),
- the server's CPU while idle (heartbeats and login re-checks included),
- commit -> arrival latency of a real switch at every connection (p50/p99),
- beside it: the CPU the same viewers would cost polling the board every 3 s
  (the measured CPU of one unchanged 304 board poll x N / 3 per second,
  through Django's test client: no HTTP server, so a lower bound).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_sse_bench \\
    LIVE_TRANSPORT_URL=redis://127.0.0.1:6379/4 \\
    .venv/bin/python bench/live_stream.py [--connections 10000] [--users 10000] [--rounds 5] [--probe]

It EMPTIES the database it is given (migrate + flush): use a scratch one.
The load generator is this process: one asyncio protocol per viewer that
only counts the bytes it is handed (no task, no parsing), an arrival stamped
when its bytes are read. It shares the machine with the server, so the
latency includes its own delay in reading 10,000 sockets; each round also
says how long the server's event loop waited for a CPU (other processes'
load). --probe instruments the server (bench/live_probe.py): event loop
lag, each fan-out, heartbeat slot, re-check slot and garbage collection.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # the driver's ORM calls run in threads

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.contrib.sessions.models import Session  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import close_old_connections, connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from profiles.models import PresenceProfile, Selection  # noqa: E402
from profiles.services import select_profile  # noqa: E402
from tests.factories import make_user, profile_named  # noqa: E402

User = get_user_model()
PORT = 8450
HX = {"HTTP_HX_REQUEST": "true"}


def setup(users: int):
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    switcher = make_user("switcher", "1000")
    system = PresenceProfile.objects.filter(kind=PresenceProfile.Kind.SYSTEM).first()
    people = User.objects.bulk_create(
        User(username=f"user{i:05d}", first_name=f"User {i:05d}", password="!") for i in range(users)
    )
    now = timezone.now()
    Selection.objects.bulk_create(Selection(user=u, profile=system, since=now) for u in people)
    store = SessionStore()
    expire = now + timezone.timedelta(days=1)
    sessions = []
    for u in people:
        data = {SESSION_KEY: str(u.pk), BACKEND_SESSION_KEY: settings.AUTHENTICATION_BACKENDS[-1]}
        data[HASH_SESSION_KEY] = u.get_session_auth_hash()
        sessions.append(
            Session(session_key=store._get_new_session_key(), session_data=store.encode(data), expire_date=expire)
        )
    Session.objects.bulk_create(sessions, batch_size=2000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return switcher, [s.session_key for s in sessions]


def run_queue_wait(pid: int) -> float:
    """Seconds the process's main thread (the server's event loop) has spent
    ready to run but waiting for a CPU (/proc/PID/schedstat): on a shared
    machine, the part of a delay that is other processes' load."""
    with open(f"/proc/{pid}/schedstat") as fh:
        return int(fh.read().split()[1]) / 1e9


def quantile(ordered: list[float], q: float) -> float:
    """The q-quantile of sorted seconds, in ms."""
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def proc_stat(pid: int) -> tuple[float, int]:
    """(CPU seconds, RSS bytes) of a process."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, rss


class Viewer(asyncio.Protocol):
    """One viewer: a raw socket whose bytes are only counted (no task, no
    line parsing), so that reading 10,000 streams costs the generator as
    little as possible beside the server. Arrival = when the bytes are read."""

    __slots__ = ("viewers", "request", "head", "opened")

    def __init__(self, viewers: Viewers, session: str, opened: asyncio.Future):
        self.viewers, self.opened, self.head = viewers, opened, b""
        self.request = f"GET /live/events/ HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: sessionid={session}\r\n\r\n".encode()

    def connection_made(self, transport):
        transport.write(self.request)

    def data_received(self, data: bytes):
        if self.head is not None:
            self.head += data
            if b": connected" not in self.head:
                if len(self.head) > 4096 or (b"\r\n\r\n" in self.head and b" 200 " not in self.head[:16]):
                    self.finish(f"refused: {self.head[:40]!r}")
                return
            self.head = None
            self.viewers.open += 1
            self.opened.set_result(True)
            return
        n = data.count(b"event: presence\n")
        if n:
            stamp = time.time()
            self.viewers.current.extend([stamp] * n)

    def finish(self, why: str):
        if not self.opened.done():
            self.viewers.failed += 1
            self.viewers.errors[why[:120]] += 1
            self.opened.set_result(False)

    def connection_lost(self, exc):
        if self.head is None:
            self.viewers.open -= 1
            self.viewers.lost += 1
        else:
            self.finish(f"closed before the stream began: {exc}")


class Viewers:
    def __init__(self):
        self.round = -1
        self.arrivals: dict[int, list[float]] = {}
        self.current: list[float] = []
        self.open = 0
        self.failed = 0
        self.lost = 0
        self.errors: Counter[str] = Counter()

    def next_round(self, r: int) -> None:
        self.round, self.current = r, self.arrivals.setdefault(r, [])

    async def viewer(self, session: str, ready: asyncio.Semaphore):
        loop = asyncio.get_running_loop()
        try:
            async with ready:
                opened = loop.create_future()
                await loop.create_connection(lambda: Viewer(self, session, opened), "127.0.0.1", PORT)
                await opened
        except Exception as exc:  # counted and shown, never silent
            self.failed += 1
            self.errors[f"{type(exc).__name__}: {exc}"[:120]] += 1


def poll_cost(rounds: int = 200) -> float:
    """CPU seconds of one unchanged (304) board poll, in this process."""
    viewer = User.objects.get(username="switcher")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(viewer)
    first = client.get("/colleagues/", **HX)
    etag = first["ETag"]
    for _ in range(20):
        assert client.get("/colleagues/", HTTP_IF_NONE_MATCH=etag, **HX).status_code == 304
    started = time.process_time()
    for _ in range(rounds):
        client.get("/colleagues/", HTTP_IF_NONE_MATCH=etag, **HX)
    return (time.process_time() - started) / rounds


async def main(args) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the server inherits it
    if args.connections + 200 > hard:
        sys.exit(f"ulimit -n allows {hard} files; {args.connections} connections need more")
    print(f"setting up {args.users} users with sessions …", flush=True)
    switcher, sessions = await asyncio.to_thread(setup, args.users)
    print("done; starting the server", flush=True)
    close_old_connections()
    env = {**os.environ, "LOG_LEVEL": os.environ.get("BENCH_SERVER_LOG_LEVEL", "WARNING"), "CONN_MAX_AGE": "60"}
    server = subprocess.Popen(
        # SIGUSR1 prints every thread's stack (faulthandler): what a stalled server waits for.
        [
            sys.executable,
            "-c",
            "import faulthandler, signal, uvicorn; faulthandler.register(signal.SIGUSR1)\n"
            + ("import portal.asgi, bench.live_probe; bench.live_probe.install()\n" if args.probe else "")
            + "uvicorn.main()",
        ]
        + ["portal.asgi:application", "--host", "127.0.0.1", "--port", str(PORT)]
        + ["--no-access-log", "--log-level", "warning", "--backlog", "4096", "--timeout-graceful-shutdown", "2"],
        cwd=ROOT,
        env=env,
    )
    try:
        for _ in range(200):
            try:
                _, w = await asyncio.open_connection("127.0.0.1", PORT)
                w.close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        viewers = Viewers()
        gate = asyncio.Semaphore(1)
        tasks = [asyncio.create_task(viewers.viewer(sessions[0], gate))]  # starts the hub
        while viewers.open < 1:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1)
        cpu0, rss0 = proc_stat(server.pid)
        gate = asyncio.Semaphore(args.concurrency)
        started = time.monotonic()
        tasks += [
            asyncio.create_task(viewers.viewer(sessions[i % len(sessions)], gate)) for i in range(1, args.connections)
        ]
        shown, progress, last = time.monotonic(), time.monotonic(), -1
        while viewers.open + viewers.failed < args.connections:
            await asyncio.sleep(0.2)
            if viewers.open + viewers.failed != last:
                last, progress = viewers.open + viewers.failed, time.monotonic()
            elif time.monotonic() - progress > 30:
                print(f"  no progress for 30 s: {args.connections - last} connections still opening", flush=True)
                break
            if time.monotonic() - shown > 10:
                shown = time.monotonic()
                print(f"  … {viewers.open} open, {viewers.failed} failed after {shown - started:.0f} s", flush=True)
        opened_in = time.monotonic() - started
        await asyncio.sleep(2)
        cpu1, rss1 = proc_stat(server.pid)
        gc.freeze()  # 10,000 viewers' objects: no collection pauses in the generator while measuring
        print(f"connections open: {viewers.open} (failed {viewers.failed}, lost {viewers.lost}) in {opened_in:.1f} s")
        for error, count in viewers.errors.most_common(5):
            print(f"  {count} × {error}")
        print(
            f"server RSS: {rss0 / 2**20:.0f} MiB with 1, {rss1 / 2**20:.0f} MiB with {viewers.open}:"
            f" {(rss1 - rss0) / max(1, viewers.open - 1) / 1024:.1f} KiB per connection"
        )

        # Idle: nothing published; heartbeats and re-checks go on.
        window = args.idle_seconds
        c0, _ = proc_stat(server.pid)
        me0 = time.process_time()
        await asyncio.sleep(window)
        c1, _ = proc_stat(server.pid)
        me1 = time.process_time()
        print(
            f"server CPU while idle: {100 * (c1 - c0) / window:.2f} % of one core over {window} s"
            f" (load generator: {100 * (me1 - me0) / window:.2f} %)"
        )

        latencies: list[float] = []
        profiles = ["In a meeting", "In the office"]
        for r in range(args.rounds):
            viewers.next_round(r)
            stamp: list[float] = []

            def switch(r=r, stamp=stamp):
                with transaction.atomic():
                    transaction.on_commit(lambda: stamp.append(time.time()))  # runs first: the commit
                    select_profile(user=switcher, profile=profile_named(switcher, profiles[r % 2]))

            server0, me0, wait0 = proc_stat(server.pid)[0], time.process_time(), run_queue_wait(server.pid)
            await asyncio.to_thread(switch)
            deadline = time.monotonic() + 30
            while len(viewers.arrivals.get(r, [])) < viewers.open and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            got = viewers.arrivals.get(r, [])
            lat = [t - stamp[0] for t in got] if stamp else []
            latencies += lat
            cpu_server, cpu_me = proc_stat(server.pid)[0] - server0, time.process_time() - me0
            waited = run_queue_wait(server.pid) - wait0
            at = partial(quantile, sorted(lat) or [0.0])
            print(
                f"  round {r + 1} (commit at {stamp[0] if stamp else 0:.3f}): {len(got)}/{viewers.open} received,"
                f" first {at(0):.0f} ms, p50 {at(0.5):.0f} ms, p99 {at(0.99):.0f} ms, last {at(1):.0f} ms;"
                f" CPU server {cpu_server:.2f} s (its event loop waited {waited:.2f} s for a CPU), generator {cpu_me:.2f} s",
                flush=True,
            )
            await asyncio.sleep(args.pause)
        latencies.sort()
        if not latencies:
            sys.exit("no event arrived")
        p = partial(quantile, latencies)
        print(
            f"commit -> arrival over {len(latencies)} deliveries: p50 {p(0.50):.0f} ms, p99 {p(0.99):.0f} ms,"
            f" max {latencies[-1] * 1000:.0f} ms"
        )
        for t in tasks:
            t.cancel()
    finally:
        server.terminate()
        server.wait(20)

    per_poll = await asyncio.to_thread(poll_cost)
    rate = args.connections / 3
    print(
        f"polling instead: one unchanged board poll (304) costs {per_poll * 1000:.2f} ms CPU;"
        f" {args.connections} viewers every 3 s = {rate:.0f} polls/s = {per_poll * rate:.1f} CPU-seconds per second"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=200, help="connections being opened at once")
    parser.add_argument("--idle-seconds", type=int, default=30)
    parser.add_argument("--pause", type=float, default=2.0)
    parser.add_argument("--port", type=int, default=PORT, help="the server's port on 127.0.0.1")
    parser.add_argument("--probe", action="store_true", help="instrument the server (bench/live_probe.py)")
    args = parser.parse_args()
    PORT = args.port
    try:
        import uvloop

        uvloop.run(main(args))
    except ImportError:
        asyncio.run(main(args))
