"""Shared plumbing of the user pages: page-or-partial rendering, turning
service refusals (PortalError) into messages, 404 for other users' ids."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django_htmx.http import reswap, retarget

from profiles.errors import PortalError
from profiles.selectors import account_for


def page(request: HttpRequest, template: str, context: dict, partial: str, *, status: int = 200) -> HttpResponse:
    """The full page for plain navigation; the named partial when htmx asks
    (unless htmx is boosting a whole-page navigation)."""
    name = f"{template}#{partial}" if request.htmx and not request.htmx.boosted else template
    return render(request, name, context, status=status)


def refuse(request: HttpRequest, error: PortalError, *, fallback: str) -> HttpResponse:
    """A service refusal for people: for htmx, the messages partial with the
    error's 4xx status swapped into #messages; otherwise a flash message and
    a redirect back to ``fallback``."""
    if request.htmx:
        response = render(
            request,
            "profiles/_refusal.html",
            {"refusal": error.message},
            status=error.status,
        )
        return reswap(retarget(response, "#messages"), "innerHTML")
    messages.error(request, error.message)
    return redirect(fallback)


def or_404(fetch, *args):
    """Run a permission-checked selector; any DoesNotExist becomes 404, so
    other users' ids reveal nothing."""
    try:
        return fetch(*args)
    except (ObjectDoesNotExist, ValueError, TypeError):
        raise Http404("Not found") from None


def with_account(view=None, *, load=account_for):
    """Load the user's account once (one query) as ``request.account`` and
    show times in the user's time zone. ``load`` is the selector that reads
    it, where a page needs more of the account than every page does
    (``@with_account(load=selectors.session_trigger_account)``)."""
    if view is None:
        return lambda view: with_account(view, load=load)

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        request.account = load(request.user)
        tz = request.account.time_zone if request.account else None
        if tz:
            from zoneinfo import ZoneInfo

            with timezone.override(ZoneInfo(tz)):
                return view(request, *args, **kwargs)
        return view(request, *args, **kwargs)

    return wrapper


def not_modified(request: HttpRequest, etag: str) -> bool:
    """The client already shows this version (it sent the ETag back)."""
    return etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]
