"""The one switching core: every switch of a user's profile (a page, the
API, a trigger, a meeting, a timer, an administrator, seeding) goes through
``switch_profiles``, for one user or ten thousand. ``select_profile`` is its
one-item call. Here and only here: the permission rule, the sticky rule,
prompts, the Selection and SwitchEvent rows, the target.

Its cost does not grow with what it reads every time: the profiles, their
chains, who may select what and the users' devices come from
profiles.catalog (kept per process, dropped when any of it changes). Per
call, on PostgreSQL:

1. one read: the accounts, their selections, the catalog version and the
   number of open mismatches, for all users of the batch;
2. the desired states, computed in Python;
3. one write, a single statement: it takes the account locks (the per-user
   mutex every state change of a user takes), moves each selection only if
   it is still the one read in 1 (compare-and-set), stores the targets
   (version + 1; a target not yet applied keeps the extensions the new one
   leaves out), writes the switch events and the prompt values, and returns
   the new versions.

A user whose selection moved between 1 and 3 (another switch won) is read
and computed again. Other databases (SQLite, the embedded default) run the
same steps with the ORM inside one transaction, which SQLite serialises.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from devices import services as device_services
from devices.models import TargetState
from devices.state import UserState
from portal import bulk
from profiles import catalog as catalogs
from profiles.actions import clean_prompt_values, prompts_needed
from profiles.engine import desired_state, released_softphone_state
from profiles.errors import NotAllowed, PresenceDisabled, PromptRequired
from profiles.models import Account, Action, PresenceProfile, RecentValue, Selection, SwitchEvent
from profiles.selectors import load_devices, load_devices_many

Source = Selection.Source
# Sources that are automation: they never leave a sticky profile (rule 9).
AUTOMATIC_SOURCES = frozenset({Source.TRIGGER, Source.MEETING, Source.MEETING_END, Source.CLEAR_AFTER})
# Rounds of compare-and-set before giving up on a user whose selection keeps moving.
MAX_ROUNDS = 10


class SwitchOutcome(enum.StrEnum):
    SWITCHED = "switched"
    STICKY = "sticky"  # an automatic source met a sticky profile (rule 9)
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
class SwitchResult:
    outcome: SwitchOutcome
    message: str = ""
    selection: Selection | None = None  # the new one; the current one when not switched
    target: TargetState | None = None  # as stored (switched only)
    needed: frozenset[str] = frozenset()  # PROMPT_REQUIRED: what the profile asks for
    profiles: tuple[PresenceProfile, ...] = ()  # what the user may select, in display order
    left: PresenceProfile | None = None  # the profile left (switched only)
    time_zone: str = ""
    mismatches: int = 0  # open mismatches of the user (a page loads them only when there are any)

    @property
    def switched(self) -> bool:
        return self.outcome == SwitchOutcome.SWITCHED

    @property
    def target_version(self) -> int:
        return self.target.version if self.target is not None else 0

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
class _Row:
    """What step 1 read for one user."""

    client_profile_id: int | None
    enabled: bool
    time_zone: str
    selection: Selection | None
    mismatches: int


@dataclass
class _Planned:
    switch: Switch
    row: _Row
    old: PresenceProfile | None
    new: PresenceProfile
    prompts: dict[str, str]
    desired: UserState
    previous_id: int | None
    result_profiles: tuple[PresenceProfile, ...] = field(default=())


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
    profile's exit chain, then the new one's enter chain (rule 1), stored as
    the user's target with the selection, devices converged after commit.

    Raises PresenceDisabled, NotAllowed or PromptRequired (the profile asks
    for values, rule 3, and ``prompt_values`` is None or invalid). An
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
    ``converge_batch(user_ids)`` is called on commit instead."""
    wanted = {s.user_id: s for s in switches}
    results: dict[int, SwitchResult] = {}
    if connection.vendor == "postgresql":
        pending = list(wanted)
        for _ in range(MAX_ROUNDS):
            planned, refused = _plan([wanted[u] for u in pending], source)
            results.update(refused)
            written = _write_postgresql(planned, source)
            results.update(written)
            pending = [p.switch.user_id for p in planned if p.switch.user_id not in written]
            if not pending:
                break
        else:
            raise RuntimeError(f"selections of users {pending} kept changing; nothing switched for them")
    else:
        with transaction.atomic():
            planned, refused = _plan(switches, source)
            results.update(refused)
            results.update(_write_orm(planned, source))
    switched = [u for u, r in results.items() if r.switched]
    if converge_batch is not None and switched:
        transaction.on_commit(lambda: converge_batch(switched))
    elif len(switched) == 1:
        device_services.enqueue_converge(switched[0], reason=reason)
    elif switched:
        device_services.enqueue_converge_many(switched, reason=reason)
    return results


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


