"""The one switching core: every switch of a user's profile (a page, the
API, a trigger, a meeting, a timer, an administrator, seeding) goes through
``switch_profiles``, for one user or ten thousand. ``select_profile`` is its
one-item call. Here and only here: the permission rule, the sticky rule,
prompts, the Selection and SwitchEvent rows, the target.

What a switch reads every time and what rarely changes (the profiles, their
chains, who may select what, the accounts, the users' devices) comes from
profiles.catalog, kept per process. On PostgreSQL a switch with a warm
catalog is then ONE statement for the whole batch. It

- checks that the catalog it was planned with is still current (its version);
- takes the account locks (the per-user mutex every state change of a user
  takes) and the selection rows, so it sees the newest selection;
- applies the sticky rule for automatic sources;
- picks each user's desired state by the profile being left (its exit chain
  runs first, docs/rules.md#rule-1): the plan carries one state for leaving any profile
  without an exit chain and one per profile with one;
- moves the selections, stores the targets (version + 1; a target not yet
  applied keeps the extensions the new one leaves out), writes the switch
  events and the prompt values, and returns per user what it did.

A user whose catalog was stale, or whose selection is a profile the plan did
not cover, is planned again after a fresh read (the loop below). Other
databases (SQLite, the embedded default) run the same plan with the ORM
inside one transaction, which SQLite serialises.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from dataclasses import dataclass, field
from functools import cached_property

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from devices import converge as device_converge
from devices import services as device_services
from devices.models import Mismatch, TargetState
from devices.state import UserState
from live import publish as live
from portal import bulk, redis_batch
from profiles import catalog as catalogs
from profiles.actions import clean_prompt_values, prompts_needed
from profiles.engine import desired_state, released_softphone_state
from profiles.errors import NotAllowed, PresenceDisabled, PromptRequired
from profiles.models import Account, Action, PresenceProfile, RecentValue, Selection, SwitchEvent
from profiles.selectors import load_devices, load_devices_many

Source = Selection.Source
# Sources that are automation: they never leave a sticky profile (docs/rules.md#rule-9).
AUTOMATIC_SOURCES = frozenset(
    {
        Source.TRIGGER,
        Source.MEETING,
        Source.MEETING_END,
        Source.CLEAR_AFTER,
        Source.SESSION_END,
        Source.SESSION_BACK,
    }
)
# What a return switches with -> the source whose selection it may leave even
# when that profile is sticky: a meeting's end (back, or to a timer that ran
# out) leaves the profile the meeting selected (pascom: pin the meeting
# profile, and return after the meeting; README "Precedence"), and a client
# connecting again leaves the profile its session trigger selected. A
# sticky profile chosen by hand still blocks them.
RETURNS_FROM = {
    Source.MEETING_END: Source.MEETING,
    Source.CLEAR_AFTER: Source.MEETING,
    Source.SESSION_BACK: Source.SESSION_END,
}


def sticky_blocks(*, sticky: bool, selected_by: str, source: str) -> bool:
    """The sticky rule: an automatic source never leaves a sticky profile,
    except a return leaving the profile its own start selected."""
    if source not in AUTOMATIC_SOURCES or not sticky:
        return False
    return selected_by != RETURNS_FROM.get(source)


# Rounds of compare-and-set before giving up on a user whose selection keeps moving.
MAX_ROUNDS = 10


class SwitchOutcome(enum.StrEnum):
    SWITCHED = "switched"
    STICKY = "sticky"  # an automatic source met a sticky profile (docs/rules.md#rule-9)
    DISABLED = "disabled"  # no account, or presence profiles are off for the user
    NOT_ALLOWED = "not allowed"  # not a profile this user may select
    PROMPT_REQUIRED = "prompt required"  # the profile asks for values that were not given or are invalid


@dataclass(frozen=True)
class Switch:
    """One user's switch in a call of switch_profiles."""

    user_id: int
    profile_id: int
    source_detail: str = ""
    prompt_values: dict | None = None
    until: dt.datetime | None = None
    previous_profile_id: int | None = None  # default: the profile left
    actor_id: int | None = None


