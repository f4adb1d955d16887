"""Profiles: the list, create, edit, delete with confirmation, copy, reorder;
and the profile editor for the enter and exit action chains."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from profiles import selectors, services
from profiles.actions import action_type_choices, action_type_label
from profiles.defaults import display_profile_name
from profiles.errors import PortalError
from profiles.forms import ACTION_FORMS, ActionTypeForm, ProfileForm, apply_errors
from profiles.models import Action, PresenceProfile, Selection
from profiles.views.common import or_404, page, refuse, with_account


def _direction(request: HttpRequest) -> int:
    return -1 if request.POST.get("direction") == "up" else 1


# --- the list ------------------------------------------------------------------------


def _list_context(request: HttpRequest) -> dict:
    selection = Selection.objects.filter(user=request.user).values_list("profile_id", flat=True).first()
    profiles = selectors.profiles_with_counts(request.user)
    own = [p for p in profiles if p.kind == PresenceProfile.Kind.PERSONAL]
    for i, p in enumerate(own):
        p.first, p.last = i == 0, i == len(own) - 1
    return {
        "own_profiles": own,
        "system_profiles": [p for p in profiles if p.kind == PresenceProfile.Kind.SYSTEM],
        "selected_id": selection,
    }


@login_required
@with_account
@require_GET
def profile_list(request: HttpRequest) -> HttpResponse:
    return page(request, "profiles/profile_list.html", _list_context(request), "profile-list")


@login_required
@with_account
@require_http_methods(["GET", "POST"])
def profile_new(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            profile = services.create_profile(user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Profile “%(name)s” created. Add its actions below.") % {"name": profile.name})
            return redirect("profiles:profile_edit", profile.pk)
    status = 422 if form.errors else 200
    return render(request, "profiles/profile_new.html", {"form": form}, status=status)


@login_required
@require_POST
def profile_copy(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = or_404(selectors.get_available_profile, request.user, profile_id)
    try:
        copy = services.copy_profile(user=request.user, profile=profile)
    except (PortalError, ValidationError) as exc:
        error = exc if isinstance(exc, PortalError) else PortalError("; ".join(exc.messages))
        return refuse(request, error, fallback="profiles:profiles")
    messages.success(
        request,
        _("Copied “%(name)s” to “%(copy)s”. It is yours to change.")
        % {"name": display_profile_name(profile.name), "copy": copy.name},
    )
    return _redirect(request, reverse("profiles:profile_edit", args=[copy.pk]))


@login_required
@with_account
@require_POST
def profile_move(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = or_404(selectors.get_own_profile, request.user, profile_id)
    services.move_profile(user=request.user, profile=profile, direction=_direction(request))
    if request.htmx:
        return render(request, "profiles/profile_list.html#profile-list", _list_context(request))
    return redirect("profiles:profiles")


@login_required
@with_account
@require_http_methods(["GET", "POST"])
def profile_delete(request: HttpRequest, profile_id: int) -> HttpResponse:
    """GET: the confirmation (a dialog for htmx, else a page). POST: delete,
    or the service's refusal (selected profile, system profile)."""
    profile = or_404(selectors.get_available_profile, request.user, profile_id)
    if request.method == "POST":
        try:
            services.delete_profile(user=request.user, profile=profile)
        except PortalError as exc:
            return refuse(request, exc, fallback="profiles:profiles")
        messages.success(request, _("Profile “%(name)s” deleted.") % {"name": display_profile_name(profile.name)})
        return _redirect(request, reverse("profiles:profiles"))
    context = {"profile": profile}
    if request.htmx:
        response = render(request, "profiles/profile_delete.html#delete-dialog", context)
        return reswap(retarget(response, "#dialog-slot"), "innerHTML")
    return render(request, "profiles/profile_delete.html", context)


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    """After a change: htmx follows with a full navigation, plain POSTs get 303."""
    if request.htmx:
        from django_htmx.http import HttpResponseClientRedirect

        return HttpResponseClientRedirect(url)
    return redirect(url)


# --- the editor ------------------------------------------------------------------------------


def _editor_context(request: HttpRequest, profile: PresenceProfile, **extra) -> dict:
    editable = profile.is_owned_by(request.user)
    context = {
        "profile": profile,
        "editable": editable,
        "chains": selectors.profile_chains(profile),
        "type_form": ActionTypeForm(),
        "action_types": action_type_choices(),
        "is_selected": Selection.objects.filter(user=request.user, profile=profile).exists(),
    }
    if editable and "settings_form" not in extra:
        initial = {f: getattr(profile, f) for f in ("icon", "colour", "icon_visible", "sticky")}
        # A seeded name in the reader's language, as the heading shows it.
        context["settings_form"] = ProfileForm(initial={**initial, "name": display_profile_name(profile.name)})
    context.update(extra)
    return context


