"""The event stream through Django: the URL the pages and the authorization
matrix know. Production and ./run serve the same path from live/asgi.py
before Django (portal/asgi.py), which holds 10,000 streams far more cheaply;
both use live/stream.py, so they answer alike."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden, StreamingHttpResponse
from django.views.decorators.http import require_GET

from live import stream
from live.auth import authenticate


@require_GET
async def events(request: HttpRequest) -> HttpResponse:
    """``GET /live/events/``: the signed-in user's stream. ``Last-Event-ID``
    (or ``?last_event_id=``) replays what was missed; too old: a "refresh"
    event. 403 without a login, 400 for an id that is no number."""
    cors = stream.cors_headers(request.headers.get("Origin", ""))
    principal = await sync_to_async(authenticate)(
        session_key=request.COOKIES.get(settings.SESSION_COOKIE_NAME),
        authorization=request.headers.get("Authorization", ""),
        ip=request.META.get("REMOTE_ADDR") or None,
    )
    if principal is None:
        return HttpResponseForbidden("Sign in to receive live events.", content_type="text/plain", headers=cors)
    try:
        last_id = stream.last_event_id(request.headers.get("Last-Event-ID", request.GET.get("last_event_id", "")))
    except stream.BadLastEventId as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain", headers=cors)
    return StreamingHttpResponse(stream.events(principal, last_id), headers={**stream.HEADERS, **cors})
