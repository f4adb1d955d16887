"""The one place each presence-profile state change happens.

Views, admin actions, the API, tasks and commands call these functions;
each runs in one transaction, writes its audit row, and enqueues device work
on commit (devices never talk inside a transaction).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Q

from devices import services as device_services
from devices.models import Location, Team
from devices.state import UserState
from profiles.actions import prompts_needed, validate_params
from profiles.catalog import load_devices_many
from profiles.engine import Devices, desired_state, released_softphone_state
from profiles.errors import InUse, NotAllowed, PortalError
from profiles.models import (
    Account,
    Action,
    ClientProfile,
    PresenceProfile,
    RecentValue,
    Selection,
    SwitchEvent,
)
from profiles.switching import Switch, SwitchOutcome, SwitchResult, select_profile, switch_profiles

User = get_user_model()
Source = Selection.Source
RECENT_VALUES_KEPT = 5


# --- selectors ------------------------------------------------------------------


def available_profiles(user) -> list[PresenceProfile]:
    """The user's own profiles and the system profiles of their client
    profile, in display order (one query)."""
    return list(
        PresenceProfile.objects.filter(
            Q(owner=user, kind=PresenceProfile.Kind.PERSONAL)
            | Q(kind=PresenceProfile.Kind.SYSTEM, client_profiles__accounts__user=user)
        )
        .distinct()
        .order_by("kind", "position", "id")
    )


def get_available_profile(user, profile_id) -> PresenceProfile:
    """The profile if this user may select it; PresenceProfile.DoesNotExist
    otherwise (views answer 404, so other users' ids reveal nothing)."""
    return (
        PresenceProfile.objects.filter(
            Q(owner=user, kind=PresenceProfile.Kind.PERSONAL)
            | Q(kind=PresenceProfile.Kind.SYSTEM, client_profiles__accounts__user=user)
        )
        .distinct()
        .get(pk=profile_id)
    )


def get_own_profile(user, profile_id) -> PresenceProfile:
    """A personal profile of this user (to edit); DoesNotExist otherwise."""
    return PresenceProfile.objects.get(pk=profile_id, owner=user, kind=PresenceProfile.Kind.PERSONAL)


def load_devices(account: Account) -> Devices | None:
    """What the user's profiles act on, in three queries; None without a
    primary extension."""
    return load_devices_many([account]).get(account.user_id)


# --- switching ------------------------------------------------------------------


def reapply(
    *,
    user,
    event: str,
    source: str = Source.SYSTEM,
    actor=None,
    source_detail: str = "",
    hot_desk_login: bool = False,
    released: tuple[str, ...] = (),
) -> int | None:
    """Apply the selected profile's enter chain again (an event of rule 4:
    edit of the selected profile, session connect/disconnect, hot-desk
    login/logout, administrator's re-apply, service start). Returns the new
    target version, or None when the user has no selection.

    ``released``: softphones whose client session just ended; the target
    removes the profile's changes from them (rule 6)."""
    versions = reapply_many(
        user_ids=[user.pk],
        event=event,
        source=source,
        actor_id=actor.pk if actor is not None else None,
        source_detail=source_detail,
        hot_desk_login=hot_desk_login,
        released={user.pk: released} if released else None,
    )
    return versions.get(user.pk)


def reapply_many(
    *,
    user_ids,
    event: str,
    source: str = Source.SYSTEM,
    actor_id: int | None = None,
    source_detail: str = "",
    hot_desk_login: bool = False,
    released: dict[int, tuple[str, ...]] | None = None,
) -> dict[int, int]:
    """reapply for a batch of users in a constant number of queries whatever
    their number (administrator's re-apply, service start). Users without
    presence profiles or a selection are left alone. Returns user id -> new
    target version; their converges are enqueued on commit."""
    released = released or {}
    with transaction.atomic():
        accounts = [
            a
            for a in Account.objects.select_for_update(of=("self",))
            .select_related("client_profile", "primary_extension")
            .filter(user_id__in=list(user_ids))
            .order_by("pk")
            if a.presence_enabled
        ]
        selections = {
            s.user_id: s
            for s in Selection.objects.select_related("profile").filter(user_id__in=[a.user_id for a in accounts])
        }
        actions: dict[int, list[Action]] = {}
        for action in Action.objects.filter(profile_id__in={s.profile_id for s in selections.values()}):
            actions.setdefault(action.profile_id, []).append(action)
        devices = load_devices_many([a for a in accounts if a.user_id in selections])
        desired: dict[int, UserState] = {}
        for account in accounts:
            selection = selections.get(account.user_id)
            if selection is None:
                continue
            user_devices = devices.get(account.user_id)
            state = (
                desired_state(
                    user_devices,
                    selection.profile,
                    actions.get(selection.profile_id, []),
                    prompts=selection.prompt_values,
                    hot_desk_login=hot_desk_login,
                )
                if user_devices
                else UserState()
            )
            gone = {
                n: released_softphone_state() for n in released.get(account.user_id, ()) if n not in state.extensions
            }
            desired[account.user_id] = UserState(extensions={**state.extensions, **gone})
        versions = device_services.store_targets(desired)
        SwitchEvent.objects.bulk_create(
            SwitchEvent(
                user_id=user_id,
                actor_id=actor_id,
                source=source,
                source_detail=source_detail[:200],
                event=event[:32],
                old_profile=selections[user_id].profile,
                new_profile=selections[user_id].profile,
                old_name=selections[user_id].profile.name,
                new_name=selections[user_id].profile.name,
                prompt_values=selections[user_id].prompt_values,
                target_version=version,
            )
            for user_id, version in versions.items()
        )
        if len(versions) == 1:
            device_services.enqueue_converge(next(iter(versions)), reason=event)
        elif versions:
            device_services.enqueue_converge_many(list(versions), reason=event)
    return versions


def preview_switch(*, user, profile: PresenceProfile, prompt_values: dict | None = None) -> UserState:
    """The desired state a switch to ``profile`` would store, computed the
    same way and stored nowhere (the device diff is
    devices.services.preview_commands)."""
    account = Account.objects.select_related("client_profile", "primary_extension").get(user=user)
    selection = Selection.objects.select_related("profile").filter(user=user).first()
    old = selection.profile if selection else None
    new_actions, exit_actions = _switch_chains(profile, old)
    needed = _needed_prompts(new_actions)
    prompts = {k: v for k, v in (prompt_values or {}).items() if k in needed}
    devices = load_devices(account)
    if devices is None:
        return UserState()
    return desired_state(devices, profile, new_actions, exit_actions=exit_actions, prompts=prompts)


def preview_changes(*, user, profile: PresenceProfile, prompt_values: dict | None = None):
    """The exact device commands a switch to ``profile`` would send now (item
    7): the desired state select_profile would store, merged and diffed the
    way converge does it, sent nowhere. Each command has ``describe()``.
    Raises DriverError when the phone system cannot be read."""
    desired = preview_switch(user=user, profile=profile, prompt_values=prompt_values)
    return device_services.preview_commands(user_id=user.pk, desired=desired)


def _switch_chains(profile: PresenceProfile, old: PresenceProfile | None) -> tuple[list[Action], list[Action]]:
    """The new profile's actions and, when this leaves another profile, the
    old one's (its exit chain runs first, rule 1), in one query."""
    leaving = old is not None and old.pk != profile.pk
    actions = list(Action.objects.filter(profile_id__in={profile.pk, old.pk} if leaving else {profile.pk}))
    new_actions = [a for a in actions if a.profile_id == profile.pk]
    exit_actions = [a for a in actions if a.profile_id == old.pk] if leaving else []
    return new_actions, exit_actions


def _needed_prompts(actions) -> set[str]:
    """What the enabled actions of a chain ask for at selection (rule 3)."""
    return set().union(*(prompts_needed(a.type, a.params) for a in actions if a.enabled))


def recent_values(user, kind: str) -> list[str]:
    return list(
        RecentValue.objects.filter(user=user, kind=kind)
        .order_by("-last_used")
        .values_list("value", flat=True)[:RECENT_VALUES_KEPT]
    )


# --- editing profiles -------------------------------------------------------------

PROFILE_FIELDS = ("name", "icon", "colour", "icon_visible", "sticky")


def _editable(user, profile: PresenceProfile) -> Selection | None:
    """Check a user may change this profile now; returns the user's
    selection when the profile is the selected one (rule 8)."""
    if profile.kind != PresenceProfile.Kind.PERSONAL or profile.owner_id != user.pk:
        raise NotAllowed("System profiles can only be changed by an administrator.")
    selection = Selection.objects.select_related("profile").filter(user=user).first()
    if selection is None or selection.profile_id != profile.pk:
        return None
    account = Account.objects.select_related("client_profile").get(user=user)
    policy = (
        account.client_profile.selected_profile_edit_policy
        if account.client_profile
        else ClientProfile.EditPolicy.APPLY
    )
    if policy == ClientProfile.EditPolicy.REFUSE:
        raise InUse("This profile is in use. Select another profile before changing it.")
    return selection


def _after_edit(user, selection: Selection | None, actor) -> None:
    if selection is not None:  # edits of the selected profile apply at once (Mitel)
        reapply(user=user, event="edit", source=Source.USER, actor=actor or user)


def _save_profile(profile: PresenceProfile) -> PresenceProfile:
    profile.full_clean()
    try:
        with transaction.atomic():
            profile.save()
    except IntegrityError:
        raise ValidationError({"name": "You already have a profile with this name."}) from None
    return profile


def create_profile(
    *, user, name: str, icon: str = "circle", colour: str = "#2e7d32", icon_visible: bool = True, sticky: bool = False
) -> PresenceProfile:
    if PresenceProfile.objects.filter(owner=user, name=name).exists():
        raise ValidationError({"name": "You already have a profile with this name."})
    position = (PresenceProfile.objects.filter(owner=user).aggregate(m=Max("position"))["m"] or 0) + 1
    profile = PresenceProfile(
        owner=user,
        kind=PresenceProfile.Kind.PERSONAL,
        name=name,
        icon=icon,
        colour=colour,
        icon_visible=icon_visible,
        sticky=sticky,
        position=position,
    )
    return _save_profile(profile)


def update_profile(*, user, profile: PresenceProfile, actor=None, **fields) -> PresenceProfile:
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"not profile fields: {sorted(unknown)}")
    selection = _editable(user, profile)
    if (
        "name" in fields
        and PresenceProfile.objects.filter(owner=user, name=fields["name"]).exclude(pk=profile.pk).exists()
    ):
        raise ValidationError({"name": "You already have a profile with this name."})
    for key, value in fields.items():
        setattr(profile, key, value)
    _save_profile(profile)
    _after_edit(user, selection, actor)
    return profile


