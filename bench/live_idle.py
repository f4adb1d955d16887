"""Where a stream server's idle CPU goes: the same server and viewers as
bench/live_stream.py, started once per variant (environment overrides of
the hub's periods), each measured over several idle windows, variants
interleaved so that a busy machine's noise falls on all of them alike.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_sse_bench \\
    LIVE_TRANSPORT_URL=redis://127.0.0.1:6379/4 \\
    .venv/bin/python bench/live_idle.py --variant base --variant 'no-beat:LIVE_HEARTBEAT_SECONDS=3600' ...

A variant is NAME[:VAR=VALUE[,VAR=VALUE…]][@CONNECTIONS]. Per window it
prints the server's user and system CPU (/proc/PID/stat), its exact CPU
(/proc/PID/schedstat), voluntary context switches (wake-ups), and the load
generator's CPU. Each run takes /work/bench.lock (when it exists) for itself
only, so other benches interleave. It EMPTIES the database (--setup) like
bench/live_stream.py; without --setup it reuses the sessions there.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from bench import live_stream as ls  # noqa: E402  (sets Django up)

LOCK = Path("/work/bench.lock")


def cpu_split(pid: int) -> tuple[float, float, float, int, int]:
    """(user s, system s, exact CPU s of the main thread, voluntary context switches, minor faults)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{pid}/schedstat") as fh:
        exact = int(fh.read().split()[0]) / 1e9
    switches = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(FileNotFoundError), open(f"/proc/{pid}/task/{task}/status") as fh:
            for line in fh:
                if line.startswith("voluntary_ctxt_switches"):
                    switches += int(line.split()[1])
    return int(fields[11]) / ticks, int(fields[12]) / ticks, exact, switches, int(fields[7])


