"""The simulated PBX's "phone" page: a person changes a device by hand, as at
the handset (docs/rules.md#rule-4: that sticks between events), and triggers the events a
phone causes (hot-desk login/logout, a client connecting to a softphone).
Shown to the extension's holder and to users with the permission "Can operate
simulated phones"; anyone else gets 404."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from devices import hooks, services
from devices.drivers.simulated import SimulatedDriver
from devices.models import ClientSession, Extension, SimulatedDevice, TargetState
from devices.selectors import describe_all
from devices.state import Command
from portal.errors import PortalError

CALL_DONE = {
    "call_place": gettext_lazy("Call placed: the line is busy."),
    "call_ring": gettext_lazy("A call is ringing."),
    "call_answer": gettext_lazy("Call answered."),
    "call_hold": gettext_lazy("Call on hold."),
    "call_resume": gettext_lazy("Call resumed."),
    "call_end": gettext_lazy("Call ended."),
    "phone_offline": gettext_lazy("The phone is offline."),
    "phone_online": gettext_lazy("The phone is online again."),
}


def _phone_or_404(request: HttpRequest, number: str) -> tuple[Extension, object, ClientSession | None]:
    """The extension and the user whose profile applies to it, if the
    requester may use this phone."""
    if settings.PBX_DRIVER != "simulated":
        raise Http404("The phone page exists for the simulated PBX only.")
    ext = Extension.objects.select_related("owner").filter(number=number).first()
    if ext is None:
        raise Http404("Not found")
    primary_user = hooks.profile_side().primary_user(ext)
    session = ClientSession.objects.select_related("user").filter(extension=ext).first()
    holder = primary_user or (session.user if session else ext.owner)
    # The phone's holder, or someone explicitly allowed to operate every
    # simulated phone: being staff alone is not enough (least privilege).
    allowed = request.user.has_perm("devices.operate_simulated_phone") or request.user.pk in {
        getattr(holder, "pk", None),
        ext.owner_id,
        session.user_id if session else None,
    }
    if not allowed:
        raise Http404("Not found")
    return ext, holder, session


def _handle(action: str, data, ext: Extension, holder, session, actor) -> str:
    """Run one button's service call; returns what happened, for people."""
    number = ext.number
    if action in ("dnd_on", "dnd_off"):
        on = action == "dnd_on"
        services.manual_change(
            extension=number, command=Command(number, "set_dnd", {"on": on, "message": data.get("message", "")})
        )
        return (_("DND on on %(number)s.") if on else _("DND off on %(number)s.")) % {"number": number}
    if action == "forward_set":
        services.manual_change(extension=number, command=Command(number, "set_forward", {"target": data.get("target")}))
        return _("Forward set on %(number)s.") % {"number": number}
    if action == "forward_clear":
        services.manual_change(extension=number, command=Command(number, "set_forward", {"target": ""}))
        return _("Forward removed on %(number)s.") % {"number": number}
    if action in ("team_login", "team_logout"):
        services.manual_change(extension=number, command=Command(number, action, {"team": data.get("team")}))
        return _("Logged in to the team.") if action == "team_login" else _("Logged out of the team.")
    if action in ("hot_desk_login", "hot_desk_logout"):
        changed = hooks.profile_side().hot_desk(extension=ext, logged_in=action == "hot_desk_login", actor=actor)
        if action == "hot_desk_login":
            return _("Hot-desk user logged in; the profile is applied again.") if changed else _("Already logged in.")
        return _("Hot-desk user logged out; the profile is applied again.") if changed else _("Already logged out.")
    if action == "connect":
        user = ext.owner or actor
        hooks.profile_side().connect_client(user=user, extension=ext, actor=actor)
        return _("Client of %(user)s connected to %(number)s; the profile applies here now.") % {
            "user": user,
            "number": number,
        }
    if action == "disconnect":
        if session is None:
            raise ValidationError(_("No client is connected to this softphone."))
        hooks.profile_side().disconnect_client(user=session.user, extension=ext, actor=actor)
        return _("Client disconnected from %(number)s; the profile’s changes were removed here.") % {"number": number}
    if action in services.CALL_ACTIONS:
        services.simulated_call(extension=ext, action=action)
        return str(CALL_DONE[action])
    if action in ("fault_transient", "fault_permanent", "fault_clear"):
        fault = {"fault_transient": "transient", "fault_permanent": "permanent", "fault_clear": ""}[action]
        services.set_fault(extension=ext, fault=fault, count=3)
        return {
            "transient": _("The next 3 writes to this phone fail with a retryable error."),
            "permanent": _("Every write to this phone fails until the fault is cleared."),
            "": _("Fault cleared."),
        }[fault]
    raise ValidationError(_("Unknown button."))


@login_required
@require_http_methods(["GET", "POST"])
def phone(request: HttpRequest, number: str) -> HttpResponse:
    ext, holder, session = _phone_or_404(request, number)
    error = ""
    if request.method == "POST":
        try:
            done = _handle(request.POST.get("action", ""), request.POST, ext, holder, session, request.user)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        except PortalError as exc:
            error = exc.message
        else:
            messages.success(request, done)
            return redirect("devices:phone", number=number)
        ext, holder, session = _phone_or_404(request, number)
    state = SimulatedDriver().read([number]).get(number)
    device = SimulatedDevice.objects.filter(extension=ext).first()
    context = {
        "ext": ext,
        "holder": holder,
        "session": session,
        "state": state,
        "teams": [(team, state.teams.get(str(team.pk)) if state else None) for team in ext.teams.order_by("name")],
        "fault": device.get_fault_display() if device and device.fault else "",
        "line": device.line if device else "NOT_INUSE",
        "error": error,
        # The profile applies to a softphone only while a client is connected.
        "applies_to": session.user if session else (holder if ext.kind != Extension.Kind.SOFTPHONE else None),
        "pending": bool(holder) and TargetState.objects.filter(user=holder, status=TargetState.Status.PENDING).exists(),
    }
    mismatches = [m for m in services.mismatches_for(holder) if m.extension == number] if holder else []
    context["mismatches"] = mismatches
    context["mismatch_texts"] = describe_all(
        [Command(m.extension, m.op, m.args) for m in mismatches], [m.description for m in mismatches]
    )
    return render(request, "devices/phone.html", context, status=400 if error else 200)