@dataclass(frozen=True)
class _Written:
    """What a switch wrote, as plain values (a batch switches hundreds of
    users; a page reads the model instances of one)."""

    planned: _Planned
    cat: catalogs.Catalog
    source: str
    now: dt.datetime
    version: int
    applied_version: int
    old_id: int | None
    stored_as_planned: bool = False  # the target stored is the planned state (not merged into an earlier one)


@dataclass(frozen=True)
class SwitchResult:
    """What switch_profiles did for one user. A switched result's
    ``selection`` (the new one), ``target`` (as stored), ``profiles`` (what
    the user may select, in display order) and ``left`` (the profile left)
    are model instances made on first use; None or empty otherwise."""

    outcome: SwitchOutcome
    message: str = ""
    needed: frozenset[str] = frozenset()  # PROMPT_REQUIRED: what the profile asks for
    time_zone: str = ""
    mismatches: int = 0  # open mismatches of the user (a page loads them only when there are any)
    written: _Written | None = field(default=None, repr=False, compare=False)

    @property
    def switched(self) -> bool:
        return self.outcome == SwitchOutcome.SWITCHED

    @property
    def target_version(self) -> int:
        return self.written.version if self.written is not None else 0

    @cached_property
    def selection(self) -> Selection | None:
        w = self.written
        if w is None:
            return None
        p = w.planned
        return Selection(
            user_id=p.switch.user_id,
            profile=p.new.profile,
            previous_profile_id=p.switch.previous_profile_id if p.switch.previous_profile_id is not None else w.old_id,
            since=w.now,
            source=w.source,
            source_detail=p.switch.source_detail[:200],
            prompt_values=p.prompts,
            until=p.switch.until,
        )

    @cached_property
    def target(self) -> TargetState | None:
        w = self.written
        if w is None:
            return None
        return TargetState(
            user_id=w.planned.switch.user_id,
            version=w.version,
            applied_version=w.applied_version,
            status=TargetState.Status.PENDING,
            updated_at=w.now,
        )

    @cached_property
    def profiles(self) -> tuple[PresenceProfile, ...]:
        w = self.written
        return tuple(w.cat.available_profiles(w.planned.switch.user_id)) if w is not None else ()

    @cached_property
    def left(self) -> PresenceProfile | None:
        w = self.written
        old = w.cat.profiles.get(w.old_id) if w is not None else None
        return old.profile if old is not None else None

    def raise_refusal(self) -> SwitchResult:
        """The refusal as the PortalError a person is shown; sticky and
        switched results are returned."""
        if self.outcome == SwitchOutcome.DISABLED:
            raise PresenceDisabled(self.message)
        if self.outcome == SwitchOutcome.NOT_ALLOWED:
            raise NotAllowed(self.message)
        if self.outcome == SwitchOutcome.PROMPT_REQUIRED:
            raise PromptRequired(set(self.needed), self.message) if self.message else PromptRequired(set(self.needed))
        return self


@dataclass
class _Planned:
    switch: Switch
    user: catalogs.UserEntry
    new: catalogs.ProfileEntry
    prompts: dict[str, str]
    states: dict[str, dict]  # "*": leaving a profile without exit chain; str(profile id): leaving that one
    plain: list[int]  # the profiles "*" covers
    old: catalogs.ProfileEntry | None = None  # known only on the ORM path
    # The desired states as values, by the keys of ``states``, when this
    # switch planned them (a kept plan has only the JSON): handed to the
    # batch converge with the target (device_converge.known_targets).
    objects: dict[str, UserState] | None = None

    def key_leaving(self, old_id: int | None) -> str:
        """The key of ``states`` for leaving ``old_id``: its own where it has
        one (an exit chain), else "*". The switch statement picks the same."""
        return str(old_id) if old_id is not None and str(old_id) in self.states else "*"


