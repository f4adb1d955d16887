"""Switching: selecting a profile, re-applying the selected one, and the
preview of a switch. Each runs in one transaction with the user's account
row locked, stores the target state and its audit row, and enqueues the
converge on commit (docs/architecture.md#state-model)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from devices import services as device_services
from devices.state import UserState
from portal import bulk
from profiles.actions import clean_prompt_values, prompts_needed
from profiles.engine import desired_state, released_softphone_state
from profiles.errors import NotAllowed, PresenceDisabled, PromptRequired
from profiles.models import Account, Action, ClientProfile, PresenceProfile, RecentValue, Selection, SwitchEvent
from profiles.selectors import load_devices, load_devices_many

Source = Selection.Source
# Sources that are automation: they never leave a sticky profile (rule 9).
AUTOMATIC_SOURCES = {
    Source.TRIGGER,
    Source.MEETING,
    Source.MEETING_END,
    Source.CLEAR_AFTER,
    Source.SESSION_END,
    Source.SESSION_BACK,
}


def _lock_account(user) -> Account:
    """Lock the user's account row: the per-user mutex that serialises
    switches, so the last committed selection is the target (issue: two
    switches at the same moment end consistent)."""
    try:
        return (
            Account.objects.select_for_update(of=("self",))
            .select_related("client_profile", "primary_extension", "user")
            .get(user=user)
        )
    except Account.DoesNotExist:
        raise PresenceDisabled("Presence profiles are not set up for this user.") from None


def _require_presence(account: Account) -> None:
    if not account.presence_enabled:
        raise PresenceDisabled("Presence profiles are not enabled for this user; ask your administrator.")


@dataclass(frozen=True)
class SwitchResult:
    selection: Selection | None
    switched: bool
    skipped_reason: str = ""
    target_version: int = 0


def select_profile(
    *,
    user,
    profile: PresenceProfile,
    source: str = Source.USER,
    actor=None,
    source_detail: str = "",
    prompt_values: dict | None = None,
    until: dt.datetime | None = None,
    previous_profile: PresenceProfile | None = None,
) -> SwitchResult:
    """Select ``profile`` for ``user``: the old profile's exit chain, then the
    new one's enter chain (rule 1), stored as the user's target state in the
    same transaction, devices converged after commit.

    ``prompt_values``: values for "prompt on selection" settings (rule 3);
    PromptRequired is raised when the profile asks for values and none were
    given. Automatic sources never leave a sticky profile: the result says
    ``skipped_reason="sticky"``. ``until``: clear-after, return to the
    previous profile at that time. ``previous_profile``: overrides the
    profile to return to (used when returning from a meeting/timer).
    """
    with transaction.atomic():
        account = _lock_account(user)
        _require_presence(account)
        if profile.kind == PresenceProfile.Kind.PERSONAL and not profile.is_owned_by(user):
            raise NotAllowed("That profile belongs to someone else.")
        if profile.kind == PresenceProfile.Kind.TEMPLATE:
            raise NotAllowed("Templates cannot be selected; they are copied to users.")
        if (
            profile.kind == PresenceProfile.Kind.SYSTEM
            and not account.client_profile.system_profiles.filter(pk=profile.pk).exists()
        ):
            raise NotAllowed("That system profile is not available to you.")
        selection = Selection.objects.select_related("profile").filter(user=user).first()
        if source in AUTOMATIC_SOURCES and selection is not None and selection.profile.sticky:
            return SwitchResult(selection=selection, switched=False, skipped_reason="sticky")

        old = selection.profile if selection else None
        new_actions, exit_actions = _switch_chains(profile, old)
        prompts = _prompts_for(new_actions, prompt_values)

        devices = load_devices(account)
        desired = (
            desired_state(devices, profile, new_actions, exit_actions=exit_actions, prompts=prompts)
            if devices
            else UserState()
        )
        version = device_services.store_target(user_id=user.pk, desired=desired)

        now = timezone.now()
        if selection is None:
            selection = Selection(user=user)
        selection.previous_profile = previous_profile if previous_profile is not None else old
        selection.profile = profile
        selection.since = now
        selection.source = source
        selection.source_detail = source_detail
        selection.prompt_values = prompts
        selection.until = until
        selection.save()
        SwitchEvent.objects.create(
            user=user,
            actor=actor,
            source=source,
            source_detail=source_detail,
            event="select",
            old_profile=old,
            new_profile=profile,
            old_name=old.name if old else "",
            new_name=profile.name,
            prompt_values=prompts,
            target_version=version,
        )
        _remember_prompt_values(user, prompts, now)
        device_services.enqueue_converge(user.pk, reason="switch")
    return SwitchResult(selection=selection, switched=True, target_version=version)


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


@dataclass(frozen=True)
class AutoSwitch:
    """One user's automatic switch in a batch (select_profile_many)."""

    user_id: int
    profile: PresenceProfile
    source_detail: str = ""
    prompt_values: dict | None = None


