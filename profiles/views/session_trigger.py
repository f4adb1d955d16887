"""The user's session trigger: a profile to switch to when their last client
disconnects or expires, and whether to return when one connects again. The
rules live in profiles.automation.sessions (the same functions as the API's
/me/session-trigger); this page shows what applies and the connected clients."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from profiles import selectors
from profiles.automation import sessions
from profiles.errors import NotAllowed, PortalError
from profiles.forms import SessionTriggerForm
from profiles.views.common import page, refuse, with_account

TEMPLATE = "profiles/session_trigger.html"


def _form(account, profiles, data=None) -> SessionTriggerForm:
    initial = {}
    if account is not None and account.session_end_profile_id is not None:
        initial = {"profile": account.session_end_profile_id, "return_on_connect": account.session_return_on_connect}
    return SessionTriggerForm(data, initial=initial, profiles=profiles)


def _context(request: HttpRequest, account, profiles, form=None) -> dict:
    client = account.client_profile if account is not None else None
    effective, returns = sessions.effective(account) if account is not None else (None, False)
    return {
        "account": account,
        "form": form or _form(account, profiles),
        "effective_profile": effective,
        "effective_return": returns,
        "own_trigger": account is not None and account.session_end_profile_id is not None,
        "default_profile": client.session_end_profile if client is not None else None,
        "default_return": client.session_return_on_connect if client is not None else False,
        "client_profile": client,
        "sessions": selectors.client_sessions(request.user),
    }


def _saved(request: HttpRequest) -> HttpResponse:
    """After a change: the fresh panel for htmx, otherwise back to the page."""
    if not request.htmx:
        return redirect("profiles:session_trigger")
    account = selectors.session_trigger_account(request.user)
    profiles = selectors.available_profiles(request.user)
    response = render(request, f"{TEMPLATE}#session-panel", _context(request, account, profiles))
    return reswap(retarget(response, "#session-panel"), "outerHTML")


@login_required
@with_account(load=selectors.session_trigger_account)
@require_http_methods(["GET", "POST"])
def session_trigger(request: HttpRequest) -> HttpResponse:
    account = request.account
    profiles = selectors.available_profiles(request.user)
    form = _form(account, profiles, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            sessions.set_session_trigger(
                user=request.user,
                profile=form.chosen_profile(),
                return_on_connect=form.cleaned_data["return_on_connect"],
            )
        except NotAllowed as exc:
            form.add_error("profile", exc.message)
        except PortalError as exc:
            return refuse(request, exc, fallback=reverse("profiles:session_trigger"))
        else:
            messages.success(request, _("Session trigger saved."))
            return _saved(request)
    context = _context(request, account, profiles, form)
    return page(request, TEMPLATE, context, "session-panel", status=422 if form.errors else 200)


@login_required
@with_account
@require_POST
def session_trigger_clear(request: HttpRequest) -> HttpResponse:
    try:
        sessions.set_session_trigger(user=request.user, profile=None)
    except PortalError as exc:
        return refuse(request, exc, fallback=reverse("profiles:session_trigger"))
    messages.success(request, _("Session trigger cleared."))
    return _saved(request)