def select_profile(
    *,
    user,
    profile,
    source: str = Source.USER,
    actor=None,
    source_detail: str = "",
    prompt_values: dict | None = None,
    until: dt.datetime | None = None,
    previous_profile: PresenceProfile | None = None,
) -> SwitchResult:
    """Select ``profile`` (a PresenceProfile or its id) for ``user``: the old
    profile's exit chain, then the new one's enter chain (docs/rules.md#rule-1), stored as
    the user's target with the selection, devices converged after commit.

    Raises PresenceDisabled, NotAllowed or PromptRequired (the profile asks
    for values, docs/rules.md#rule-3, and ``prompt_values`` is None or invalid). An
    automatic source meeting a sticky profile returns outcome STICKY.
    ``until``: clear-after; ``previous_profile``: the profile to return to
    (default: the one left)."""
    switch = Switch(
        user_id=user.pk,
        profile_id=getattr(profile, "pk", profile),
        source_detail=source_detail,
        prompt_values=prompt_values,
        until=until,
        previous_profile_id=previous_profile.pk if previous_profile is not None else None,
        actor_id=actor.pk if actor is not None else None,
    )
    return switch_profiles([switch], source=source)[user.pk].raise_refusal()


def switch_profiles(
    switches: list[Switch], *, source: str, reason: str = "switch", converge_batch=None
) -> dict[int, SwitchResult]:
    """Switch many users (one switch per user) in a fixed number of queries
    whatever their number. Returns user id -> SwitchResult. Converges are
    enqueued on commit (one task for one user, batches for many), or
    ``converge_batch(user_ids)`` is called on commit instead. The converge
    task and the stream servers' wake-up leave in one Redis round trip."""
    with redis_batch.one_round_trip():
        return _switch_profiles(switches, source=source, reason=reason, converge_batch=converge_batch)


def _switch_profiles(switches: list[Switch], *, source: str, reason: str, converge_batch) -> dict[int, SwitchResult]:
    wanted = {s.user_id: s for s in switches}
    results: dict[int, SwitchResult] = {}
    if connection.vendor == "postgresql":
        pending, leaving, fresh = list(wanted), {}, False
        for _ in range(MAX_ROUNDS):
            cat = catalogs.cached()
            if not fresh and (cat.version is None or any(u not in cat.users for u in pending)):
                fresh = True
            if fresh:  # the first round with a cold catalog, or after a stale one
                cat = catalogs.catalog(catalogs.read_version())
            planned, refused = _plan([wanted[u] for u in pending], source, cat, leaving)
            results.update(refused)
            written, again = _write_postgresql(planned, source, cat)
            results.update(written)
            pending = list(again)
            fresh = any(old is None for old in again.values())
            leaving.update({u: old for u, old in again.items() if old is not None})
            if not pending:
                break
        else:
            raise RuntimeError(f"users {pending} could not be switched: their state kept changing")
    else:
        with transaction.atomic():
            cat = catalogs.catalog(catalogs.read_version())
            rows = Selection.objects.filter(user_id__in=list(wanted)).values_list("user_id", "profile_id", "source")
            current = {user_id: profile_id for user_id, profile_id, _ in rows}
            selected_by = {user_id: by for user_id, _, by in rows}
            planned, refused = _plan(switches, source, cat, current, exact=True, selected_by=selected_by)
            results.update(refused)
            results.update(_write_orm(planned, source, cat))
    switched = [u for u, r in results.items() if r.switched]
    # The presence events were stored with the switch (the write functions).
    if converge_batch is not None and switched:
        known = _stored_targets(results[u].written for u in switched)
        transaction.on_commit(lambda: _converge_known(converge_batch, switched, known))
    elif len(switched) == 1:
        device_services.enqueue_converge(switched[0], reason=reason)
    elif switched:
        device_services.enqueue_converge_many(switched, reason=reason)
    return results


def _stored_targets(written) -> dict[int, tuple[int, UserState]]:
    """User id -> (version, desired state) of the targets this switch stored
    exactly as planned, for the batch converge that follows in this task: it
    need not read and decode them again (a thousand at a trigger minute)."""
    known = {}
    for w in written:
        if w is None or not w.stored_as_planned:
            continue
        p = w.planned
        key = p.key_leaving(w.old_id)
        state = p.objects[key] if p.objects is not None else UserState.from_json(p.states[key])
        known[p.switch.user_id] = (w.version, state)
    return known