def process_cpu(pid: int) -> float:
    """Exact CPU seconds of all of a process's threads."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(FileNotFoundError), open(f"/proc/{pid}/task/{task}/schedstat") as fh:
            total += int(fh.read().split()[0])
    return total / 1e9


def parse_variant(text: str) -> tuple[str, dict[str, str], int | None]:
    connections = None
    if "@" in text:
        text, count = text.rsplit("@", 1)
        connections = int(count)
    name, _, rest = text.partition(":")
    env = dict(pair.split("=", 1) for pair in rest.split(",") if pair)
    return name, env, connections


async def run(name: str, env_extra: dict[str, str], connections: int, sessions: list[str], args) -> list[dict]:
    env = {
        **os.environ,
        "LOG_LEVEL": "WARNING",
        "CONN_MAX_AGE": "60",
        **env_extra,
    }
    code = "import faulthandler, signal, uvicorn; faulthandler.register(signal.SIGUSR1)\n"
    if args.probe:
        code += "import portal.asgi, bench.live_probe; bench.live_probe.install()\n"
    server = subprocess.Popen(
        [sys.executable, "-c", code + "uvicorn.main()"]
        + ["portal.asgi:application", "--host", "127.0.0.1", "--port", str(ls.PORT)]
        + ["--no-access-log", "--log-level", "warning", "--backlog", "4096", "--timeout-graceful-shutdown", "2"],
        cwd=ls.ROOT,
        env=env,
    )
    results = []
    transports = []
    try:
        for _ in range(200):
            try:
                _, w = await asyncio.open_connection("127.0.0.1", ls.PORT)
                w.close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        viewers = ls.Viewers()
        loop = asyncio.get_running_loop()

        async def viewer(session, gate):
            async with gate:
                opened = loop.create_future()
                t, _ = await loop.create_connection(lambda: ls.Viewer(viewers, session, opened), "127.0.0.1", ls.PORT)
                transports.append(t)
                await opened

        gate = asyncio.Semaphore(1)
        await viewer(sessions[0], gate)
        gate = asyncio.Semaphore(200)
        started = time.monotonic()
        tasks = [asyncio.create_task(viewer(sessions[i % len(sessions)], gate)) for i in range(1, connections)]
        await asyncio.gather(*tasks, return_exceptions=True)
        opened_in = time.monotonic() - started
        await asyncio.sleep(args.settle)
        load = os.getloadavg()[0]
        print(
            f"[{name}] {viewers.open} open ({viewers.failed} failed) in {opened_in:.0f} s, load {load:.1f}",
            flush=True,
        )
        me = os.getpid()
        for w in range(args.windows):
            u0, s0, x0, v0, f0 = cpu_split(server.pid)
            g0, a0 = process_cpu(me), process_cpu(server.pid)
            steal0 = steal()
            await asyncio.sleep(args.idle_seconds)
            u1, s1, x1, v1, f1 = cpu_split(server.pid)
            g1, a1 = process_cpu(me), process_cpu(server.pid)
            steal1 = steal()
            t = args.idle_seconds
            row = {
                "user": 100 * (u1 - u0) / t,
                "sys": 100 * (s1 - s0) / t,
                "exact": 100 * (a1 - a0) / t,
                "loop": 100 * (x1 - x0) / t,
                "wakes": (v1 - v0) / t,
                "faults": (f1 - f0) / t,
                "gen": 100 * (g1 - g0) / t,
                "steal": 100 * (steal1 - steal0) / t,
                "load": os.getloadavg()[0],
            }
            results.append(row)
            print(
                f"[{name}] window {w + 1}: server {row['exact']:.2f} % (loop thread {row['loop']:.2f}; user {row['user']:.1f}, sys {row['sys']:.1f}),"
                f" {row['wakes']:.1f} wake-ups/s, {row['faults']:.0f} faults/s; generator {row['gen']:.2f} %; steal {row['steal']:.1f} %;"
                f" load {row['load']:.1f}",
                flush=True,
            )
        if viewers.lost:
            print(f"[{name}] {viewers.lost} streams lost while idle", flush=True)
    finally:
        server.terminate()
        server.wait(20)
        for t in transports:
            t.abort()
    return results


def steal() -> float:
    """Seconds of steal time of all CPUs (the hypervisor ran something else)."""
    with open("/proc/stat") as fh:
        fields = fh.readline().split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


async def main(args) -> None:
    from django.contrib.sessions.models import Session
    from django.db import close_old_connections

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.setup:
        await asyncio.to_thread(ls.setup, args.users)
    sessions = await asyncio.to_thread(lambda: list(Session.objects.values_list("session_key", flat=True)))
    close_old_connections()
    variants = [parse_variant(v) for v in args.variant] or [("base", {}, None)]
    summary: dict[str, list[dict]] = {name: [] for name, _, _ in variants}
    for _ in range(args.repeat):
        for name, env, connections in variants:
            with open(LOCK, "a") if LOCK.exists() else contextlib.nullcontext() as lock:
                if lock is not None:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                summary[name] += await run(name, env, connections or args.connections, sessions, args)
    print("summary (median of windows, min-max):")
    for name, rows in summary.items():
        exact = [r["exact"] for r in rows]
        print(
            f"  {name}: server {statistics.median(exact):.2f} % ({min(exact):.2f}-{max(exact):.2f}),"
            f" user {statistics.median(r['user'] for r in rows):.1f}, sys {statistics.median(r['sys'] for r in rows):.1f},"
            f" wake-ups/s {statistics.median(r['wakes'] for r in rows):.0f}, faults/s {statistics.median(r['faults'] for r in rows):.0f},"
            f" generator {statistics.median(r['gen'] for r in rows):.2f} %, {len(rows)} windows"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", action="append", default=[])
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--setup", action="store_true", help="empty the database and make the users and sessions")
    parser.add_argument("--windows", type=int, default=2)
    parser.add_argument("--idle-seconds", type=int, default=20)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after the last stream opened")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--port", type=int, default=ls.PORT)
    parser.add_argument("--probe", action="store_true")
    args = parser.parse_args()
    ls.PORT = args.port
    import uvloop

    uvloop.run(main(args))
