"""Instruments a stream server for bench/live_stream.py --probe (imported by
the server process before uvicorn starts; nothing in production imports it).

Prints to stderr, with wall-clock times the bench can line up with its
commits:

- ``lag``: the event loop was busy for that long (a 10 ms ticker woke late);
- ``dispatch``: one fan-out, its streams and how long handing it out took;
- ``heartbeat`` / ``recheck``: each run, its streams and how long it took;
- ``gc``: a full garbage collection (or any longer than 20 ms).
"""

from __future__ import annotations

import asyncio
import sys
import time
from functools import wraps

TICK = 0.01
LAG_SHOWN = 0.05


def out(line: str) -> None:
    sys.stderr.write(f"probe {time.time():.3f} {line}\n")
    sys.stderr.flush()


async def watch_lag() -> None:
    while True:
        before = time.perf_counter()
        await asyncio.sleep(TICK)
        lag = time.perf_counter() - before - TICK
        if lag > LAG_SHOWN:
            out(f"lag {lag * 1000:.0f} ms")


_gc_started = [0.0]


def watch_gc(phase: str, info: dict) -> None:
    if phase == "start":
        _gc_started[0] = time.perf_counter()
    elif info["generation"] == 2 or time.perf_counter() - _gc_started[0] > 0.02:
        took = (time.perf_counter() - _gc_started[0]) * 1000
        import gc

        tracked = len(gc.get_objects())
        out(f"gc generation {info['generation']} in {took:.0f} ms ({info['collected']} collected, {tracked} tracked)")


def census(streams: int) -> None:
    """The garbage collector's objects by type, once, with every stream open."""
    import gc
    from collections import Counter

    counts = Counter(type(o).__name__ for o in gc.get_objects())
    top = ", ".join(f"{name} {n}" for name, n in counts.most_common(12))
    out(
        f"census with {streams} streams: {sum(counts.values())} tracked ({gc.get_freeze_count()} frozen not counted); {top}"
    )


async def census_when_open(hub) -> None:
    """Once the number of streams stops growing."""
    last = -1
    while True:
        await asyncio.sleep(5)
        now = len(hub.everyone)
        if now == last and now > 1:
            census(now)
            return
        last = now


def install() -> None:
    import gc

    from live import hub

    gc.callbacks.append(watch_gc)

    def timed_sync(name, function, size):
        @wraps(function)
        def wrapper(self, *args, **kwargs):
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return function(self, *args, **kwargs)
            finally:
                out(
                    f"{name} {size(self, *args)} in {(time.perf_counter() - started) * 1000:.1f} ms"
                    f" (CPU {(time.thread_time() - cpu) * 1000:.1f} ms)"
                )

        return wrapper

    def timed_async(name, function, size):
        @wraps(function)
        async def wrapper(self, *args, **kwargs):
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return await function(self, *args, **kwargs)
            finally:
                out(
                    f"{name} {size(self, *args)} in {(time.perf_counter() - started) * 1000:.1f} ms"
                    f" (loop thread CPU {(time.thread_time() - cpu) * 1000:.1f} ms)"
                )

        return wrapper

    def subscribers(self, subs=None, *args):
        return f"{len(self.everyone) if subs is None else len(subs)} of {len(self.everyone)} streams"

    hub.Hub.dispatch = timed_sync("dispatch", hub.Hub.dispatch, lambda self, events: f"{len(events)} events")
    for name in ("heartbeat", "recheck"):
        if hasattr(hub.Hub, name):
            setattr(hub.Hub, name, timed_async(name, getattr(hub.Hub, name), subscribers))
    start = hub.Hub.start

    @wraps(start)
    async def start_watching(self):
        asyncio.get_running_loop().create_task(watch_lag())
        asyncio.get_running_loop().create_task(census_when_open(self))
        return await start(self)

    hub.Hub.start = start_watching
    out("installed")