def _converge_known(converge_batch, user_ids: list[int], known: dict) -> None:
    with device_converge.known_targets(known):
        converge_batch(user_ids)


def presence_data(planned: _Planned, now: dt.datetime) -> dict:
    """The public live event of a switch's new selection: what the board
    shows of it (never the prompt values), from the catalog's plain values."""
    profile = planned.new
    return {
        "user": planned.switch.user_id,
        "profile": profile.name,
        "colour": profile.colour,
        "icon": profile.icon if profile.icon_visible else "",
        "since": now.isoformat(),
    }


# Outcomes of a staff switch, as the API and the admin report them.
STAFF_SKIPS = {
    SwitchOutcome.DISABLED: "presence_disabled",
    SwitchOutcome.NOT_ALLOWED: "not_available",
    SwitchOutcome.PROMPT_REQUIRED: "prompt_required",
    SwitchOutcome.STICKY: "sticky",
}


def staff_switch(
    *, actor, profile: PresenceProfile, user_ids, until: dt.datetime | None = None, prompt_values: dict | None = None
) -> dict[str, int]:
    """Switch a set of users to a system profile (an office closure, a fire
    drill), optionally until a time: then each returns to what they had (the
    clear-after of the due-scan). One call of switch_profiles for all of
    them. A staff member's choice is not automation, so it also leaves
    sticky profiles. Users for whom the profile is not available, who have
    no presence profiles, or whose profile asks for values not given in
    ``prompt_values`` are skipped and counted; inactive users are left out.
    The audit rows name ``actor``. Returns outcome -> number of users."""
    if profile.kind != PresenceProfile.Kind.SYSTEM:
        raise NotAllowed("Staff switch users to system profiles only.")
    active = get_user_model().objects.filter(pk__in=list(user_ids), is_active=True)
    ids = sorted(active.values_list("pk", flat=True))
    detail = f"switched by {actor.get_username()}"
    switches = [
        Switch(
            user_id=user_id,
            profile_id=profile.pk,
            source_detail=detail,
            prompt_values=prompt_values,
            until=until,
            actor_id=actor.pk,
        )
        for user_id in ids
    ]
    counts: dict[str, int] = {}
    results = switch_profiles(switches, source=Source.ADMIN, reason="staff switch") if switches else {}
    for result in results.values():
        outcome = "switched" if result.switched else STAFF_SKIPS[result.outcome]
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


# --- re-apply and preview ---------------------------------------------------------------


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
    """Apply the selected profile's enter chain again (an event of docs/rules.md#rule-4:
    edit of the selected profile, session connect/disconnect, hot-desk
    login/logout, administrator's re-apply, service start). Returns the new
    target version, or None when the user has no selection.

    ``released``: softphones whose client session just ended; the target
    removes the profile's changes from them (docs/rules.md#rule-6)."""
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
        live.publish([(live.APPLY, user_id, {"status": "pending", "version": v}) for user_id, v in versions.items()])
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
    old one's (its exit chain runs first, docs/rules.md#rule-1), in one query."""
    leaving = old is not None and old.pk != profile.pk
    actions = list(Action.objects.filter(profile_id__in={profile.pk, old.pk} if leaving else {profile.pk}))
    new_actions = [a for a in actions if a.profile_id == profile.pk]
    exit_actions = [a for a in actions if a.profile_id == old.pk] if leaving else []
    return new_actions, exit_actions


def _needed_prompts(actions) -> set[str]:
    """What the enabled actions of a chain ask for at selection (docs/rules.md#rule-3)."""
    return set().union(*(prompts_needed(a.type, a.params) for a in actions if a.enabled))


# --- planning: from the catalog, no queries once it is warm ----------------------------


