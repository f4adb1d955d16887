"""Editing the actions of a user's own profile: add, change, delete, move.
Parameters are validated per action type; an edit of the selected profile
re-applies it (docs/rules.md#rule-8)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from devices.models import Location, Team
from profiles.actions import validate_params
from profiles.models import Account, Action, PresenceProfile
from profiles.services.profile_editing import after_edit, check_editable, move_in_list


def _reference_ids(user) -> tuple[set[int], set[int]]:
    account = Account.objects.select_related("primary_extension").filter(user=user).first()
    primary = account.primary_extension if account else None
    teams = set(Team.objects.filter(members=primary).values_list("id", flat=True)) if primary else set()
    locations = set(Location.objects.values_list("id", flat=True))
    return teams, locations


def add_action(
    *,
    user,
    profile: PresenceProfile,
    type: str,
    params: dict,
    phase: str = Action.Phase.ENTER,
    enabled: bool = True,
    actor=None,
) -> Action:
    selection = check_editable(user, profile)
    if phase not in Action.Phase.values:
        raise ValidationError({"phase": _("Choose on entering or on leaving.")})
    teams, locations = _reference_ids(user)
    clean = validate_params(type, params, teams=teams, locations=locations)
    with transaction.atomic():
        position = (Action.objects.filter(profile=profile, phase=phase).aggregate(m=Max("position"))["m"] or 0) + 1
        action = Action.objects.create(
            profile=profile, phase=phase, position=position, enabled=enabled, type=type, params=clean
        )
    after_edit(user, selection, actor)
    return action


def update_action(
    *, user, action: Action, params: dict | None = None, enabled: bool | None = None, actor=None
) -> Action:
    selection = check_editable(user, action.profile)
    fields = []
    if params is not None:
        teams, locations = _reference_ids(user)
        action.params = validate_params(action.type, params, teams=teams, locations=locations)
        fields.append("params")
    if enabled is not None:
        action.enabled = enabled
        fields.append("enabled")
    if fields:
        action.save(update_fields=fields)
        after_edit(user, selection, actor)
    return action


def delete_action(*, user, action: Action, actor=None) -> None:
    selection = check_editable(user, action.profile)
    action.delete()
    after_edit(user, selection, actor)


def move_action(*, user, action: Action, direction: int, actor=None) -> None:
    """Move an action up (-1) or down (+1) within its chain (pascom's arrows)."""
    selection = check_editable(user, action.profile)
    move_in_list(Action.objects.filter(profile=action.profile, phase=action.phase), action, direction)
    after_edit(user, selection, actor)