def delete_profile(*, user, profile: PresenceProfile) -> None:
    if profile.kind != PresenceProfile.Kind.PERSONAL or profile.owner_id != user.pk:
        raise NotAllowed("System profiles cannot be deleted.")
    if Selection.objects.filter(user=user, profile=profile).exists():
        raise InUse("You cannot delete the profile you have selected. Select another profile first.")
    profile.delete()


def copy_profile(*, user, profile: PresenceProfile, name: str | None = None) -> PresenceProfile:
    """Copy a profile available to the user (a system profile, or one of
    their own) into a new personal profile, actions and all."""
    base = name or f"{profile.name} (copy)"
    taken = set(PresenceProfile.objects.filter(owner=user, name__startswith=base).values_list("name", flat=True))
    new_name, n = base, 2
    while new_name in taken:
        new_name, n = f"{base} {n}", n + 1
    with transaction.atomic():
        copy = create_profile(
            user=user,
            name=new_name[:64],
            icon=profile.icon,
            colour=profile.colour,
            icon_visible=profile.icon_visible,
            sticky=profile.sticky,
        )
        Action.objects.bulk_create(
            Action(profile=copy, phase=a.phase, position=a.position, enabled=a.enabled, type=a.type, params=a.params)
            for a in profile.actions.all()
        )
    return copy