def _plan(
    switches: list[Switch],
    source: str,
    cat: catalogs.Catalog,
    leaving: dict[int, int],
    *,
    exact: bool = False,
    selected_by: dict[int, str] | None = None,
) -> tuple[list[_Planned], dict[int, SwitchResult]]:
    """The permission rule, prompts, and the desired states. ``leaving``:
    user id -> the profile the user is known to leave (always covered);
    ``exact``: that is the current selection for sure (the ORM path, under
    its transaction), so the sticky rule is applied here too."""
    cat.load_users([s.user_id for s in switches])
    cat.load_profiles({s.profile_id for s in switches} | set(leaving.values()))
    planned, refused = [], {}
    for switch in switches:
        user = cat.users[switch.user_id]
        refusal = _refusal(switch, user, cat)
        old = cat.profiles[leaving[switch.user_id]] if switch.user_id in leaving else None
        if (
            refusal is None
            and exact
            and old is not None
            and sticky_blocks(sticky=old.sticky, selected_by=(selected_by or {}).get(switch.user_id, ""), source=source)
        ):
            refusal = SwitchResult(SwitchOutcome.STICKY, f"{old.name} is sticky")
        if refusal is not None:
            refused[switch.user_id] = refusal
            continue
        entry = cat.profiles[switch.profile_id]
        try:
            prompts = _clean_prompts(entry.prompts, switch.prompt_values)
        except PromptRequired as exc:
            refused[switch.user_id] = SwitchResult(
                SwitchOutcome.PROMPT_REQUIRED, exc.message, needed=frozenset(entry.prompts)
            )
            continue
        key = (switch.user_id, entry.pk, old.pk if old else None, exact)
        # Without prompt values a plan depends only on the catalog: kept.
        kept = None if prompts else cat.plans.get(key)
        objects = None
        if kept is None:
            states, plain, objects = _states(cat, user, entry, old, exact, prompts)
            kept = (states, plain)
            if not prompts:
                cat.keep_plan(key, kept)
        states, plain = kept
        planned.append(_Planned(switch, user, entry, prompts, states, plain, old, objects))
    return planned, refused


def _states(cat, user, entry, old, exact: bool, prompts: dict) -> tuple[dict[str, dict], list[int], dict]:
    """The user's desired state on selecting ``entry``, for each profile it
    may be leaving: one for every profile with an exit chain, "*" for the
    rest (listed in ``plain``); as JSON and as values."""
    candidates = {*user.available, *([old.pk] if old else [])} - {entry.pk}
    if exact:
        candidates &= {old.pk} if old else set()
    with_exit = [pk for pk in candidates if cat.profiles[pk].has_exit_chain]

    def state(exit_actions=()):
        if not user.devices:
            return UserState()
        return desired_state(user.devices, entry, entry.actions, exit_actions=exit_actions, prompts=prompts)

    objects = {"*": state(), **{str(pk): state(cat.profiles[pk].actions) for pk in with_exit}}
    return {key: value.to_json() for key, value in objects.items()}, sorted(candidates - set(with_exit)), objects


def _refusal(switch: Switch, user: catalogs.UserEntry, cat: catalogs.Catalog) -> SwitchResult | None:
    """The permission rule; None when the switch may go ahead."""
    if not user.has_account:
        return SwitchResult(SwitchOutcome.DISABLED, _("Presence profiles are not set up for this user."))
    if not user.enabled:
        return SwitchResult(
            SwitchOutcome.DISABLED, _("Presence profiles are not enabled for this user; ask your administrator.")
        )
    profile = cat.profiles.get(switch.profile_id)
    if profile is None:
        return SwitchResult(SwitchOutcome.NOT_ALLOWED, _("That profile does not exist."))
    if profile.kind == PresenceProfile.Kind.PERSONAL and profile.owner_id != switch.user_id:
        return SwitchResult(SwitchOutcome.NOT_ALLOWED, _("That profile belongs to someone else."))
    if profile.kind == PresenceProfile.Kind.TEMPLATE:
        return SwitchResult(SwitchOutcome.NOT_ALLOWED, _("Templates cannot be selected; they are copied to users."))
    if profile.kind == PresenceProfile.Kind.SYSTEM and profile.pk not in cat.system.get(user.client_profile_id, ()):
        return SwitchResult(SwitchOutcome.NOT_ALLOWED, _("That system profile is not available to you."))
    return None


def _clean_prompts(needed: set[str], values: dict | None) -> dict[str, str]:
    if not needed:
        return {}
    if values is None:
        raise PromptRequired(set(needed))
    try:
        return clean_prompt_values(needed, values)
    except ValidationError as exc:
        raise PromptRequired(set(needed), "; ".join(exc.messages)) from None