@login_required
@with_account
@require_http_methods(["GET", "POST"])
def profile_edit(request: HttpRequest, profile_id: int) -> HttpResponse:
    """The editor. System profiles show read-only; POST changes the
    profile's name, icon, colour, icon visibility and stickiness."""
    if request.method == "GET":
        profile = or_404(selectors.get_available_profile, request.user, profile_id)
        return page(request, "profiles/editor.html", _editor_context(request, profile), "editor")
    profile = or_404(selectors.get_own_profile, request.user, profile_id)
    form = ProfileForm(request.POST)
    if form.is_valid():
        try:
            services.update_profile(user=request.user, profile=profile, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        except PortalError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Saved."))
            if not request.htmx:
                return redirect("profiles:profile_edit", profile.pk)
            # The heading, badge and colour change too: re-render the editor.
            profile.refresh_from_db()
            response = render(request, "profiles/editor.html#editor", _editor_context(request, profile))
            return reswap(retarget(response, "#editor"), "outerHTML")
    profile.refresh_from_db()  # show the stored values beside the errors
    context = _editor_context(request, profile, settings_form=form)
    return page(request, "profiles/editor.html", context, "settings", status=422)


# --- actions ---------------------------------------------------------------------------------


def _action_form(action_type: str, request: HttpRequest, *, data=None, initial=None, with_phase=True):
    form_class = ACTION_FORMS[action_type]
    return form_class(
        data,
        initial=initial,
        teams=selectors.user_teams(request.user),
        locations=selectors.all_locations(),
        with_phase=with_phase,
        prefix="action",
    )


def _chains_response(request: HttpRequest, profile: PresenceProfile) -> HttpResponse:
    if request.htmx:
        context = _editor_context(request, profile, chains_only=True)
        response = render(request, "profiles/editor.html#chains", context)
        return reswap(retarget(response, "#chains"), "outerHTML")
    return redirect("profiles:profile_edit", profile.pk)


@login_required
@with_account
@require_http_methods(["GET", "POST"])
def action_new(request: HttpRequest, profile_id: int) -> HttpResponse:
    """Add an action: GET ?type=… shows that type's form (no type: the type
    chooser); POST validates through the service and appends the action."""
    profile = or_404(selectors.get_own_profile, request.user, profile_id)
    action_type = request.POST.get("type") or request.GET.get("type") or ""
    if action_type not in ACTION_FORMS:
        context = {"profile": profile, "type_form": ActionTypeForm(request.GET or None)}
        return page(request, "profiles/action_form.html", context, "type-chooser")
    # Add pressed inside a chain names its phase: the form does not ask again.
    phase = request.POST.get("phase") or request.GET.get("phase") or ""
    phase = phase if phase in Action.Phase.values else ""
    form = _action_form(
        action_type,
        request,
        data=request.POST if request.method == "POST" else None,
        initial={"phase": Action.Phase.ENTER},
        with_phase=not phase,
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.add_action(
                user=request.user,
                profile=profile,
                type=action_type,
                params=form.params(),
                phase=phase or form.cleaned_data["phase"],
                actor=request.user,
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        except PortalError as exc:
            return refuse(request, exc, fallback=reverse("profiles:profile_edit", args=[profile.pk]))
        else:
            return _chains_response(request, profile)
    context = {
        "profile": profile,
        "form": form,
        "action_type": action_type,
        "phase": phase,
        "type_label": action_type_label(action_type),
    }
    return page(request, "profiles/action_form.html", context, "action-form", status=422 if form.errors else 200)


@login_required
@with_account
@require_http_methods(["GET", "POST"])
def action_edit(request: HttpRequest, action_id: int) -> HttpResponse:
    action = or_404(selectors.get_own_action, request.user, action_id)
    profile = action.profile
    form = _action_form(
        action.type,
        request,
        data=request.POST if request.method == "POST" else None,
        initial=ACTION_FORMS[action.type].initial_from(action.params),
        with_phase=False,
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_action(user=request.user, action=action, params=form.params(), actor=request.user)
        except ValidationError as exc:
            apply_errors(form, exc)
        except PortalError as exc:
            return refuse(request, exc, fallback=reverse("profiles:profile_edit", args=[profile.pk]))
        else:
            return _chains_response(request, profile)
    context = {
        "profile": profile,
        "form": form,
        "action": action,
        "action_type": action.type,
        "type_label": action_type_label(action.type),
    }
    return page(request, "profiles/action_form.html", context, "action-form", status=422 if form.errors else 200)


@login_required
@with_account
@require_POST
def action_toggle(request: HttpRequest, action_id: int) -> HttpResponse:
    action = or_404(selectors.get_own_action, request.user, action_id)
    try:
        services.update_action(user=request.user, action=action, enabled=not action.enabled, actor=request.user)
    except PortalError as exc:
        return refuse(request, exc, fallback=reverse("profiles:profile_edit", args=[action.profile_id]))
    return _chains_response(request, action.profile)


@login_required
@with_account
@require_POST
def action_delete(request: HttpRequest, action_id: int) -> HttpResponse:
    action = or_404(selectors.get_own_action, request.user, action_id)
    profile = action.profile
    try:
        services.delete_action(user=request.user, action=action, actor=request.user)
    except PortalError as exc:
        return refuse(request, exc, fallback=reverse("profiles:profile_edit", args=[profile.pk]))
    return _chains_response(request, profile)


@login_required
@with_account
@require_POST
def action_move(request: HttpRequest, action_id: int) -> HttpResponse:
    action = or_404(selectors.get_own_action, request.user, action_id)
    try:
        services.move_action(user=request.user, action=action, direction=_direction(request), actor=request.user)
    except PortalError as exc:
        return refuse(request, exc, fallback=reverse("profiles:profile_edit", args=[action.profile_id]))
    return _chains_response(request, action.profile)
