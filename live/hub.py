"""The stream server's fan-out: one Hub per process holds every open
stream and hands each event to the streams that may see it.

Events arrive from the transport (live/transport.py) as stored rows; each
is encoded once and put in the queue of every subscriber entitled to it:
public events to everyone, private ones only to their owner's streams.
Timers are the hub's, not the connections': one heartbeat, one session
re-check and one prune for all streams, so an idle stream costs no CPU."""

from __future__ import annotations

import asyncio
import json
import logging
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


class Subscriber:
    __slots__ = ("principal", "queue", "closed")

    def __init__(self, principal: Principal):
        self.principal = principal
        self.queue: asyncio.Queue = asyncio.Queue(QUEUE_SIZE)
        self.closed = False

    def put(self, item) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.close()

    def close(self) -> None:
        """End this stream (after what is queued is dropped)."""
        if self.closed:
            return
        self.closed = True
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

    # --- subscribers -------------------------------------------------------------------

    def subscribe(self, principal: Principal) -> Subscriber:
        sub = Subscriber(principal)
        self.everyone.add(sub)
        self.by_user.setdefault(principal.user_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.everyone.discard(sub)
        mine = self.by_user.get(sub.principal.user_id)
        if mine is not None:
            mine.discard(sub)
            if not mine:
                del self.by_user[sub.principal.user_id]

    # --- events ------------------------------------------------------------------------

    def dispatch(self, events: list[dict]) -> None:
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
            loop.create_task(self._every(settings.LIVE_HEARTBEAT_SECONDS, self.heartbeat)),
            loop.create_task(self._every(settings.LIVE_RECHECK_SECONDS, self.recheck)),
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

    async def heartbeat(self) -> None:
        """A comment line to every stream keeps proxies from closing it and
        lets the server notice clients that went away."""
        for sub in tuple(self.everyone):
            sub.put((0, PING))

    async def recheck(self) -> None:
        """Cut off streams whose login no longer holds (logged out, session
        expired, user deactivated)."""
        principals = {sub.principal for sub in self.everyone}
        if not principals:
            return
        refused = principals - await db(still_allowed, principals)
        # Only those checked: streams opened during the query were checked at connect.
        for sub in tuple(self.everyone):
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