def _switched(
    p: _Planned,
    cat: catalogs.Catalog,
    source: str,
    now,
    *,
    version,
    applied_version,
    old_id,
    mismatches,
    as_planned: bool = False,
) -> SwitchResult:
    return SwitchResult(
        SwitchOutcome.SWITCHED,
        time_zone=p.user.time_zone,
        mismatches=mismatches,
        written=_Written(p, cat, source, now, version, applied_version, old_id, as_planned),
    )


# --- the write: one statement on PostgreSQL ------------------------------------------------

_WRITE_SQL = """
WITH v AS (
    -- One JSON document of rows (_write_postgresql): a json.dumps in C
    -- instead of a Python call per value for eleven binary arrays.
    SELECT (r ->> 0)::bigint AS user_id, (r ->> 1)::bigint AS profile_id, (r ->> 2)::bigint AS previous_id,
        r ->> 3 AS detail, r -> 4 AS prompts, (r ->> 5)::timestamptz AS until, r -> 6 AS states,
        r -> 7 AS plain, (r ->> 8)::bigint AS actor_id, r ->> 9 AS new_name, r -> 10 AS event
    FROM jsonb_array_elements(%(rows)s::jsonb) AS r
),
current AS (
    SELECT (SELECT value FROM profiles_catalogversion WHERE id = 1) IS NOT DISTINCT FROM %(version)s AS ok
),
locked AS (
    SELECT a.user_id FROM profiles_account a
    WHERE a.user_id IN (SELECT user_id FROM v) AND (SELECT ok FROM current)
    ORDER BY a.user_id FOR UPDATE
),
old AS (
    SELECT s.user_id, s.profile_id, s.source AS selected_by, p.name, p.sticky
    FROM profiles_selection s JOIN profiles_presenceprofile p ON p.id = s.profile_id
    WHERE s.user_id IN (SELECT user_id FROM locked)
    FOR UPDATE OF s
),
plan AS (
    SELECT v.*, o.profile_id AS old_id, o.name AS old_name,
        CASE
            WHEN l.user_id IS NULL THEN 'stale'
            WHEN %(automatic)s AND o.sticky AND o.selected_by IS DISTINCT FROM %(returns_from)s THEN 'sticky'
            WHEN o.profile_id IS NULL OR o.profile_id = v.profile_id OR v.states ? o.profile_id::text
                OR v.plain @> to_jsonb(o.profile_id) THEN 'go'
            ELSE 'unplanned'
        END AS status,
        CASE WHEN o.profile_id IS NULL OR o.profile_id = v.profile_id THEN v.states -> '*'
            ELSE COALESCE(v.states -> o.profile_id::text, v.states -> '*')
        END AS state
    FROM v LEFT JOIN locked l ON l.user_id = v.user_id LEFT JOIN old o ON o.user_id = v.user_id
),
moved AS (
    UPDATE profiles_selection s
    SET profile_id = plan.profile_id, previous_profile_id = COALESCE(plan.previous_id, plan.old_id),
        since = %(now)s, source = %(source)s, source_detail = plan.detail, prompt_values = plan.prompts,
        until = plan.until
    FROM plan
    WHERE s.user_id = plan.user_id AND plan.status = 'go' AND plan.old_id IS NOT NULL
    RETURNING s.user_id
),
created AS (
    INSERT INTO profiles_selection
        (user_id, profile_id, previous_profile_id, since, source, source_detail, prompt_values, until,
         until_profile_id)
    SELECT plan.user_id, plan.profile_id, plan.previous_id, %(now)s, %(source)s, plan.detail, plan.prompts,
        plan.until, NULL
    FROM plan WHERE plan.status = 'go' AND plan.old_id IS NULL
    ON CONFLICT (user_id) DO NOTHING
    RETURNING user_id
),
done AS (SELECT user_id FROM moved UNION ALL SELECT user_id FROM created),
target AS (
    INSERT INTO devices_targetstate AS t
        (user_id, version, state, applied_version, applied_state, status, error, error_permanent, updated_at)
    SELECT plan.user_id, 1, plan.state, 0, '{}'::jsonb, 'pending', '', FALSE, %(now)s
    FROM plan JOIN done ON done.user_id = plan.user_id
    ON CONFLICT (user_id) DO UPDATE SET
        version = t.version + 1,
        state = CASE WHEN t.status <> 'applied' THEN jsonb_set(
            EXCLUDED.state, '{extensions}',
            COALESCE(t.state -> 'extensions', '{}'::jsonb) || (EXCLUDED.state -> 'extensions'))
            ELSE EXCLUDED.state END,
        status = 'pending', error = '', error_permanent = FALSE, retry_count = 0, retry_at = NULL,
        updated_at = EXCLUDED.updated_at
    RETURNING t.user_id, t.version, t.applied_version, t.state
),
audit AS (
    INSERT INTO profiles_switchevent
        (user_id, actor_id, source, source_detail, event, old_profile_id, new_profile_id, old_name, new_name,
         prompt_values, target_version, created_at)
    SELECT plan.user_id, plan.actor_id, %(source)s, plan.detail, 'select', plan.old_id, plan.profile_id,
        COALESCE(plan.old_name, ''), plan.new_name, plan.prompts, target.version, %(now)s
    FROM plan JOIN target ON target.user_id = plan.user_id
),
published AS (
    -- The public presence event (live/store.py's table), stored with the
    -- switch; the stream servers are woken after commit (live.announce).
    INSERT INTO live_event (kind, owner_id, data, created_at)
    SELECT %(event_kind)s, NULL, plan.event, %(now)s
    FROM plan JOIN target ON target.user_id = plan.user_id
    ORDER BY plan.user_id
    RETURNING id, (data ->> 'user')::bigint AS user_id
)"""

