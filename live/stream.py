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


async def events(principal: Principal, last_id: int | None):
    """The stream's bytes: the missed events (or "refresh"), then each event
    the hub hands this subscriber, until the hub closes it."""
    hub = await get_hub()
    sub = hub.subscribe(principal)  # before the replay: nothing falls between the two
    try:
        yield CONNECTED
        replayed = 0
        if last_id is not None:
            missed = await db(store.replay, user_id=principal.user_id, after_id=last_id)
            if missed is None:
                yield encode({"id": hub.last_id, "kind": REFRESH, "data": {}})
                replayed = hub.last_id
            else:
                for event in missed:
                    yield encode(event)
                replayed = missed[-1]["id"] if missed else last_id
        while True:
            event_id, item = await sub.queue.get()
            if item is CLOSE:
                return
            if event_id and event_id <= replayed:
                continue  # already sent by the replay
            yield item
    finally:
        hub.unsubscribe(sub)