# --- step 1 and 2: read, decide, compute -----------------------------------------------

READ_SQL = f"""
SELECT a.user_id, a.client_profile_id, cp.presence_profiles_enabled, a.time_zone,
       s.profile_id, s.previous_profile_id, s.since, s.source, s.source_detail, s.prompt_values,
       s.until, s.until_profile_id,
       (SELECT COUNT(*) FROM devices_mismatch m WHERE m.user_id = a.user_id),
       {catalogs.VERSION_SQL}
FROM profiles_account a
LEFT JOIN profiles_clientprofile cp ON cp.id = a.client_profile_id
LEFT JOIN profiles_selection s ON s.user_id = a.user_id
WHERE a.user_id IN ({{ids}})
"""


def _read(user_ids: list[int]) -> tuple[dict[int, _Row], int | None]:
    rows: dict[int, _Row] = {}
    version = None
    with connection.cursor() as cursor:
        cursor.execute(READ_SQL.format(ids=", ".join(["%s"] * len(user_ids))), user_ids)
        for (
            user_id,
            client_id,
            enabled,
            time_zone,
            profile_id,
            previous_id,
            since,
            src,
            detail,
            prompts,
            until,
            until_profile_id,
            mismatches,
            row_version,
        ) in cursor.fetchall():
            version = row_version
            selection = None
            if profile_id is not None:
                selection = Selection(
                    user_id=user_id,
                    profile_id=profile_id,
                    previous_profile_id=previous_id,
                    since=_datetime(since),
                    source=src,
                    source_detail=detail,
                    prompt_values=_json(prompts),
                    until=_datetime(until),
                    until_profile_id=until_profile_id,
                )
            rows[user_id] = _Row(client_id, bool(enabled), time_zone, selection, mismatches)
    return rows, version


def _datetime(value):
    if value is None or isinstance(value, dt.datetime):
        return value
    parsed = parse_datetime(value)  # SQLite keeps text
    return timezone.make_aware(parsed, dt.UTC) if timezone.is_naive(parsed) else parsed


def _json(value):
    return json.loads(value) if isinstance(value, str | bytes) else (value or {})


def _plan(switches: list[Switch], source: str) -> tuple[list[_Planned], dict[int, SwitchResult]]:
    rows, version = _read([s.user_id for s in switches])
    cat = catalogs.catalog(version)
    cat.load_users(list(rows))
    cat.load_profiles({s.profile_id for s in switches} | {r.selection.profile_id for r in rows.values() if r.selection})
    planned, refused = [], {}
    for switch in switches:
        row = rows.get(switch.user_id)
        refusal = _refusal(switch, row, source, cat)
        if refusal is not None:
            refused[switch.user_id] = refusal
            continue
        entry = cat.profiles[switch.profile_id]
        old_entry = cat.profiles[row.selection.profile_id] if row.selection else None
        leaving = old_entry is not None and old_entry.profile.pk != entry.profile.pk
        needed = entry.prompts
        try:
            prompts = _clean_prompts(needed, switch.prompt_values)
        except PromptRequired as exc:
            refused[switch.user_id] = SwitchResult(
                SwitchOutcome.PROMPT_REQUIRED, exc.message, row.selection, needed=frozenset(needed)
            )
            continue
        user = cat.users[switch.user_id]
        desired = (
            desired_state(
                user.devices,
                entry.profile,
                entry.actions,
                exit_actions=old_entry.actions if leaving else (),
                prompts=prompts,
            )
            if user.devices
            else UserState()
        )
        old = old_entry.profile if old_entry else None
        planned.append(
            _Planned(
                switch=switch,
                row=row,
                old=old,
                new=entry.profile,
                prompts=prompts,
                desired=desired,
                previous_id=switch.previous_profile_id
                if switch.previous_profile_id is not None
                else (old.pk if old else None),
                result_profiles=tuple(cat.available_profiles(switch.user_id)),
            )
        )
    return planned, refused


