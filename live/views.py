"""The event stream (Server-Sent Events), served by the ASGI server
(portal.asgi under uvicorn). See README, "Live updates"."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden, StreamingHttpResponse
from django.views.decorators.http import require_GET

from live import store
from live.auth import Principal, authenticate
from live.hub import CLOSE, encode, get_hub
from live.publish import REFRESH

RETRY_MS = 2000


@require_GET
async def events(request: HttpRequest) -> HttpResponse:
    """``GET /live/events/``: the signed-in user's stream. ``Last-Event-ID``
    (or ``?last_event_id=``) replays what was missed; too old: a "refresh"
    event. 403 without a login, 400 for an id that is no number."""
    principal = await authenticate(request)
    if principal is None:
        return _cors(request, HttpResponseForbidden("Sign in to receive live events.", content_type="text/plain"))
    raw = request.headers.get("Last-Event-ID", request.GET.get("last_event_id", "")).strip()
    if raw and not (raw.isdigit() and len(raw) <= 18):
        return _cors(request, HttpResponseBadRequest("Last-Event-ID must be a number.", content_type="text/plain"))
    response = StreamingHttpResponse(_stream(principal, int(raw) if raw else None), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return _cors(request, response)


def _cors(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """The pages under ./run are on another port than the stream; only the
    configured origins may read it with the user's cookie."""
    origin = request.headers.get("Origin", "")
    if origin and origin in settings.LIVE_ALLOWED_ORIGINS:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Credentials"] = "true"
        response["Vary"] = "Origin"
    return response


async def _stream(principal: Principal, last_id: int | None):
    hub = await get_hub()
    sub = hub.subscribe(principal)  # before the replay: nothing falls between the two
    try:
        yield f"retry: {RETRY_MS}\n: connected\n\n".encode()
        replayed = 0
        if last_id is not None:
            missed = await sync_to_async(store.replay)(user_id=principal.user_id, after_id=last_id)
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
