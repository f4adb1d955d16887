"""My presence: the current profile, one-click switching with prompts, the
live apply status with mismatches and re-apply, and a switch preview."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseNotModified, reswap, retarget

from devices.drivers import DriverError
from profiles import selectors, services
from profiles.actions import PROMPT_DND_MESSAGE, PROMPT_FORWARD
from profiles.automation import triggers as trigger_services
from profiles.automation.until import Until, resolve_until
from profiles.automation.why import why_selected
from profiles.defaults import display_profile_name
from profiles.errors import NotAllowed, PortalError, PresenceDisabled, PromptRequired
from profiles.forms import PromptForm, TimeZoneForm, UntilForm, apply_errors
from profiles.views.common import not_modified, or_404, page, refuse, with_account

PROMPT_KINDS = (PROMPT_FORWARD, PROMPT_DND_MESSAGE)


def _presence_context(request: HttpRequest) -> dict:
    user = request.user
    selection = selectors.current_selection(user)
    return {
        "account": request.account,
        "selection": selection,
        "profiles": selectors.available_profiles(user),
        "status": selectors.apply_status(user),
        "until_form": UntilForm(),
        "why": why_selected(selection),
        "time_zone": request.account.time_zone if request.account else "UTC",
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
        until = _until(request, UntilForm(request.POST)) if _chose_until(request) else None
        result = services.select_profile(
            user=request.user, profile=profile_id, prompt_values=values, actor=request.user, until=until
        )
    except NotAllowed:
        raise Http404("Not found") from None  # other users' ids reveal nothing
    except PresenceDisabled as exc:
        # Without presence profiles no profile is theirs: another user's id
        # answers 404 as above, one of their own says why it is refused.
        or_404(selectors.get_available_profile, request.user, profile_id)
        return refuse(request, exc, fallback="profiles:presence")
    except PromptRequired as exc:
        request.account = selectors.account_for(request.user)
        profile = or_404(selectors.get_available_profile, request.user, profile_id)
        return _prompt(request, profile, exc, prompted)
    except PortalError as exc:
        return refuse(request, exc, fallback="profiles:presence")
    # Shown and announced in #messages, the live region that stays in place.
    name = display_profile_name(result.selection.profile.name)
    messages.success(request, _("Switched to %(profile)s.") % {"profile": name})
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
        "time_zone": result.time_zone or "UTC",
    }
    with timezone.override(ZoneInfo(result.time_zone or "UTC")):
        # The switch's previous profile is the one it left: no query.
        context["why"] = why_selected(result.selection, previous=result.left)
        return render(request, "profiles/presence.html#switched", context)


def _chose_until(request: HttpRequest) -> bool:
    """Whether the switch names an end. A tile's click sends the form's
    empty choice, which the form would read as "no end" too: the form is
    built only for a choice (a sixth of a millisecond per switch)."""
    return bool(request.POST.get("until") or request.POST.get("until_at"))


def _until(request: HttpRequest, form: UntilForm):
    """The clear-after instant the user chose (None: no end); a PortalError
    (422) naming the problem otherwise. The user's zone is read only for
    the choices that need it."""
    if not form.is_valid():
        raise UntilRefused(" ".join(str(e) for errors in form.errors.values() for e in errors))
    choice = form.cleaned_data["until"]
    zone = ZoneInfo("UTC")
    if choice in (Until.WORKDAY_END, Until.AT):
        account = selectors.account_for(request.user)
        zone = ZoneInfo(account.time_zone if account else "UTC")
    try:
        return resolve_until(choice, at=form.cleaned_data["until_at"], zone=zone, now=timezone.now())
    except ValidationError as exc:
        raise UntilRefused(" ".join(exc.messages)) from None


class UntilRefused(PortalError):
    status = 422


def _prompt(request: HttpRequest, profile, exc: PromptRequired, prompted: bool) -> HttpResponse:
    recent = {kind: selectors.recent_values(request.user, kind) for kind in exc.needed}
    form = PromptForm(exc.needed, recent, data=request.POST if prompted else None)
    if prompted:
        form.is_valid()  # per-field errors for what the service refused
    until = {name: request.POST.get(name, "") for name in ("until", "until_at")}
    context = {"profile": profile, "form": form, "account": request.account, "until": until}
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
        error = _("The phone system could not be read: %(error)s") % {"error": exc}
    except PortalError as exc:
        error = exc.message
    names = selectors.command_names(commands)
    changes = [selectors.command_text(c, names) for c in commands]
    selection = selectors.current_selection(request.user)
    context = {
        "profile": profile,
        "is_current": selection is not None and selection.profile_id == profile.pk,
        "changes": changes,
        "preview_error": error,
        "account": request.account,
    }
    return page(request, "profiles/preview.html", context, "preview")


@login_required
@with_account
@require_http_methods(["GET", "POST"])
def time_zone(request: HttpRequest) -> HttpResponse:
    """The user's own time zone (searchable list of IANA names): times on
    the pages and time triggers follow it."""
    current = request.account.time_zone if request.account else "UTC"
    form = TimeZoneForm(request.POST or None, initial={"time_zone": current})
    if request.method == "POST" and form.is_valid():
        try:
            trigger_services.set_time_zone(user=request.user, time_zone=form.cleaned_data["time_zone"])
        except ValidationError as exc:
            apply_errors(form, exc)
        except PortalError as exc:
            return refuse(request, exc, fallback="profiles:presence")
        else:
            messages.success(request, _("Your time zone is now %(zone)s.") % {"zone": form.cleaned_data["time_zone"]})
            return redirect("profiles:presence")
    context = {"form": form, "zones": sorted(trigger_services.available_time_zones()), "account": request.account}
    status = 422 if form.errors else 200
    return render(request, "profiles/time_zone.html", context, status=status)