def _refusal(switch: Switch, row: _Row | None, source: str, cat: catalogs.Catalog) -> SwitchResult | None:
    """The permission and sticky rules; None when the switch may go ahead."""
    if row is None:
        return SwitchResult(SwitchOutcome.DISABLED, "Presence profiles are not set up for this user.")
    if not row.enabled:
        return SwitchResult(
            SwitchOutcome.DISABLED,
            "Presence profiles are not enabled for this user; ask your administrator.",
            row.selection,
        )
    entry = cat.profiles.get(switch.profile_id)
    profile = entry.profile if entry else None
    if profile is None:
        return SwitchResult(SwitchOutcome.NOT_ALLOWED, "That profile does not exist.", row.selection)
    if profile.kind == PresenceProfile.Kind.PERSONAL and profile.owner_id != switch.user_id:
        return SwitchResult(SwitchOutcome.NOT_ALLOWED, "That profile belongs to someone else.", row.selection)
    if profile.kind == PresenceProfile.Kind.TEMPLATE:
        return SwitchResult(
            SwitchOutcome.NOT_ALLOWED, "Templates cannot be selected; they are copied to users.", row.selection
        )
    if profile.kind == PresenceProfile.Kind.SYSTEM and profile.pk not in cat.system.get(row.client_profile_id, ()):
        return SwitchResult(SwitchOutcome.NOT_ALLOWED, "That system profile is not available to you.", row.selection)
    if source in AUTOMATIC_SOURCES and row.selection is not None:
        current = cat.profiles[row.selection.profile_id].profile
        if current.sticky:
            row.selection.profile = current
            return SwitchResult(SwitchOutcome.STICKY, f"{current.name} is sticky", row.selection)
    return None


def _clean_prompts(needed: set[str], values: dict | None) -> dict[str, str]:
    if not needed:
        return {}
    if values is None:
        raise PromptRequired(needed)
    try:
        return clean_prompt_values(needed, values)
    except ValidationError as exc:
        raise PromptRequired(needed, "; ".join(exc.messages)) from None


def _switched(p: _Planned, source: str, now, version: int, applied_version: int) -> SwitchResult:
    old_selection = p.row.selection
    selection = Selection(
        user_id=p.switch.user_id,
        profile=p.new,
        previous_profile_id=p.previous_id,
        since=now,
        source=source,
        source_detail=p.switch.source_detail[:200],
        prompt_values=p.prompts,
        until=p.switch.until,
        until_profile_id=old_selection.until_profile_id if old_selection else None,
    )
    target = TargetState(
        user_id=p.switch.user_id,
        version=version,
        applied_version=applied_version,
        status=TargetState.Status.PENDING,
        updated_at=now,
    )
    return SwitchResult(
        SwitchOutcome.SWITCHED,
        selection=selection,
        target=target,
        profiles=p.result_profiles,
        left=p.old,
        time_zone=p.row.time_zone,
        mismatches=p.row.mismatches,
    )


# --- step 3: write -----------------------------------------------------------------------

