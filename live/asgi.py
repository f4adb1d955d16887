"""The event stream as a bare ASGI app, mounted before Django in
portal/asgi.py. Django's ASGI handler keeps a thread (and with it a
database connection) for every request until its response ends, which for
a stream is never: 10,000 viewers would need 10,000 of each. Here a stream
costs a few objects on the event loop; the database is reached from a
small shared thread pool (at connect, and by the hub)."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

from django.conf import settings
from django.http.cookie import parse_cookie

from live import stream
from live.auth import authenticate
from live.hub import db, get_hub

PATH = "/live/events/"


async def app(scope, receive, send) -> None:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    cors = stream.cors_headers(headers.get("origin", ""))
    if scope["method"] != "GET":
        return await _answer(send, 405, "Only GET.", {"Allow": "GET", **cors})
    cookies = parse_cookie(headers.get("cookie", ""))
    client = scope.get("client")
    principal = await db(
        authenticate,
        session_key=cookies.get(settings.SESSION_COOKIE_NAME),
        authorization=headers.get("authorization", ""),
        ip=client[0] if client else None,
    )
    if principal is None:
        return await _answer(send, 403, "Sign in to receive live events.", cors)
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    try:
        last_id = stream.last_event_id(headers.get("last-event-id", query.get("last_event_id", [""])[0]))
    except stream.BadLastEventId as exc:
        return await _answer(send, 400, str(exc), cors)

    await send({"type": "http.response.start", "status": 200, "headers": _raw({**stream.HEADERS, **cors})})
    hub = await get_hub()
    sub = hub.subscribe(principal)  # before the replay: nothing falls between the two
    watching = asyncio.ensure_future(_disconnected(receive))
    try:
        await _body(send, stream.CONNECTED)
        chunks, replayed = await stream.replay(hub, principal, last_id)
        for chunk in chunks:
            await _body(send, chunk)
        # From here the hub writes each event itself, inside its fan-out.
        ended = sub.write_directly(send, replayed)
        # A callback, not asyncio.wait: fewer objects per stream for the
        # garbage collector to walk (two coroutines, a future, a set).
        watching.add_done_callback(lambda _: ended.done() or ended.set_result(None))
        await ended
    finally:
        hub.unsubscribe(sub)
        sub.stop()
        watching.cancel()
    if watching.done() and not watching.cancelled():
        return  # the client went away
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnected(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _body(send, chunk: bytes) -> None:
    await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _answer(send, status: int, text: str, headers: dict[str, str]) -> None:
    body = text.encode()
    headers = {"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(body)), **headers}
    await send({"type": "http.response.start", "status": status, "headers": _raw(headers)})
    await send({"type": "http.response.body", "body": body})


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