# The prompt values typed, offered again next time (the recent values): only
# for switches that carry any. Its insert costs PostgreSQL about 20 µs even
# for no rows, and most switches carry none.
_REMEMBERED_SQL = """,
remembered AS (
    INSERT INTO profiles_recentvalue (user_id, kind, value, last_used)
    SELECT plan.user_id, e.key, e.value, %(now)s
    FROM plan JOIN done ON done.user_id = plan.user_id, jsonb_each_text(plan.prompts) AS e
    WHERE e.value <> ''
    ON CONFLICT (user_id, kind, value) DO UPDATE SET last_used = EXCLUDED.last_used
)"""

_RESULT_SQL = """
SELECT plan.user_id, CASE WHEN target.user_id IS NOT NULL THEN 'switched' WHEN plan.status = 'go' THEN 'moved'
        ELSE plan.status END,
    target.version, target.applied_version, plan.old_id, plan.old_name,
    (SELECT COUNT(*) FROM devices_mismatch m WHERE m.user_id = plan.user_id AND target.user_id IS NOT NULL),
    published.id, COALESCE(target.state = plan.state, FALSE)
FROM plan LEFT JOIN target ON target.user_id = plan.user_id LEFT JOIN published ON published.user_id = plan.user_id
"""

WRITE = bulk.Statement(_WRITE_SQL + _REMEMBERED_SQL + _RESULT_SQL)
WRITE_WITHOUT_PROMPTS = bulk.Statement(_WRITE_SQL + _RESULT_SQL)