def move_profile(*, user, profile: PresenceProfile, direction: int) -> None:
    """Move a personal profile up (-1) or down (+1) in the user's list."""
    if profile.kind != PresenceProfile.Kind.PERSONAL or profile.owner_id != user.pk:
        raise NotAllowed("System profiles cannot be reordered.")
    _move(PresenceProfile.objects.filter(owner=user), profile, direction)


def _move(queryset, item, direction: int) -> None:
    with transaction.atomic():
        items = list(queryset.select_for_update().order_by("position", "id"))
        index = next(i for i, x in enumerate(items) if x.pk == item.pk)
        other = index + (1 if direction > 0 else -1)
        if not 0 <= other < len(items):
            return
        items[index], items[other] = items[other], items[index]
        for position, x in enumerate(items):
            x.position = position
        type(item).objects.bulk_update(items, ["position"])


# --- editing actions --------------------------------------------------------------


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
    selection = _editable(user, profile)
    if phase not in Action.Phase.values:
        raise ValidationError({"phase": "Choose on entering or on leaving."})
    teams, locations = _reference_ids(user)
    clean = validate_params(type, params, teams=teams, locations=locations)
    with transaction.atomic():
        position = (Action.objects.filter(profile=profile, phase=phase).aggregate(m=Max("position"))["m"] or 0) + 1
        action = Action.objects.create(
            profile=profile, phase=phase, position=position, enabled=enabled, type=type, params=clean
        )
    _after_edit(user, selection, actor)
    return action


def update_action(
    *, user, action: Action, params: dict | None = None, enabled: bool | None = None, actor=None
) -> Action:
    selection = _editable(user, action.profile)
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
        _after_edit(user, selection, actor)
    return action


def delete_action(*, user, action: Action, actor=None) -> None:
    selection = _editable(user, action.profile)
    action.delete()
    _after_edit(user, selection, actor)


def move_action(*, user, action: Action, direction: int, actor=None) -> None:
    """Move an action up (-1) or down (+1) within its chain (pascom's arrows)."""
    selection = _editable(user, action.profile)
    _move(Action.objects.filter(profile=action.profile, phase=action.phase), action, direction)
    _after_edit(user, selection, actor)


def get_own_action(user, action_id) -> Action:
    return Action.objects.select_related("profile").get(
        pk=action_id, profile__owner=user, profile__kind=PresenceProfile.Kind.PERSONAL
    )


__all__ = [
    "PortalError",
    "Switch",
    "SwitchOutcome",
    "SwitchResult",
    "switch_profiles",
    "available_profiles",
    "select_profile",
    "reapply",
    "preview_switch",
    "preview_changes",
    "reapply_many",
    "create_profile",
    "update_profile",
    "delete_profile",
    "copy_profile",
    "move_profile",
    "add_action",
    "update_action",
    "delete_action",
    "move_action",
]