def select_profile_many(
    *, switches: list[AutoSwitch], source: str, reason: str = "switch", converge_batch=None
) -> dict[int, str]:
    """select_profile for a batch of automatic switches (e.g. time triggers
    firing at one minute) in a constant number of queries whatever their
    number, with select_profile's rules: presence enabled, the profile the
    user's own or a system profile of their client profile, never leaving a
    sticky profile, prompt values required. One switch per user. Returns
    user id -> "switched", "sticky", "disabled", "not allowed" or
    "prompt: <message>"; converges are enqueued in batches on commit, or
    ``converge_batch(user_ids)`` is called on commit to do it instead."""
    if source not in AUTOMATIC_SOURCES:
        raise ValueError(f"select_profile_many is for automatic sources, not {source!r}")
    wanted = {s.user_id: s for s in switches}
    outcome: dict[int, str] = {}
    with transaction.atomic():
        accounts = {
            a.user_id: a
            for a in Account.objects.select_for_update(of=("self",))
            .select_related("client_profile", "primary_extension")
            .filter(user_id__in=list(wanted))
            .order_by("pk")
        }
        selections = {
            s.user_id: s for s in Selection.objects.select_related("profile").filter(user_id__in=list(accounts))
        }
        system_ids = {s.profile.pk for s in wanted.values() if s.profile.kind == PresenceProfile.Kind.SYSTEM}
        allowed_system = set(
            ClientProfile.system_profiles.through.objects.filter(presenceprofile_id__in=system_ids).values_list(
                "clientprofile_id", "presenceprofile_id"
            )
        )
        ready = []
        for user_id, switch in wanted.items():
            account, selection, profile = accounts.get(user_id), selections.get(user_id), switch.profile
            if account is None or not account.presence_enabled:
                outcome[user_id] = "disabled"
            elif not (
                profile.is_owned_by(user_id)
                or (
                    profile.kind == PresenceProfile.Kind.SYSTEM
                    and (account.client_profile_id, profile.pk) in allowed_system
                )
            ):
                outcome[user_id] = "not allowed"
            elif selection is not None and selection.profile.sticky:
                outcome[user_id] = "sticky"
            else:
                ready.append(switch)
        profile_ids = {s.profile.pk for s in ready} | {
            selections[s.user_id].profile_id for s in ready if s.user_id in selections
        }
        actions: dict[int, list[Action]] = {}
        for action in Action.objects.filter(profile_id__in=profile_ids):
            actions.setdefault(action.profile_id, []).append(action)
        devices = load_devices_many([accounts[s.user_id] for s in ready])
        desired: dict[int, UserState] = {}
        prompts_by_user: dict[int, dict[str, str]] = {}
        for switch in ready:
            selection = selections.get(switch.user_id)
            old = selection.profile if selection else None
            new_actions = actions.get(switch.profile.pk, [])
            exit_actions = actions.get(old.pk, []) if old and old.pk != switch.profile.pk else []
            try:
                prompts = _prompts_for(new_actions, switch.prompt_values)
            except PromptRequired as exc:
                outcome[switch.user_id] = f"prompt: {exc.message}"
                continue
            user_devices = devices.get(switch.user_id)
            desired[switch.user_id] = (
                desired_state(user_devices, switch.profile, new_actions, exit_actions=exit_actions, prompts=prompts)
                if user_devices
                else UserState()
            )
            prompts_by_user[switch.user_id] = prompts
        versions = device_services.store_targets(desired)

        now = timezone.now()
        changed, created, events = [], [], []
        for user_id, version in versions.items():
            switch, selection = wanted[user_id], selections.get(user_id)
            old = selection.profile if selection else None
            if selection is None:
                selection = Selection(user_id=user_id)
                created.append(selection)
            else:
                changed.append(selection)
            selection.previous_profile = old
            selection.profile = switch.profile
            selection.since = now
            selection.source = source
            selection.source_detail = switch.source_detail[:200]
            selection.prompt_values = prompts_by_user[user_id]
            selection.until = None
            events.append(
                SwitchEvent(
                    user_id=user_id,
                    source=source,
                    source_detail=switch.source_detail[:200],
                    event="select",
                    old_profile=old,
                    new_profile=switch.profile,
                    old_name=old.name if old else "",
                    new_name=switch.profile.name,
                    prompt_values=prompts_by_user[user_id],
                    target_version=version,
                )
            )
            outcome[user_id] = "switched"
        fields = ["previous_profile", "profile", "since", "source", "source_detail", "prompt_values", "until"]
        if changed:
            bulk.bulk_update(Selection, changed, fields)
        if created:
            Selection.objects.bulk_create(created)
        SwitchEvent.objects.bulk_create(events)
        recent = [
            RecentValue(user_id=user_id, kind=kind, value=value, last_used=now)
            for user_id, prompts in prompts_by_user.items()
            if user_id in versions
            for kind, value in prompts.items()
            if value
        ]
        if recent:
            RecentValue.objects.bulk_create(
                recent, update_conflicts=True, unique_fields=["user", "kind", "value"], update_fields=["last_used"]
            )
        if converge_batch is not None and versions:
            ids = list(versions)
            transaction.on_commit(lambda: converge_batch(ids))
        elif len(versions) == 1:
            device_services.enqueue_converge(next(iter(versions)), reason=reason)
        elif versions:
            device_services.enqueue_converge_many(list(versions), reason=reason)
    return outcome


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


def _prompts_for(actions, prompt_values: dict | None) -> dict[str, str]:
    needed = _needed_prompts(actions)
    if not needed:
        return {}
    if prompt_values is None:
        raise PromptRequired(needed)
    try:
        return clean_prompt_values(needed, prompt_values)
    except ValidationError as exc:
        raise PromptRequired(needed, "; ".join(exc.messages)) from None


def _remember_prompt_values(user, prompts: dict[str, str], now) -> None:
    for kind, value in prompts.items():
        if value:
            RecentValue.objects.update_or_create(user=user, kind=kind, value=value, defaults={"last_used": now})
