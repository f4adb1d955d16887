"""Staff operations: switch a set of users to a system profile (optionally
until a time), re-apply a client profile's users or everyone. Each needs
its permission (not merely is_staff)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Router, Status

from api.auth import StaffPermission
from api.endpoints.common import ERRORS, by_pk, or_404
from api.errors import ApiError
from api.schemas import CountOut, StaffReapplyIn, StaffSwitchIn, StaffSwitchOut
from devices.models import Team
from profiles import events, services
from profiles.admin_staff import REAPPLY_PERMISSION, SWITCH_PERMISSION
from profiles.models import Account, ClientProfile, PresenceProfile

router = Router(tags=["staff"])
User = get_user_model()


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "validation_error", _("Some fields are not valid."), [{"field": field, "message": message}])


@router.post(
    "/staff/switch",
    response={200: StaffSwitchOut, **ERRORS},
    summary="Switch a set of users",
    auth=StaffPermission(SWITCH_PERMISSION),
)
def staff_switch(request: HttpRequest, payload: StaffSwitchIn):
    """Switch every user of a client profile, of a team, or listed by id to
    a system profile; with ``until`` they return to what they had then."""
    chosen = [x for x in (payload.client_profile_id, payload.team_id, payload.user_ids) if x is not None]
    if len(chosen) != 1:
        raise _invalid("body", _("Choose exactly one of client_profile_id, team_id and user_ids."))
    if payload.until is not None and payload.until <= timezone.now():
        raise _invalid("until", _("Choose a time in the future."))
    profile = or_404(by_pk(PresenceProfile), payload.profile_id)
    if profile.kind != PresenceProfile.Kind.SYSTEM:
        raise _invalid("profile_id", _("Choose a system profile."))
    if payload.client_profile_id is not None:
        client = or_404(by_pk(ClientProfile), payload.client_profile_id)
        user_ids = Account.objects.filter(client_profile=client).values_list("user_id", flat=True)
    elif payload.team_id is not None:
        team = or_404(by_pk(Team), payload.team_id)
        user_ids = Account.objects.filter(primary_extension__teams=team).values_list("user_id", flat=True)
    else:
        user_ids = payload.user_ids
    user_ids = sorted(set(user_ids))
    counts = services.staff_switch(
        actor=request.user,
        profile=profile,
        user_ids=user_ids,
        until=payload.until,
        prompt_values=payload.prompt_values,
    )
    switched = counts.pop("switched", 0)
    return {"users": len(user_ids), "switched": switched, "skipped": counts}


@router.post(
    "/staff/reapply",
    response={202: CountOut, **ERRORS},
    summary="Re-apply a client profile or everyone",
    auth=StaffPermission(REAPPLY_PERMISSION),
)
def staff_reapply(request: HttpRequest, payload: StaffReapplyIn):
    if (payload.client_profile_id is None) == (not payload.everyone):
        raise _invalid("body", _("Choose a client_profile_id or everyone, not both."))
    if payload.everyone:
        count = events.reapply_everyone(actor=request.user)
    else:
        client = or_404(by_pk(ClientProfile), payload.client_profile_id)
        count = events.reapply_client_profile(client_profile=client, actor=request.user)
    return Status(202, {"users": count})
