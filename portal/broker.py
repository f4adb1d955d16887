"""Sending a Celery task to a Redis broker at a tenth of the CPU.

``task.delay()`` costs about 1.3 ms of CPU on this project's machines, most
of it in kombu, not on the wire: a new Redis client object per message (its
response-callback table rebuilt each time), the exchange and queue
re-declared, the message built through several layers of copies. A page's
profile switch sends one converge; that was a sixth of its whole cost
(bench/switch_http.py, README "Performance").

``send`` writes the same message Celery would (protocol 2, kombu's Redis
envelope: JSON, base64 body, a fresh id and delivery tag) with one LPUSH on
a client kept per process, for about 0.16 ms. Everything else goes through
Celery itself: eager mode (the tests), another broker (the embedded
filesystem one, AMQP), transport options, task routes, a task with its own
queue, settings that change the message (protocol, serializer, compression,
priority), a send from inside a running task (Celery records the parent
there). Same task, same queue, same worker: only the cost of sending
differs. tests/integration/test_broker.py compares the message with the one
Celery writes, and has a real worker run one.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from functools import cache, lru_cache

from celery._state import get_current_worker_task
from celery.utils.nodenames import anon_nodename
from kombu.exceptions import OperationalError

from portal import redis_batch
from portal.celery import app

# The task body's third element: no callbacks, errbacks, chain or chord.
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def send(task, *args, on_error: Callable[[Exception], None]) -> None:
    """``task.delay(*args)``; args must be JSON values (ids, text, lists).
    A broker that cannot be reached is reported to ``on_error``; inside
    portal.redis_batch.one_round_trip() the message leaves at its end."""
    conf = app.conf
    url = conf.broker_url or ""
    queue = None if conf.task_always_eager else _queue(url)
    name, fields = _fields(task)
    if queue is None or fields is None or get_current_worker_task() is not None:
        try:
            task.delay(*args)
        except ERRORS as exc:
            on_error(exc)
        return
    body = message(name, fields, args, queue, reply_to=app.thread_oid)
    redis_batch.command(url, lambda client: client.lpush(queue, body), on_error)


@lru_cache(maxsize=8)
def _queue(url: str) -> str | None:
    """The queue of an unrouted task on the broker ``url``; None where
    Celery must send (see above).
    Read once per URL: the settings do not change while a process runs
    (tests that swap the broker swap its URL)."""
    conf = app.conf
    if (
        not url.startswith("redis://")
        or conf.broker_transport_options
        or conf.task_routes
        or conf.task_protocol != 2
        or conf.task_serializer != "json"
        or conf.task_compression
        or conf.task_default_priority is not None
    ):
        return None
    return conf.task_default_queue


# What Celery's path raises when the broker cannot be reached (kombu's
# error), beside redis-py's on the short one.
ERRORS = (OperationalError, *redis_batch.ERRORS)


@cache
def _fields(task) -> tuple[str, dict | None]:
    """The task's name and the headers it always sends; None for a task
    with its own queue (Celery routes it)."""
    if getattr(task, "queue", None) is not None:
        return task.name, None
    return task.name, {
        "timelimit": [task.time_limit, task.soft_time_limit],
        "ignore_result": task.ignore_result,
    }


def message(name: str, fields: dict, args: tuple, queue: str, *, reply_to: str) -> bytes:
    """The message kombu's Redis transport stores for ``task.delay(*args)``."""
    task_id = json.dumps(str(uuid.uuid4()))
    body = base64.b64encode(json.dumps([list(args), {}, _EMBED]).encode()).decode()
    parts = _envelope(name, tuple(fields["timelimit"]), fields["ignore_result"], queue, reply_to, _origin())
    # The envelope's text with the values of this message in its gaps (JSON
    # text each): one json.dumps of the whole document cost about 20 µs.
    values = (json.dumps(body), task_id, task_id, json.dumps(_repr(args)), task_id, json.dumps(str(uuid.uuid4())))
    out = [parts[0]]
    for value, part in zip(values, parts[1:], strict=True):
        out += (value, part)
    return "".join(out).encode()


# Stands for a value in the envelope's text; json.dumps writes it as
# "\u0000", which no value (JSON text of its own) contains.
_GAP = "\x00"


@lru_cache(maxsize=64)
def _envelope(name: str, timelimit: tuple, ignore_result, queue: str, reply_to: str, origin: str) -> tuple[str, ...]:
    """The envelope of a message as JSON text, split where each message has
    its own values: body, id, root id, argsrepr, correlation id, delivery tag
    (message() fills them in this order)."""
    text = json.dumps(
        {
            "body": _GAP,
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {
                "lang": "py",
                "task": name,
                "id": _GAP,
                "shadow": None,
                "eta": None,
                "expires": None,
                "group": None,
                "group_index": None,
                "retries": 0,
                "timelimit": list(timelimit),
                "root_id": _GAP,
                "parent_id": None,
                "argsrepr": _GAP,
                "kwargsrepr": "{}",
                "origin": origin,
                "ignore_result": ignore_result,
                "replaced_task_nesting": 0,
                "stamped_headers": None,
                "stamps": {},
            },
            "properties": {
                "correlation_id": _GAP,
                "reply_to": reply_to,
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": _GAP,
            },
        }
    )
    return tuple(text.split(json.dumps(_GAP)))


def _repr(args: tuple) -> str:
    """Celery's argsrepr (saferepr, at most 1024 characters) for short
    argument lists; the worker only shows it in its log."""
    text = repr(tuple(args))
    if len(text) <= 1024:
        return text
    from celery.utils.saferepr import saferepr

    return saferepr(tuple(args), 1024)


def _origin() -> str:
    return anon_nodename()  # "gen<pid>@<host>": the pid changes in a forked worker
