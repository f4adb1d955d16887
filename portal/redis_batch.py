"""Redis commands of one piece of work in one round trip.

A page's switch sends two Redis commands after its commit: the converge task
(portal.broker.send, an LPUSH) and the wake-up of the stream servers
(live.transport, a PUBLISH). Each round trip costs the web process about
0.1 ms of CPU, most of it in the kernel. Inside ``one_round_trip()`` the
commands wait and leave together at the end, one pipeline per Redis URL
(by default the live transport uses the broker's URL, so both go in one).

``command()`` outside the block sends at once, as does a command queued by
a transaction's on_commit that runs after the block. Either way a server
that cannot be reached is reported to the command's ``on_error``, never
raised: what was sent is recoverable (the pending-apply sweep, the stream
servers' catch-up).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import contextmanager
from functools import cache

import redis

# What a command raises when the server cannot be reached (redis-py's
# errors are not OSErrors).
ERRORS = (OSError, redis.RedisError)
TIMEOUT = 2.0  # seconds, to connect and to answer: a hung Redis never holds a page

_local = threading.local()


@cache
def client(url: str) -> redis.Redis:
    """One client (and connection pool) per URL and process; redis-py's pool
    notices a fork and reconnects in the child."""
    return redis.Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)


def command(url: str, run: Callable[[redis.Redis], object], on_error: Callable[[Exception], None]) -> None:
    """``run(client)`` on the Redis at ``url``: now, or at the end of the
    enclosing ``one_round_trip()``."""
    pipes = getattr(_local, "pipes", None)
    if pipes is None:
        try:
            run(client(url))
        except ERRORS as exc:
            on_error(exc)
        return
    if url not in pipes:
        pipes[url] = (client(url).pipeline(transaction=False), [])
    pipe, handlers = pipes[url]
    run(pipe)
    handlers.append(on_error)


@contextmanager
def one_round_trip():
    """The commands queued inside leave together at the end (nested blocks
    join the outermost)."""
    if getattr(_local, "pipes", None) is not None:
        yield
        return
    _local.pipes = {}
    try:
        yield
    finally:
        pipes, _local.pipes = _local.pipes, None
        for pipe, handlers in pipes.values():
            try:
                pipe.execute()
            except ERRORS as exc:
                for on_error in handlers:
                    on_error(exc)
