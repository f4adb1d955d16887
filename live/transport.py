"""How publishers wake the stream servers (LIVE_TRANSPORT_URL).

- ``redis://…`` (production): the stored events are published on a Redis
  pub/sub channel; every stream server, on any machine, subscribes.
- ``file:///path`` (the embedded default under ./run): the publisher bumps
  the file's modification time; the stream server looks at it every 50 ms
  (one stat(), no query) and reads the new rows from the event table. No
  server is needed; processes on one machine only.

Either way the event table stays the source: a stream server that missed a
wake-up (Redis restarting) catches up from it by id.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings

from portal import redis_batch

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "portal:live:"
FILE_INTERVAL = 0.05

OnEvents = Callable[[list[dict]], None]
CatchUp = Callable[[], Awaitable[None]]


class FileTransport:
    def __init__(self, path: str):
        self.path = Path(path)

    def notify(self, events: list[dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()
        now = time.time_ns()
        os.utime(self.path, ns=(now, now))

    def _mtime(self) -> int:
        try:
            return self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    async def listen(self, on_events: OnEvents, catch_up: CatchUp) -> None:
        seen = self._mtime()
        while True:
            await asyncio.sleep(FILE_INTERVAL)
            mtime = self._mtime()
            if mtime != seen:
                seen = mtime
                await catch_up()


def channel(db: dict | None = None) -> str:
    """The pub/sub channel of this portal's database. Redis pub/sub ignores
    the database number of the URL: two portals on one Redis (or a test run
    beside a bench) would otherwise receive each other's events, and event
    ids of one database would shadow the other's. Publishers and stream
    servers of one portal share the database, so they share the channel."""
    db = db or settings.DATABASES["default"]
    where = f"{db['ENGINE']}|{db.get('HOST', '')}|{db.get('PORT', '')}|{db['NAME']}"
    return CHANNEL_PREFIX + hashlib.sha256(where.encode()).hexdigest()[:16]


class RedisTransport:
    def __init__(self, url: str):
        self.url = url

    def notify(self, events: list[dict]) -> None:
        """Publish now, or with the broker's message in one round trip inside
        portal.redis_batch.one_round_trip() (a switch). Raises nothing: a
        wake-up that could not be sent is logged; the stream servers' catch-up
        delivers the stored events late."""
        payload = json.dumps(events, separators=(",", ":"))

        def lost(exc: Exception) -> None:
            log.warning(
                "could not wake the stream servers (%s); events %s delivered late", exc, [e["id"] for e in events]
            )

        redis_batch.command(self.url, lambda client: client.publish(channel(), payload), lost)

    async def listen(self, on_events: OnEvents, catch_up: CatchUp) -> None:
        import redis.asyncio as aioredis

        delay = 1.0
        while True:
            client = aioredis.Redis.from_url(self.url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(channel())
                    # Whatever was published while we were not subscribed.
                    await catch_up()
                    delay = 1.0
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            on_events(json.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("live: Redis subscription lost (%s); again in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            finally:
                await client.aclose()


@lru_cache(maxsize=4)
def _make(url: str):
    parsed = urlparse(url)
    if parsed.scheme in ("redis", "rediss"):
        return RedisTransport(url)
    if parsed.scheme == "file":
        return FileTransport(parsed.path)
    raise ValueError(f"LIVE_TRANSPORT_URL must be a redis:// or file:// URL, got {url!r}")


def transport():
    return _make(settings.LIVE_TRANSPORT_URL)
