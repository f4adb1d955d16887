"""My profiles (own and system), their action chains and triggers. Every
rule the pages enforce is the service layer's, so it holds here too."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Status

from api import present
from api.endpoints.common import ERRORS, by_pk, or_404
from api.schemas import (
    ActionIn,
    ActionOut,
    ActionPatch,
    CopyIn,
    MeetingTriggerIn,
    MoveIn,
    ProfileIn,
    ProfileOut,
    ProfilePatch,
    TimeTriggerIn,
    TimeTriggerPatch,
    TriggerOut,
)
from profiles import selectors, services
from profiles.actions import describe_action
from profiles.automation import triggers
from profiles.models import Action, StatusConnector, Trigger

router = Router(tags=["profiles"])


def _direction(payload: MoveIn) -> int:
    return -1 if payload.direction == "up" else 1


# --- profiles -----------------------------------------------------------------------


@router.get("/profiles", response={200: list[ProfileOut], **ERRORS}, summary="My profiles and my system profiles")
def profile_list(request: HttpRequest):
    return [present.profile(p) for p in selectors.available_profiles(request.user)]


@router.post("/profiles", response={201: ProfileOut, **ERRORS}, summary="Create a profile")
def profile_create(request: HttpRequest, payload: ProfileIn):
    return Status(201, present.profile(services.create_profile(user=request.user, **payload.dict())))


@router.get("/profiles/{profile_id}", response={200: ProfileOut, **ERRORS}, summary="One profile")
def profile_get(request: HttpRequest, profile_id: int):
    return present.profile(or_404(selectors.get_available_profile, request.user, profile_id))


@router.patch("/profiles/{profile_id}", response={200: ProfileOut, **ERRORS}, summary="Change a profile")
def profile_update(request: HttpRequest, profile_id: int, payload: ProfilePatch):
    profile = or_404(selectors.get_available_profile, request.user, profile_id)
    fields = payload.dict(exclude_unset=True, exclude_none=True)
    return present.profile(services.update_profile(user=request.user, profile=profile, actor=request.user, **fields))


@router.delete("/profiles/{profile_id}", response={204: None, **ERRORS}, summary="Delete a profile")
def profile_delete(request: HttpRequest, profile_id: int):
    profile = or_404(selectors.get_available_profile, request.user, profile_id)
    services.delete_profile(user=request.user, profile=profile)
    return Status(204, None)


@router.post("/profiles/{profile_id}/copy", response={201: ProfileOut, **ERRORS}, summary="Copy a profile")
def profile_copy(request: HttpRequest, profile_id: int, payload: CopyIn):
    profile = or_404(selectors.get_available_profile, request.user, profile_id)
    return Status(201, present.profile(services.copy_profile(user=request.user, profile=profile, name=payload.name)))


@router.post(
    "/profiles/{profile_id}/move", response={200: list[ProfileOut], **ERRORS}, summary="Move a profile up or down"
)
def profile_move(request: HttpRequest, profile_id: int, payload: MoveIn):
    profile = or_404(selectors.get_available_profile, request.user, profile_id)
    services.move_profile(user=request.user, profile=profile, direction=_direction(payload))
    return [present.profile(p) for p in selectors.available_profiles(request.user)]


# --- action chains ----------------------------------------------------------------------


def _actions(profile) -> list[dict]:
    chains = selectors.profile_chains(profile)
    return [present.action(item.action, item.description) for item in chains.enter + chains.exit]


def _action_body(action: Action) -> dict:
    return present.action(action, describe_action(action.type, action.params, selectors.reference_names()))


@router.get(
    "/profiles/{profile_id}/actions",
    response={200: list[ActionOut], **ERRORS},
    summary="A profile's enter and exit chains",
)
def action_list(request: HttpRequest, profile_id: int):
    return _actions(or_404(selectors.get_available_profile, request.user, profile_id))


@router.post("/profiles/{profile_id}/actions", response={201: ActionOut, **ERRORS}, summary="Add an action")
def action_create(request: HttpRequest, profile_id: int, payload: ActionIn):
    profile = or_404(selectors.get_available_profile, request.user, profile_id)
    action = services.add_action(
        user=request.user,
        profile=profile,
        type=payload.type,
        params=payload.params,
        phase=payload.phase,
        enabled=payload.enabled,
        actor=request.user,
    )
    return Status(201, _action_body(action))


@router.patch("/actions/{action_id}", response={200: ActionOut, **ERRORS}, summary="Change an action or turn it on/off")
def action_update(request: HttpRequest, action_id: int, payload: ActionPatch):
    action = or_404(selectors.get_own_action, request.user, action_id)
    action = services.update_action(
        user=request.user, action=action, params=payload.params, enabled=payload.enabled, actor=request.user
    )
    return _action_body(action)


@router.delete("/actions/{action_id}", response={204: None, **ERRORS}, summary="Delete an action")
def action_delete(request: HttpRequest, action_id: int):
    action = or_404(selectors.get_own_action, request.user, action_id)
    services.delete_action(user=request.user, action=action, actor=request.user)
    return Status(204, None)


@router.post(
    "/actions/{action_id}/move",
    response={200: list[ActionOut], **ERRORS},
    summary="Move an action up or down its chain",
)
def action_move(request: HttpRequest, action_id: int, payload: MoveIn):
    action = or_404(selectors.get_own_action, request.user, action_id)
    services.move_action(user=request.user, action=action, direction=_direction(payload), actor=request.user)
    return _actions(action.profile)


# --- triggers ---------------------------------------------------------------------------


def _weekday_bits(names) -> int:
    return sum(1 << Trigger.WEEKDAYS.index(name) for name in set(names))


def _trigger_body(trigger: Trigger) -> dict:
    problem = triggers.meeting_trigger_problem(trigger) if trigger.kind == Trigger.Kind.MEETING else ""
    return present.trigger(trigger, problem)


@router.get("/triggers", response={200: list[TriggerOut], **ERRORS}, summary="My time and meeting triggers")
def trigger_list(request: HttpRequest):
    return [_trigger_body(t) for t in triggers.user_triggers(request.user)]


@router.post("/profiles/{profile_id}/triggers/time", response={201: TriggerOut, **ERRORS}, summary="Add a time trigger")
def time_trigger_create(request: HttpRequest, profile_id: int, payload: TimeTriggerIn):
    profile = or_404(selectors.get_available_profile, request.user, profile_id)
    fields = payload.dict()
    fields["weekdays"] = _weekday_bits(fields["weekdays"])
    return Status(201, _trigger_body(triggers.create_time_trigger(user=request.user, profile=profile, **fields)))


@router.post(
    "/profiles/{profile_id}/triggers/meeting",
    response={201: TriggerOut, **ERRORS},
    summary="Add the meeting trigger",
)
def meeting_trigger_create(request: HttpRequest, profile_id: int, payload: MeetingTriggerIn):
    profile = or_404(selectors.get_available_profile, request.user, profile_id)
    connector = None
    if payload.connector_id is not None:
        connector = or_404(by_pk(StatusConnector), payload.connector_id)
    return Status(
        201, _trigger_body(triggers.create_meeting_trigger(user=request.user, profile=profile, connector=connector))
    )


@router.patch(
    "/triggers/{trigger_id}", response={200: TriggerOut, **ERRORS}, summary="Change a trigger or turn it on/off"
)
def trigger_update(request: HttpRequest, trigger_id: int, payload: TimeTriggerPatch):
    trigger = or_404(triggers.get_own_trigger, request.user, trigger_id)
    changes = payload.dict(exclude_unset=True)
    enabled = changes.pop("enabled", None)
    if "weekdays" in changes:
        changes["weekdays"] = _weekday_bits(changes["weekdays"] or [])
    if changes:
        trigger = triggers.update_time_trigger(user=request.user, trigger=trigger, **changes)
    if enabled is not None:
        trigger = triggers.set_trigger_enabled(user=request.user, trigger=trigger, enabled=enabled)
    return _trigger_body(trigger)


@router.delete("/triggers/{trigger_id}", response={204: None, **ERRORS}, summary="Delete a trigger")
def trigger_delete(request: HttpRequest, trigger_id: int):
    trigger = or_404(triggers.get_own_trigger, request.user, trigger_id)
    triggers.delete_trigger(user=request.user, trigger=trigger)
    return Status(204, None)
