"""My presence: what I have, switching (with prompt values and "until"),
re-applying."""

from __future__ import annotations

from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Router

from api import present
from api.endpoints.common import ERRORS, or_404
from api.errors import ApiError
from api.schemas import MeOut, SessionTriggerIn, SessionTriggerOut, SwitchIn, TeamOut, TimeZoneIn, TimeZoneOut, UserOut
from profiles import selectors, services
from profiles.automation import sessions
from profiles.automation import triggers as trigger_services
from profiles.automation.why import why_selected
from profiles.errors import NotAllowed, PresenceDisabled
from profiles.models import Account, Selection

router = Router(tags=["me"])


def me_body(user) -> dict:
    account = selectors.account_for(user)
    status = selectors.apply_status(user)
    return _body(
        user, bool(account and account.presence_enabled), selectors.current_selection(user), status.target, status
    )


def _body(user, enabled: bool, selection, target, status, *, left=None) -> dict:
    return {
        "user": {"id": user.pk, "username": user.username, "name": present.user_name(user)},
        "presence_enabled": enabled,
        "profile": present.profile(selection.profile) if selection else None,
        "why": selection.source if selection else "",
        "why_detail": selection.source_detail if selection else "",
        "why_text": why_selected(selection, previous=left),
        "since": selection.since if selection else None,
        "until": selection.until if selection else None,
        "previous_profile_id": selection.previous_profile_id if selection else None,
        "prompt_values": selection.prompt_values if selection else {},
        "apply": {
            "status": target.status if target else "none",
            "version": target.version if target else 0,
            "applied_version": target.applied_version if target else 0,
            "error": target.error if target else "",
        },
        "mismatches": [
            {"extension": m.extension, "description": m.description, "detected_at": m.detected_at}
            for m in (status.mismatches if status else [])
        ],
    }


@router.get("/whoami", response={200: UserOut, **ERRORS}, summary="Who this token belongs to (a cheap check)")
def whoami(request: HttpRequest):
    """Authentication only, no other query: clients check a token with it."""
    user = request.user
    return {"id": user.pk, "username": user.username, "name": present.user_name(user)}


@router.get("/me", response={200: MeOut, **ERRORS}, summary="My presence and apply status")
def me(request: HttpRequest):
    return me_body(request.user)


@router.post("/me/switch", response={200: MeOut, **ERRORS}, summary="Select a profile")
def switch(request: HttpRequest, payload: SwitchIn):
    """Select one of my profiles or a system profile. A profile that asks for
    values (DND message, forward destination) answers 422 with code
    ``prompt_required`` and the recent values until ``prompt_values`` are
    sent. ``until``: return to the current profile at that time."""
    if payload.until is not None and payload.until <= timezone.now():
        raise ApiError(
            422,
            "validation_error",
            _("Some fields are not valid."),
            [{"field": "until", "message": _("Choose a time in the future.")}],
        )
    try:
        result = services.select_profile(
            user=request.user,
            profile=payload.profile_id,
            source=Selection.Source.API,
            actor=request.user,
            source_detail=_api_detail(request),
            prompt_values=payload.prompt_values,
            until=payload.until,
        )
    except NotAllowed:
        raise Http404 from None  # other users' ids (and ids of nothing) reveal nothing
    except PresenceDisabled:
        # Without presence profiles no profile is theirs: another user's id
        # answers 404 as above, one of their own says why it is refused.
        or_404(selectors.get_available_profile, request.user, payload.profile_id)
        raise
    # The answer comes from what the switch loaded: no further query unless
    # there are open mismatches to list (as the page's switch).
    status = selectors.apply_status(request.user) if result.mismatches else None
    selection = result.selection
    return _body(request.user, True, selection, result.target, status, left=result.left)


@router.post("/me/reapply", response={200: MeOut, **ERRORS}, summary="Apply my profile again")
def reapply(request: HttpRequest):
    account = selectors.account_for(request.user)
    if account is None or not account.presence_enabled:
        raise PresenceDisabled(_("Presence profiles are not enabled for you; ask your administrator."))
    services.reapply(
        user=request.user, event="reapply", source=Selection.Source.API, actor=request.user, source_detail="re-apply"
    )
    return me_body(request.user)


def _session_trigger_body(user) -> dict:
    account = Account.objects.select_related("client_profile").filter(user=user).first()
    if account is None:
        raise PresenceDisabled(_("Presence profiles are not set up for you; ask your administrator."))
    profile, return_on_connect = sessions.effective(account)
    return {
        "profile_id": account.session_end_profile_id,
        "return_on_connect": account.session_return_on_connect,
        "effective_profile_id": profile.pk if profile else None,
        "effective_return_on_connect": return_on_connect,
    }


@router.get("/me/session-trigger", response={200: SessionTriggerOut, **ERRORS}, summary="My session trigger")
def session_trigger(request: HttpRequest):
    """The profile to switch to when my last client disconnects or expires,
    and whether to return when a client connects again."""
    return _session_trigger_body(request.user)


@router.put("/me/session-trigger", response={200: SessionTriggerOut, **ERRORS}, summary="Set my session trigger")
def set_session_trigger(request: HttpRequest, payload: SessionTriggerIn):
    profile = None
    if payload.profile_id is not None:
        profile = or_404(selectors.get_available_profile, request.user, payload.profile_id)
    sessions.set_session_trigger(user=request.user, profile=profile, return_on_connect=payload.return_on_connect)
    return _session_trigger_body(request.user)


@router.get("/teams", response={200: list[TeamOut], **ERRORS}, summary="All teams (for the colleagues filter)")
def teams(request: HttpRequest):
    return [{"id": t.pk, "name": t.name} for t in selectors.all_teams()]


def _api_detail(request: HttpRequest) -> str:
    token = getattr(request, "api_token", None)
    return f"API token {token.name}"[:200] if token else "API (browser)"


def _time_zone_body(user) -> dict:
    account = selectors.account_for(user)
    if account is None:
        raise PresenceDisabled(_("Presence profiles are not set up for you; ask your administrator."))
    return {"time_zone": account.time_zone}


@router.get("/me/time-zone", response={200: TimeZoneOut, **ERRORS}, summary="My time zone")
def time_zone(request: HttpRequest):
    """The IANA time zone my time triggers and times follow."""
    return _time_zone_body(request.user)


@router.put("/me/time-zone", response={200: TimeZoneOut, **ERRORS}, summary="Set my time zone")
def set_time_zone(request: HttpRequest, payload: TimeZoneIn):
    """An IANA name such as Europe/Berlin (422 naming the field otherwise);
    my time triggers are recomputed in it at once, as on the page."""
    account = trigger_services.set_time_zone(user=request.user, time_zone=payload.time_zone)
    return {"time_zone": account.time_zone}
