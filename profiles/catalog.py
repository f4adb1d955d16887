"""What a switch reads every time and what rarely changes: the profiles with
their action chains, which profiles each user may select, each user's
devices. Read once per process and kept while nothing of it changes.

Every write to the tables this comes from (profiles, actions, client
profiles and their system profiles, accounts, extensions, destinations,
teams and their members, client sessions) gives ``CatalogVersion`` a new
value, by a database trigger (migration 0004): the ORM, bulk operations,
raw SQL and the admin alike, in the writing transaction, so a version is
only seen together with what it versions. Values are never reused (a
sequence on PostgreSQL, a random number on SQLite), so a rolled-back change
cannot leave a cache that looks current. A switch reads the version in the
same statement as the user's selection; a cache made under another version
is dropped whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property

from django.db import connection
from django.db.models import TextField
from django.db.models.functions import Cast

from portal import bulk
from profiles.actions import prompts_needed
from profiles.engine import Devices
from profiles.models import Account, Action, ClientProfile, PresenceProfile
from profiles.selectors import DEVICE_FIELDS, devices_of

# The tables whose every write gives CatalogVersion a new value (migrations
# 0004 and 0015 install the triggers).
WATCHED_TABLES = (
    "profiles_presenceprofile",
    "profiles_action",
    "profiles_clientprofile",
    "profiles_clientprofile_system_profiles",
    "profiles_account",
    "devices_extension",
    "devices_destination",
    "devices_team",
    "devices_team_members",
    "devices_clientsession",
)
_SQLITE_BUMP = (
    "INSERT INTO profiles_catalogversion (id, value) VALUES (1, abs(random())) "
    "ON CONFLICT (id) DO UPDATE SET value = excluded.value"
)


def ensure_sqlite_triggers(connection) -> list[str]:
    """SQLite drops a table's triggers when a migration rebuilds the table
    (most ALTERs there copy it into a new one), and the catalog would then
    miss that table's writes: after every migrate the missing triggers are
    created again (ProfilesConfig.ready connects this to post_migrate).
    Returns the names created. PostgreSQL keeps triggers across ALTER TABLE."""
    if connection.vendor != "sqlite":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT type, name FROM sqlite_master WHERE type IN ('table', 'trigger')")
        rows = cursor.fetchall()
        tables = {name for kind, name in rows if kind == "table"}
        present = {name for kind, name in rows if kind == "trigger"}
        if "profiles_catalogversion" not in tables:
            return []  # before migration 0004
        created = []
        for table in WATCHED_TABLES:
            if table not in tables:
                continue
            for op in ("insert", "update", "delete"):
                name = f"{table}_catalog_{op}"
                if name in present:
                    continue
                event = op.upper()
                if table == "devices_clientsession" and op == "update":
                    event = "UPDATE OF user_id, extension_id"  # not heartbeats (migration 0015)
                cursor.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {_SQLITE_BUMP}; END")
                created.append(name)
    return created


# Users kept per process; past this the cache starts again (memory bound).
MAX_USERS = 50_000
MAX_PLANS = 200_000

VERSION_SQL = "(SELECT value FROM profiles_catalogversion WHERE id = 1)"


def read_version() -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {VERSION_SQL}")
        return cursor.fetchone()[0]


@dataclass(frozen=True)
class ChainAction:
    """An action as the engine reads it (lighter than a model instance: a
    batch of 500 users loads thousands)."""

    id: int
    profile_id: int
    phase: str
    position: int
    enabled: bool
    type: str
    params: dict


# PresenceProfile's columns in the model's field order: a catalog row, from
# which the model instance is made only when a caller asks for it. Without
# the two timestamps, which nothing that reads the catalog shows: Django's
# time-zone loader for psycopg parses each in Python, and they were a
# quarter of a burst's catalog load (bench/triggers.py). An instance made
# from the row has them deferred (read on first access).
_PROFILE_FIELDS = tuple(
    f.attname for f in PresenceProfile._meta.concrete_fields if f.attname not in ("created_at", "updated_at")
)
_AT = {name: i for i, name in enumerate(_PROFILE_FIELDS)}


def _column(name: str) -> property:
    at = _AT[name]
    return property(lambda entry: entry.row[at], doc=f"The profile's {name}.")


@dataclass(frozen=True)
class ProfileEntry:
    """A profile as a switch reads it: its row as plain values (a batch of
    500 users reads a thousand profiles, most of which no page shows) and
    its actions; ``profile`` is the model instance, made on first use."""

    row: tuple  # the values of _PROFILE_FIELDS
    actions: tuple[ChainAction, ...]

    pk = _column("id")
    owner_id = _column("owner_id")
    kind = _column("kind")
    name = _column("name")
    colour = _column("colour")
    icon = _column("icon")
    icon_visible = _column("icon_visible")
    sticky = _column("sticky")
    position = _column("position")

    @cached_property
    def profile(self) -> PresenceProfile:
        return PresenceProfile.from_db(connection.alias, _PROFILE_FIELDS, self.row)

    @cached_property
    def has_exit_chain(self) -> bool:
        return any(a.phase == Action.Phase.EXIT and a.enabled for a in self.actions)

    @cached_property
    def prompts(self) -> frozenset[str]:
        """What its enabled actions ask for at selection (docs/rules.md#rule-3)."""
        return frozenset().union(*(prompts_needed(a.type, a.params) for a in self.actions if a.enabled))


@dataclass(frozen=True)
class UserEntry:
    has_account: bool
    enabled: bool  # presence profiles are on (the client profile says so)
    client_profile_id: int | None
    time_zone: str
    available: tuple[int, ...]  # profile ids the user may select, in display order
    devices: Devices | None  # None: no primary extension


NO_ACCOUNT = UserEntry(False, False, None, "", (), None)


@dataclass
class Catalog:
    version: int | None
    profiles: dict[int, ProfileEntry] = field(default_factory=dict)
    users: dict[int, UserEntry] = field(default_factory=dict)
    system: dict[int, tuple[int, ...]] = field(default_factory=dict)  # client profile -> system profile ids
    # A switch's desired states planned without prompt values, by (user,
    # profile, profile known to be left, exact): the same every time under
    # this version (profiles.services.switching._plan).
    plans: dict[tuple, tuple] = field(default_factory=dict)

    def keep_plan(self, key: tuple, plan: tuple) -> None:
        if len(self.plans) >= MAX_PLANS:
            self.plans.clear()
        self.plans[key] = plan

    def load_profiles(self, ids) -> None:
        """Profiles (and their actions) not yet here, in two queries."""
        missing = {pk for pk in ids if pk is not None and pk not in self.profiles}
        if missing:
            self._add_profiles(PresenceProfile.objects.filter(bulk.any_of("pk", missing)))

    def _add_profiles(self, queryset) -> list[ProfileEntry]:
        rows = list(queryset.values_list(*_PROFILE_FIELDS))
        action_rows = list(
            Action.objects.filter(bulk.any_of("profile_id", [row[_AT["id"]] for row in rows]))
            .order_by("phase", "position", "id")
            .values_list("id", "profile_id", "phase", "position", "enabled", "type", Cast("params", TextField()))
        )
        # The parameters as JSON text, decoded in one json.loads for the
        # whole batch: per row (JSONField's converter) it was half the
        # actions' read of a burst's batch.
        params = json.loads("[" + ",".join(row[6] for row in action_rows) + "]")
        actions: dict[int, list[ChainAction]] = {}
        for row, values in zip(action_rows, params, strict=True):
            actions.setdefault(row[1], []).append(ChainAction(*row[:6], values))
        added = []
        for row in rows:
            entry = ProfileEntry(row, tuple(actions.get(row[_AT["id"]], ())))
            self.profiles[entry.pk] = entry
            added.append(entry)
        return added

    def load_users(self, user_ids) -> None:
        """Users not yet here: their selectable profiles and devices, in a
        fixed number of queries whatever their number, read as plain rows."""
        missing = [pk for pk in user_ids if pk not in self.users]
        if not missing:
            return
        accounts = list(
            Account.objects.filter(bulk.any_of("user_id", missing)).values_list(
                "client_profile_id", "client_profile__presence_profiles_enabled", "time_zone", *DEVICE_FIELDS
            )
        )
        clients = {row[0] for row in accounts if row[0] and row[0] not in self.system}
        if clients:
            links: dict[int, list[int]] = {c: [] for c in clients}
            for client_id, profile_id in ClientProfile.system_profiles.through.objects.filter(
                clientprofile_id__in=clients
            ).values_list("clientprofile_id", "presenceprofile_id"):
                links[client_id].append(profile_id)
            self.load_profiles({pk for ids in links.values() for pk in ids})
            for client_id, ids in links.items():
                self.system[client_id] = tuple(
                    pk for pk in ids if self.profiles[pk].kind == PresenceProfile.Kind.SYSTEM
                )
        personal: dict[int, list[int]] = {}
        for entry in self._add_profiles(
            PresenceProfile.objects.filter(bulk.any_of("owner_id", missing), kind=PresenceProfile.Kind.PERSONAL)
        ):
            personal.setdefault(entry.owner_id, []).append(entry.pk)
        devices = devices_of([row[3:] for row in accounts if row[4] is not None])
        if len(self.users) + len(accounts) > MAX_USERS:
            self.users.clear()
        for user_id in missing:
            self.users[user_id] = NO_ACCOUNT
        for client_id, enabled, time_zone, user_id, *_ in accounts:
            ids = [*personal.get(user_id, ()), *self.system.get(client_id, ())]
            ids.sort(key=lambda pk: _display_order(self.profiles[pk]))
            self.users[user_id] = UserEntry(
                has_account=True,
                enabled=bool(client_id and enabled),
                client_profile_id=client_id,
                time_zone=time_zone,
                available=tuple(ids),
                devices=devices.get(user_id),
            )

    def available_profiles(self, user_id: int) -> list[PresenceProfile]:
        return [self.profiles[pk].profile for pk in self.users[user_id].available]


def _display_order(entry: ProfileEntry):
    return (entry.kind, entry.position, entry.pk)


_current = Catalog(version=None)


def cached() -> Catalog:
    """The process's catalog as it is, perhaps of an older version: a
    caller that uses it optimistically checks the version when it writes."""
    return _current


def catalog(version: int | None) -> Catalog:
    """The process's catalog for ``version`` (read from CatalogVersion in the
    caller's statement); a fresh, unkept one when there is no version yet."""
    global _current
    if version is None:
        return Catalog(version=None)
    if _current.version != version:
        _current = Catalog(version=version)
    return _current