def _write_postgresql(
    planned: list[_Planned], source: str, cat: catalogs.Catalog
) -> tuple[dict[int, SwitchResult], dict[int, int | None]]:
    """Returns the results, and the users to plan again: user id -> the
    profile they leave (a profile the plan did not cover), or None (the
    catalog was stale)."""
    if not planned:
        return {}, {}
    now = timezone.now()
    events = {p.switch.user_id: presence_data(p, now) for p in planned}
    params = {
        "now": now,
        "source": source,
        "automatic": source in AUTOMATIC_SOURCES,
        # sticky_blocks() in SQL: a return leaves its own start's sticky profile.
        "returns_from": RETURNS_FROM.get(source),
        "version": cat.version,
        # Each switch as a row: user, profile, previous, detail, prompts,
        # until (ISO text with its offset), states, plain, actor, new name, event.
        "rows": json.dumps(
            [
                (
                    p.switch.user_id,
                    p.new.pk,
                    p.switch.previous_profile_id,
                    p.switch.source_detail[:200],
                    p.prompts,
                    p.switch.until.isoformat() if p.switch.until is not None else None,
                    p.states,
                    p.plain,
                    p.switch.actor_id,
                    p.new.name,
                    events[p.switch.user_id],
                )
                for p in planned
            ]
        ),
        "event_kind": live.PRESENCE,
    }
    by_user = {p.switch.user_id: p for p in planned}
    results, again, stored = {}, {}, []
    rows = (WRITE if any(p.prompts for p in planned) else WRITE_WITHOUT_PROMPTS).run(params)
    for user_id, status, version, applied, old_id, old_name, mismatches, event_id, as_planned in rows:
        if status == "switched":
            stored.append({"id": event_id, "kind": live.PRESENCE, "owner_id": None, "data": events[user_id]})
            results[user_id] = _switched(
                by_user[user_id],
                cat,
                source,
                now,
                version=version,
                applied_version=applied,
                old_id=old_id,
                mismatches=mismatches,
                as_planned=as_planned,
            )
        elif status == "sticky":
            results[user_id] = SwitchResult(SwitchOutcome.STICKY, f"{old_name} is sticky")
        elif status == "unplanned":
            again[user_id] = old_id
        else:  # "stale": the catalog changed; "moved": a first selection raced another one
            again[user_id] = None
    live.announce(sorted(stored, key=lambda e: e["id"]))
    return results, again


def _write_orm(planned: list[_Planned], source: str, cat: catalogs.Catalog) -> dict[int, SwitchResult]:
    """The write with the ORM, inside the caller's transaction (SQLite: the
    database is locked for writing from its start, so nothing moved)."""
    if not planned:
        return {}
    now = timezone.now()
    states = {p.switch.user_id: p.states[p.key_leaving(p.old.pk if p.old else None)] for p in planned}
    versions = device_services.store_targets({u: UserState.from_json(s) for u, s in states.items()})
    applied = dict(TargetState.objects.filter(user_id__in=list(versions)).values_list("user_id", "applied_version"))
    mismatches = dict(
        Mismatch.objects.filter(user_id__in=list(versions)).values_list("user_id").annotate(n=Count("id"))
    )
    results = {
        p.switch.user_id: _switched(
            p,
            cat,
            source,
            now,
            version=versions[p.switch.user_id],
            applied_version=applied.get(p.switch.user_id, 0),
            old_id=p.old.pk if p.old else None,
            mismatches=mismatches.get(p.switch.user_id, 0),
        )
        for p in planned
    }
    had = {p.switch.user_id for p in planned if p.old is not None}
    changed = [r.selection for u, r in results.items() if u in had]
    created = [r.selection for u, r in results.items() if u not in had]
    fields = ["previous_profile", "profile", "since", "source", "source_detail", "prompt_values", "until"]
    if changed:
        bulk.bulk_update(Selection, changed, fields)
    if created:
        Selection.objects.bulk_create(created)
    SwitchEvent.objects.bulk_create(
        SwitchEvent(
            user_id=p.switch.user_id,
            actor_id=p.switch.actor_id,
            source=source,
            source_detail=p.switch.source_detail[:200],
            event="select",
            old_profile_id=p.old.pk if p.old else None,
            new_profile_id=p.new.pk,
            old_name=p.old.name if p.old else "",
            new_name=p.new.name,
            prompt_values=p.prompts,
            target_version=versions[p.switch.user_id],
        )
        for p in planned
    )
    recent = [
        RecentValue(user_id=p.switch.user_id, kind=kind, value=value, last_used=now)
        for p in planned
        for kind, value in p.prompts.items()
        if value
    ]
    if recent:
        RecentValue.objects.bulk_create(
            recent, update_conflicts=True, unique_fields=["user", "kind", "value"], update_fields=["last_used"]
        )
    live.publish([(live.PRESENCE, None, presence_data(p, now)) for p in planned])
    return results
