"""One stream, whichever way it is served (live/asgi.py in production,
live/views.py through Django): who may open it, where it resumes, and the
bytes it sends."""

from __future__ import annotations

from django.conf import settings

from live import store
from live.auth import Principal
from live.hub import CLOSE, db, encode, get_hub
from live.publish import REFRESH

RETRY_MS = 2000
CONNECTED = f"retry: {RETRY_MS}\n: connected\n\n".encode()
HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: pass each event on at once
    "X-Content-Type-Options": "nosniff",
}


class BadLastEventId(ValueError):
    pass


def last_event_id(raw: str) -> int | None:
    """``Last-Event-ID`` (or ``?last_event_id=``): empty, or our numeric id."""
    raw = raw.strip()
    if not raw:
        return None
    if not (raw.isdigit() and len(raw) <= 18):
        raise BadLastEventId("Last-Event-ID must be a number.")
    return int(raw)


def cors_headers(origin: str) -> dict[str, str]:
    """Under ./run the pages are on another port than the stream; only the
    configured origins may read it with the user's cookie."""
    if origin and origin in settings.LIVE_ALLOWED_ORIGINS:
        return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}
    return {}


async def replay(hub, principal: Principal, last_id: int | None) -> tuple[list[bytes], int]:
    """What a stream resuming after ``last_id`` missed (or "refresh"), and
    the id up to which that covers: the hub's items up to it are skipped."""
    if last_id is None:
        return [], 0
    missed = await db(store.replay, user_id=principal.user_id, after_id=last_id)
    if missed is None:
        return [encode({"id": hub.last_id, "kind": REFRESH, "data": {}})], hub.last_id
    return [encode(event) for event in missed], (missed[-1]["id"] if missed else last_id)


async def events(principal: Principal, last_id: int | None):
    """The stream's bytes as a generator (the Django view): the missed
    events (or "refresh"), then each event the hub hands this subscriber,
    until the hub closes it. live/asgi.py does the same with direct writes."""
    hub = await get_hub()
    sub = hub.subscribe(principal)  # before the replay: nothing falls between the two
    try:
        yield CONNECTED
        chunks, replayed = await replay(hub, principal, last_id)
        for chunk in chunks:
            yield chunk
        while True:
            event_id, item = await sub.queue.get()
            if item is CLOSE:
                return
            if event_id and event_id <= replayed:
                continue  # already sent by the replay
            yield item
    finally:
        hub.unsubscribe(sub)
