"""The stream server's fan-out: one Hub per process holds every open
stream and hands each event to the streams that may see it.

Events arrive from the transport (live/transport.py) as stored rows; each
is encoded once and written to every subscriber entitled to it (public
events to everyone, private ones only to their owner's streams) inside the
fan-out itself: the ASGI server's send is run by hand, so no task wakes up
per stream and event (10,000 streams: about half the CPU per event, and
nothing left behind for the garbage collector, whose full collections had
stalled fan-outs for seconds: README, "Live updates").

Timers are the hub's, not the connections': a heartbeat, a session
re-check and a prune for all streams, so an idle stream costs no CPU. By
default the heartbeat and the re-check each wake once a period and serve
all streams (the heartbeat yielding to the event loop every CHUNK streams,
the re-check two queries in a worker thread); LIVE_TICK_SECONDS below the
period divides the streams into random slots, one served per tick. Slices
every second cost more CPU while idle than one round (README, "Live
updates")."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import random
from collections import deque

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from live import store
from live.auth import Principal, still_allowed
from live.transport import transport

log = logging.getLogger(__name__)

PING = b": ping\n\n"
CLOSE = object()
QUEUE_SIZE = 256  # a client this far behind is cut off (it reconnects and replays)

PRUNE_EVERY = 60.0
CHUNK = 500  # streams served between two yields to the event loop


def _slots(period: float) -> int:
    """Into how many slots a timer of ``period`` seconds divides the
    streams: one served every LIVE_TICK_SECONDS (or once a period)."""
    return max(1, round(period / settings.LIVE_TICK_SECONDS))


async def db(function, *args, **kwargs):
    """Run a database function in a worker thread. A stream server sees no
    request signals, so stale or broken connections are dropped here; the
    threads are a small shared pool, so are the connections."""

    def call():
        close_old_connections()
        return function(*args, **kwargs)

    return await sync_to_async(call, thread_sensitive=False)()


def encode(event: dict) -> bytes:
    data = json.dumps(event["data"], separators=(",", ":"))
    return f"id: {event['id']}\nevent: {event['kind']}\ndata: {data}\n\n".encode()


class _Resumed:
    """Awaits the rest of a coroutine that was started by hand (``send(None)``)
    and is now waiting on ``waiting``; lets a task finish it."""

    __slots__ = ("coro", "waiting")

    def __init__(self, coro, waiting):
        self.coro, self.waiting = coro, waiting

    def __await__(self):
        coro, value = self.coro, self.waiting
        while True:
            try:
                sent = yield value
            except BaseException as exc:  # the task's cancellation goes to the coroutine
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


class Subscriber:
    """One open stream. Until ``write_directly`` (the ASGI app, after its
    replay) items wait in a queue its reader takes them from (live/stream.py's
    generator, the Django view). After it, each item is written at once
    with the server's ASGI ``send``, run by hand inside the fan-out: no task
    wakes up per stream and event. Only when the server holds a write back
    (a client reading slowly) does a task finish it, and what follows waits
    in a backlog of at most QUEUE_SIZE."""

    __slots__ = ("principal", "queue", "closed", "beat", "check", "ended", "_send", "_after", "_backlog", "_writing")

    def __init__(self, principal: Principal):
        self.principal = principal
        self.queue: asyncio.Queue | None = asyncio.Queue(QUEUE_SIZE)
        self.closed = False
        self.beat = self.check = 0  # the hub's timer slots (Hub.subscribe)
        self.ended: asyncio.Future | None = None
        self._send = None
        self._after = 0
        self._backlog: deque[bytes] | None = None
        self._writing: asyncio.Task | None = None

    def put(self, item) -> None:
        if self.closed:
            return
        if self._send is None:
            try:
                self.queue.put_nowait(item)
            except asyncio.QueueFull:
                self.close()
            return
        event_id, chunk = item
        if event_id and event_id <= self._after:
            return  # already sent by the replay
        if self._backlog is not None:
            if len(self._backlog) >= QUEUE_SIZE:
                self.close()
            else:
                self._backlog.append(chunk)
            return
        coro = self._send({"type": "http.response.body", "body": chunk, "more_body": True})
        try:
            waiting = coro.send(None)
        except StopIteration:
            return  # written (the usual case)
        except Exception:
            self.close()  # the connection broke
            return
        self._backlog = deque()
        self._writing = asyncio.get_running_loop().create_task(self._finish(_Resumed(coro, waiting)))

    async def _finish(self, first) -> None:
        try:
            await first
            while self._backlog:
                chunk = self._backlog.popleft()
                await self._send({"type": "http.response.body", "body": chunk, "more_body": True})
        except Exception:
            self.close()
        self._backlog = None

    def write_directly(self, send, after: int) -> asyncio.Future:
        """From now on write items with ``send`` as they come, skipping event
        ids up to ``after`` (sent by the replay); first what has queued up.
        Returns a future that is done when the hub ends this stream."""
        self.ended = asyncio.get_running_loop().create_future()
        queued, self.queue = self.queue, None
        self._send, self._after = send, after
        while not queued.empty():
            event_id, item = queued.get_nowait()
            if item is CLOSE:
                self.ended.set_result(None)
                break
            self.put((event_id, item))
        return self.ended

    def stop(self) -> None:
        """The stream is over (the client went, or the hub ended it)."""
        self.closed = True
        if self._writing is not None:
            self._writing.cancel()

    def close(self) -> None:
        """End this stream (what is queued is dropped)."""
        if self.closed:
            return
        self.closed = True
        if self.queue is None:
            if self.ended is not None and not self.ended.done():
                self.ended.set_result(None)
            return
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait((0, CLOSE))


class Hub:
    def __init__(self):
        self.everyone: set[Subscriber] = set()
        self.by_user: dict[int, set[Subscriber]] = {}
        self.last_id = 0
        self._seen: deque[int] = deque(maxlen=4096)
        self._seen_set: set[int] = set()
        self._ready = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        # Each stream gets a random slot of each timer (one slot by default);
        # the timer serves one slot per LIVE_TICK_SECONDS, so every stream
        # is served once per period.
        self._beats: list[set[Subscriber]] = [set() for _ in range(_slots(settings.LIVE_HEARTBEAT_SECONDS))]
        self._checks: list[set[Subscriber]] = [set() for _ in range(_slots(settings.LIVE_RECHECK_SECONDS))]

    # --- subscribers -------------------------------------------------------------------

    def subscribe(self, principal: Principal) -> Subscriber:
        sub = Subscriber(principal)
        self.everyone.add(sub)
        self.by_user.setdefault(principal.user_id, set()).add(sub)
        sub.beat = random.randrange(len(self._beats))
        sub.check = random.randrange(len(self._checks))
        self._beats[sub.beat].add(sub)
        self._checks[sub.check].add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.everyone.discard(sub)
        self._beats[sub.beat].discard(sub)
        self._checks[sub.check].discard(sub)
        mine = self.by_user.get(sub.principal.user_id)
        if mine is not None:
            mine.discard(sub)
            if not mine:
                del self.by_user[sub.principal.user_id]

    # --- events ------------------------------------------------------------------------

    def dispatch(self, events: list[dict]) -> None:
        # A full garbage collection walks every stream's objects (a second
        # and more at 10,000 on a busy machine); none starts inside a fan-out.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._dispatch(events)
        finally:
            if collecting:
                gc.enable()

    def _dispatch(self, events: list[dict]) -> None:
        for event in sorted(events, key=lambda e: e["id"]):
            event_id = event["id"]
            if event_id in self._seen_set:
                continue  # delivered by both the wake-up and a catch-up
            if len(self._seen) == self._seen.maxlen:
                self._seen_set.discard(self._seen[0])
            self._seen.append(event_id)
            self._seen_set.add(event_id)
            self.last_id = max(self.last_id, event_id)
            owner = event["owner_id"]
            targets = self.everyone if owner is None else self.by_user.get(owner, ())
            if not targets:
                continue
            item = (event_id, encode(event))
            for sub in tuple(targets):
                sub.put(item)

    async def catch_up(self) -> None:
        # A little behind the newest id seen: on PostgreSQL a row with a
        # lower id can commit after a higher one; _seen drops repeats.
        rows = await db(store.after, max(0, self.last_id - 100))
        self.dispatch(rows)

    # --- running -----------------------------------------------------------------------

    async def start(self) -> None:
        self.last_id = await db(store.last_id)
        self._seen_set.update(range(max(0, self.last_id - 100), self.last_id + 1))
        self._seen.extend(sorted(self._seen_set))
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(transport().listen(self.dispatch, self.catch_up)),
            loop.create_task(self._rotate(self._beats, settings.LIVE_HEARTBEAT_SECONDS, self.heartbeat)),
            loop.create_task(self._rotate(self._checks, settings.LIVE_RECHECK_SECONDS, self.recheck)),
            loop.create_task(self._every(settings.LIVE_CATCH_UP_SECONDS, self.catch_up)),
            loop.create_task(self._every(PRUNE_EVERY, self.prune)),
        ]
        self._ready.set()

    async def ready(self) -> None:
        await self._ready.wait()

    async def _every(self, seconds: float, job) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:
                log.exception("live: %s failed", job.__name__)

    async def _rotate(self, slots: list[set[Subscriber]], period: float, job) -> None:
        """``job`` on one slot of streams at a time, each slot once a
        ``period``, round and round."""
        turn = 0
        while True:
            await asyncio.sleep(period / len(slots))
            turn = (turn + 1) % len(slots)
            try:
                await job(slots[turn])
            except Exception:
                log.exception("live: %s failed", job.__name__)

    async def heartbeat(self, subs: set[Subscriber] | None = None) -> None:
        """A comment line to the streams (all, or the slot given) keeps proxies
        from closing them and lets the server notice clients that went away."""
        for n, sub in enumerate(tuple(self.everyone if subs is None else subs), 1):
            sub.put((0, PING))
            if n % CHUNK == 0:
                await asyncio.sleep(0)

    async def recheck(self, subs: set[Subscriber] | None = None) -> None:
        """Cut off the streams (all, or the slot given) whose login no longer
        holds (logged out, session expired, user deactivated)."""
        subs = tuple(self.everyone if subs is None else subs)
        principals = {sub.principal for sub in subs}
        if not principals:
            return
        refused = principals - await db(still_allowed, principals)
        # Only those checked: streams opened during the query were checked at connect.
        for sub in subs:
            if sub.principal in refused:
                sub.close()

    async def prune(self) -> None:
        await db(store.prune, keep_seconds=settings.LIVE_REPLAY_SECONDS)


_hub: Hub | None = None
_hub_loop = None


async def get_hub() -> Hub:
    """This process's hub, started on the first stream."""
    global _hub, _hub_loop
    loop = asyncio.get_running_loop()
    if _hub is None or _hub_loop is not loop:
        _hub, _hub_loop = Hub(), loop
        loop.create_task(_hub.start())
    await _hub.ready()
    return _hub
