"""Triggers on a profile: time triggers (time, weekdays, on/off, delete)
and the meeting trigger. The rules live in profiles.triggers."""

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

from profiles import selectors
from profiles.automation import triggers as trigger_services
from profiles.automation.connectors import calendar
from profiles.errors import PortalError
from profiles.forms import CalendarForm, TimeTriggerForm, apply_errors
from profiles.models import PresenceProfile
from profiles.views.common import or_404, page, refuse, with_account


def _context(request: HttpRequest, profile: PresenceProfile, **extra) -> dict:
    triggers = trigger_services.profile_triggers(request.user, profile)
    for trigger in triggers:
        trigger.problem = trigger_services.meeting_trigger_problem(trigger)
    context = {
        "profile": profile,
        "triggers": triggers,
        "time_form": TimeTriggerForm(prefix="new"),
        "has_meeting_trigger": any(t.kind == "meeting" for t in triggers),
        "account": request.account,
        "calendars": calendar.own_calendars(request.user, profile),
        "calendar_form": CalendarForm(prefix="cal"),
    }
    context.update(extra)
    context.update(_holiday_lists(context["time_form"]))
    return context


def _holiday_lists(form) -> dict:
    """The searchable lists of the time trigger form; the regions are those
    of the country already in the form (all while it has none), so the
    list fits without JavaScript too; htmx swaps it when the country
    changes (holiday_regions)."""
    return {
        "holiday_countries": trigger_services.holiday_countries(),
        "holiday_regions": trigger_services.holiday_regions(form["holiday_country"].value() or ""),
    }


@login_required
@require_GET
def holiday_regions(request: HttpRequest) -> HttpResponse:
    """The region list for the country typed in a time trigger form (htmx:
    the country field's own value, whatever its form prefix)."""
    country = next((v for k, v in request.GET.items() if k.endswith("holiday_country")), "")
    return render(
        request,
        "profiles/_holiday_regions.html",
        {"holiday_regions": trigger_services.holiday_regions(country[:40])},
    )


def _list_response(request: HttpRequest, profile: PresenceProfile, **extra) -> HttpResponse:
    if request.htmx:
        response = render(request, "profiles/triggers.html#trigger-panel", _context(request, profile, **extra))
        return reswap(retarget(response, "#trigger-panel"), "outerHTML")
    return redirect("profiles:triggers", profile.pk)


@login_required
@with_account
@require_GET
def triggers(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = or_404(selectors.get_own_profile, request.user, profile_id)
    return page(request, "profiles/triggers.html", _context(request, profile), "trigger-panel")


@login_required
@with_account
@require_POST
def time_trigger_new(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = or_404(selectors.get_own_profile, request.user, profile_id)
    form = TimeTriggerForm(request.POST, prefix="new")
    if form.is_valid():
        try:
            trigger_services.create_time_trigger(user=request.user, profile=profile, **form.schedule())
        except ValidationError as exc:
            apply_errors(form, exc)
        except PortalError as exc:
            return refuse(request, exc, fallback=reverse("profiles:triggers", args=[profile.pk]))
        else:
            messages.success(request, _("Time trigger added."))
            return _list_response(request, profile)
    context = _context(request, profile, time_form=form)
    return page(request, "profiles/triggers.html", context, "trigger-panel", status=422)


@login_required
@with_account
@require_http_methods(["GET", "POST"])
def time_trigger_edit(request: HttpRequest, trigger_id: int) -> HttpResponse:
    trigger = or_404(trigger_services.get_own_trigger, request.user, trigger_id)
    form = TimeTriggerForm(request.POST or None, initial=TimeTriggerForm.initial_for(trigger), prefix=f"t{trigger.pk}")
    if request.method == "POST" and form.is_valid():
        try:
            trigger_services.update_time_trigger(user=request.user, trigger=trigger, **form.schedule())
        except ValidationError as exc:
            apply_errors(form, exc)
        except PortalError as exc:
            return refuse(request, exc, fallback=reverse("profiles:triggers", args=[trigger.profile_id]))
        else:
            messages.success(request, _("Time trigger saved."))
            return _list_response(request, trigger.profile)
    context = {"trigger": trigger, "form": form, "profile": trigger.profile, **_holiday_lists(form)}
    return page(request, "profiles/trigger_edit.html", context, "trigger-form", status=422 if form.errors else 200)


@login_required
@with_account
@require_POST
def meeting_trigger_new(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = or_404(selectors.get_own_profile, request.user, profile_id)
    try:
        trigger_services.create_meeting_trigger(user=request.user, profile=profile)
    except PortalError as exc:
        return refuse(request, exc, fallback=reverse("profiles:triggers", args=[profile.pk]))
    messages.success(request, _("Meeting trigger added."))
    return _list_response(request, profile)


@login_required
@with_account
@require_POST
def trigger_toggle(request: HttpRequest, trigger_id: int) -> HttpResponse:
    trigger = or_404(trigger_services.get_own_trigger, request.user, trigger_id)
    try:
        trigger_services.set_trigger_enabled(user=request.user, trigger=trigger, enabled=not trigger.enabled)
    except PortalError as exc:
        return refuse(request, exc, fallback=reverse("profiles:triggers", args=[trigger.profile_id]))
    return _list_response(request, trigger.profile)


@login_required
@with_account
@require_POST
def trigger_delete(request: HttpRequest, trigger_id: int) -> HttpResponse:
    trigger = or_404(trigger_services.get_own_trigger, request.user, trigger_id)
    profile = trigger.profile
    try:
        trigger_services.delete_trigger(user=request.user, trigger=trigger)
    except PortalError as exc:
        return refuse(request, exc, fallback=reverse("profiles:triggers", args=[profile.pk]))
    messages.success(request, _("Trigger deleted."))
    return _list_response(request, profile)


@login_required
@with_account
@require_POST
def calendar_new(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = or_404(selectors.get_own_profile, request.user, profile_id)
    form = CalendarForm(request.POST, prefix="cal")
    if form.is_valid():
        try:
            calendar.link_calendar(user=request.user, profile=profile, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        except PortalError as exc:
            return refuse(request, exc, fallback=reverse("profiles:triggers", args=[profile.pk]))
        else:
            messages.success(request, _("Calendar linked; it is read within a minute."))
            return _list_response(request, profile)
    context = _context(request, profile, calendar_form=form)
    return page(request, "profiles/triggers.html", context, "trigger-panel", status=422)


@login_required
@with_account
@require_POST
def calendar_delete(request: HttpRequest, calendar_id: int) -> HttpResponse:
    link = or_404(calendar.get_own_calendar, request.user, calendar_id)
    profile = link.profile
    try:
        calendar.unlink_calendar(user=request.user, calendar=link)
    except PortalError as exc:
        return refuse(request, exc, fallback=reverse("profiles:triggers", args=[profile.pk]))
    messages.success(request, _("Calendar removed."))
    return _list_response(request, profile)
