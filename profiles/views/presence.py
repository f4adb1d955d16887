"""My presence: the current profile, one-click switching with prompts, the
live apply status with mismatches and re-apply, and a switch preview."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseNotModified, reswap, retarget

from devices.drivers import DriverError
from profiles import selectors, services
from profiles.actions import PROMPT_DND_MESSAGE, PROMPT_FORWARD
from profiles.errors import NotAllowed, PortalError, PromptRequired
from profiles.forms import PromptForm
from profiles.views.common import not_modified, or_404, page, refuse, with_account

PROMPT_KINDS = (PROMPT_FORWARD, PROMPT_DND_MESSAGE)


def _presence_context(request: HttpRequest) -> dict:
    user = request.user
    return {
        "account": request.account,
        "selection": selectors.current_selection(user),
        "profiles": selectors.available_profiles(user),
        "status": selectors.apply_status(user),
    }


@login_required
@with_account
@require_GET
def presence(request: HttpRequest) -> HttpResponse:
    return page(request, "profiles/presence.html", _presence_context(request), "presence")


@login_required
@require_GET
def status(request: HttpRequest) -> HttpResponse:
    """The apply status partial, polled: 304 while nothing changed, so the
    page keeps focus and the screen reader hears only real changes."""
    current = selectors.apply_status(request.user)
    if not_modified(request, current.etag):
        return HttpResponseNotModified()
    response = render(request, "profiles/presence.html#status", {"status": current})
    response["ETag"] = current.etag
    response["Cache-Control"] = "no-cache"
    return response


@login_required
@require_POST
def select(request: HttpRequest, profile_id: int) -> HttpResponse:
    """Select a profile. A profile that asks for values answers with the
    prompt dialog (htmx) or the prompt page (plain POST). The answer is
    rendered from what the switch loaded: no further queries."""
    prompted = bool(request.POST.get("prompted"))
    values = {k: request.POST.get(k, "") for k in PROMPT_KINDS} if prompted else None
    try:
        result = services.select_profile(
            user=request.user, profile=profile_id, prompt_values=values, actor=request.user
        )
    except NotAllowed:
        raise Http404("Not found") from None  # other users' ids reveal nothing
    except PromptRequired as exc:
        request.account = selectors.account_for(request.user)
        profile = or_404(selectors.get_available_profile, request.user, profile_id)
        return _prompt(request, profile, exc, prompted)
    except PortalError as exc:
        return refuse(request, exc, fallback="profiles:presence")
    if not request.htmx:
        return redirect("profiles:presence")
    # Only what changed: the current card with its status, and the tiles
    # whose "current" mark moved (the one left and the one selected).
    mismatches = selectors.apply_status(request.user).mismatches if result.mismatches else []
    left, new = (result.left.pk if result.left else None), result.selection.profile_id
    context = {
        "selection": result.selection,
        "moved": [p for p in result.profiles if p.pk in {left, new}] if left != new else [],
        "status": selectors.ApplyStatus(target=result.target, mismatches=mismatches),
    }
    with timezone.override(ZoneInfo(result.time_zone or "UTC")):
        return render(request, "profiles/presence.html#switched", context)


def _prompt(request: HttpRequest, profile, exc: PromptRequired, prompted: bool) -> HttpResponse:
    recent = {kind: selectors.recent_values(request.user, kind) for kind in exc.needed}
    form = PromptForm(exc.needed, recent, data=request.POST if prompted else None)
    if prompted:
        form.is_valid()  # per-field errors for what the service refused
    context = {"profile": profile, "form": form, "account": request.account}
    status = 422 if prompted else 200
    if request.htmx:
        response = render(request, "profiles/select_prompt.html#prompt-dialog", context, status=status)
        return reswap(retarget(response, "#dialog-slot"), "innerHTML")
    return render(request, "profiles/select_prompt.html", context, status=status)


@login_required
@require_POST
def reapply(request: HttpRequest) -> HttpResponse:
    """Apply the selected profile again (the user's answer to a mismatch)."""
    try:
        services.reapply(user=request.user, event="reapply", source="user", actor=request.user)
    except PortalError as exc:
        return refuse(request, exc, fallback="profiles:presence")
    if not request.htmx:
        return redirect("profiles:presence")
    current = selectors.apply_status(request.user)
    response = render(request, "profiles/presence.html#status", {"status": current, "reapplied": True})
    response["ETag"] = current.etag
    return response


@login_required
@with_account
@require_GET
def preview(request: HttpRequest, profile_id: int) -> HttpResponse:
    """What a switch to this profile would change on the devices now."""
    profile = or_404(selectors.get_available_profile, request.user, profile_id)
    commands, error = [], ""
    try:
        commands = services.preview_changes(user=request.user, profile=profile)
    except DriverError as exc:
        error = f"The phone system could not be read: {exc}"
    except PortalError as exc:
        error = exc.message
    names = selectors.team_names()
    changes = [selectors.command_text(c, names) for c in commands]
    context = {"profile": profile, "changes": changes, "preview_error": error, "account": request.account}
    return page(request, "profiles/preview.html", context, "preview")