WRITE_SQL = """
WITH v AS (
    SELECT * FROM unnest(
        %(user_id)s::bigint[], %(profile_id)s::bigint[], %(previous_id)s::bigint[], %(expected_id)s::bigint[],
        %(expected_since)s::timestamptz[], %(detail)s::text[], %(prompts)s::text[], %(until)s::timestamptz[],
        %(state)s::text[], %(actor_id)s::bigint[], %(old_name)s::text[], %(new_name)s::text[]
    ) AS v(user_id, profile_id, previous_id, expected_id, expected_since, detail, prompts, until,
           state, actor_id, old_name, new_name)
),
locked AS (
    SELECT a.user_id FROM profiles_account a WHERE a.user_id IN (SELECT user_id FROM v)
    ORDER BY a.user_id FOR UPDATE
),
moved AS (
    UPDATE profiles_selection s
    SET profile_id = v.profile_id, previous_profile_id = v.previous_id, since = %(now)s, source = %(source)s,
        source_detail = v.detail, prompt_values = v.prompts::jsonb, until = v.until
    FROM v
    WHERE s.user_id = v.user_id AND v.expected_id IS NOT NULL
      AND s.profile_id = v.expected_id AND s.since = v.expected_since
      AND s.user_id IN (SELECT user_id FROM locked)
    RETURNING s.user_id
),
created AS (
    INSERT INTO profiles_selection
        (user_id, profile_id, previous_profile_id, since, source, source_detail, prompt_values, until,
         until_profile_id)
    SELECT v.user_id, v.profile_id, v.previous_id, %(now)s, %(source)s, v.detail, v.prompts::jsonb, v.until, NULL
    FROM v WHERE v.expected_id IS NULL AND v.user_id IN (SELECT user_id FROM locked)
    ON CONFLICT (user_id) DO NOTHING
    RETURNING user_id
),
done AS (SELECT user_id FROM moved UNION ALL SELECT user_id FROM created),
target AS (
    INSERT INTO devices_targetstate AS t
        (user_id, version, state, applied_version, applied_state, status, error, error_permanent, updated_at)
    SELECT v.user_id, 1, v.state::jsonb, 0, '{}'::jsonb, 'pending', '', FALSE, %(now)s
    FROM v JOIN done ON done.user_id = v.user_id
    ON CONFLICT (user_id) DO UPDATE SET
        version = t.version + 1,
        state = CASE WHEN t.status <> 'applied' THEN jsonb_set(
            EXCLUDED.state, '{extensions}',
            COALESCE(t.state -> 'extensions', '{}'::jsonb) || (EXCLUDED.state -> 'extensions'))
            ELSE EXCLUDED.state END,
        status = 'pending', error = '', error_permanent = FALSE, updated_at = EXCLUDED.updated_at
    RETURNING t.user_id, t.version, t.applied_version
),
audit AS (
    INSERT INTO profiles_switchevent
        (user_id, actor_id, source, source_detail, event, old_profile_id, new_profile_id, old_name, new_name,
         prompt_values, target_version, created_at)
    SELECT v.user_id, v.actor_id, %(source)s, v.detail, 'select', v.expected_id, v.profile_id, v.old_name,
           v.new_name, v.prompts::jsonb, target.version, %(now)s
    FROM v JOIN target ON target.user_id = v.user_id
),
remembered AS (
    INSERT INTO profiles_recentvalue (user_id, kind, value, last_used)
    SELECT r.user_id, r.kind, r.value, %(now)s
    FROM unnest(%(recent_user)s::bigint[], %(recent_kind)s::text[], %(recent_value)s::text[]) AS r(user_id, kind, value)
    WHERE r.user_id IN (SELECT user_id FROM done)
    ON CONFLICT (user_id, kind, value) DO UPDATE SET last_used = EXCLUDED.last_used
)
SELECT user_id, version, applied_version FROM target
"""


def _write_postgresql(planned: list[_Planned], source: str) -> dict[int, SwitchResult]:
    if not planned:
        return {}
    now = timezone.now()
    recent = [(p.switch.user_id, kind, value) for p in planned for kind, value in p.prompts.items() if value]
    params = {
        "now": now,
        "source": source,
        "user_id": [p.switch.user_id for p in planned],
        "profile_id": [p.new.pk for p in planned],
        "previous_id": [p.previous_id for p in planned],
        "expected_id": [p.row.selection.profile_id if p.row.selection else None for p in planned],
        "expected_since": [p.row.selection.since if p.row.selection else None for p in planned],
        "detail": [p.switch.source_detail[:200] for p in planned],
        "prompts": [json.dumps(p.prompts) for p in planned],
        "until": [p.switch.until for p in planned],
        "state": [json.dumps(p.desired.to_json()) for p in planned],
        "actor_id": [p.switch.actor_id for p in planned],
        "old_name": [p.old.name if p.old else "" for p in planned],
        "new_name": [p.new.name for p in planned],
        "recent_user": [r[0] for r in recent],
        "recent_kind": [r[1] for r in recent],
        "recent_value": [r[2] for r in recent],
    }
    by_user = {p.switch.user_id: p for p in planned}
    with connection.cursor() as cursor:
        cursor.execute(WRITE_SQL, params)
        return {
            user_id: _switched(by_user[user_id], source, now, version, applied)
            for user_id, version, applied in cursor.fetchall()
        }


def _write_orm(planned: list[_Planned], source: str) -> dict[int, SwitchResult]:
    """Step 3 with the ORM, inside the caller's transaction (SQLite: the
    database is locked for writing from its start, so nothing moved)."""
    if not planned:
        return {}
    now = timezone.now()
    versions = device_services.store_targets({p.switch.user_id: p.desired for p in planned})
    applied = dict(TargetState.objects.filter(user_id__in=list(versions)).values_list("user_id", "applied_version"))
    results = {
        p.switch.user_id: _switched(p, source, now, versions[p.switch.user_id], applied.get(p.switch.user_id, 0))
        for p in planned
    }
    had = {p.switch.user_id for p in planned if p.row.selection is not None}
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
            old_profile=p.old,
            new_profile=p.new,
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
    return results
