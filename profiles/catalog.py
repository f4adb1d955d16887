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

from dataclasses import dataclass, field

from django.db import connection

from portal import bulk
from profiles.actions import prompts_needed
from profiles.engine import Devices
from profiles.models import Account, Action, ClientProfile, PresenceProfile
from profiles.selectors import load_devices_many

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


@dataclass(frozen=True)
class ProfileEntry:
    profile: PresenceProfile
    actions: tuple[ChainAction, ...]

    @property
    def has_exit_chain(self) -> bool:
        return any(a.phase == Action.Phase.EXIT and a.enabled for a in self.actions)

    @property
    def prompts(self) -> set[str]:
        """What its enabled actions ask for at selection (docs/rules.md#rule-3)."""
        return set().union(*(prompts_needed(a.type, a.params) for a in self.actions if a.enabled))


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

    def load_profiles(self, ids) -> None:
        """Profiles (and their actions) not yet here, in two queries."""
        missing = {pk for pk in ids if pk is not None and pk not in self.profiles}
        if missing:
            self._add_profiles(PresenceProfile.objects.filter(bulk.any_of("pk", missing)))

    def _add_profiles(self, queryset) -> list[PresenceProfile]:
        rows = list(queryset)
        actions: dict[int, list[ChainAction]] = {}
        for row in (
            Action.objects.filter(bulk.any_of("profile_id", [p.pk for p in rows]))
            .order_by("phase", "position", "id")
            .values_list("id", "profile_id", "phase", "position", "enabled", "type", "params")
        ):
            actions.setdefault(row[1], []).append(ChainAction(*row))
        for profile in rows:
            self.profiles[profile.pk] = ProfileEntry(profile, tuple(actions.get(profile.pk, ())))
        return rows

    def load_users(self, user_ids) -> None:
        """Users not yet here: their selectable profiles and devices, in a
        fixed number of queries whatever their number."""
        missing = [pk for pk in user_ids if pk not in self.users]
        if not missing:
            return
        accounts = list(
            Account.objects.select_related("client_profile", "primary_extension").filter(
                bulk.any_of("user_id", missing)
            )
        )
        clients = {
            a.client_profile_id for a in accounts if a.client_profile_id and a.client_profile_id not in self.system
        }
        if clients:
            links: dict[int, list[int]] = {c: [] for c in clients}
            for client_id, profile_id in ClientProfile.system_profiles.through.objects.filter(
                clientprofile_id__in=clients
            ).values_list("clientprofile_id", "presenceprofile_id"):
                links[client_id].append(profile_id)
            self.load_profiles({pk for ids in links.values() for pk in ids})
            for client_id, ids in links.items():
                self.system[client_id] = tuple(pk for pk in ids if self.profiles[pk].profile.is_system)
        personal: dict[int, list[int]] = {}
        for profile in self._add_profiles(
            PresenceProfile.objects.filter(bulk.any_of("owner_id", missing), kind=PresenceProfile.Kind.PERSONAL)
        ):
            personal.setdefault(profile.owner_id, []).append(profile.pk)
        devices = load_devices_many(accounts)
        if len(self.users) + len(accounts) > MAX_USERS:
            self.users.clear()
        for user_id in missing:
            self.users[user_id] = NO_ACCOUNT
        for account in accounts:
            ids = [*personal.get(account.user_id, ()), *self.system.get(account.client_profile_id, ())]
            ids.sort(key=lambda pk: _display_order(self.profiles[pk].profile))
            self.users[account.user_id] = UserEntry(
                has_account=True,
                enabled=account.presence_enabled,
                client_profile_id=account.client_profile_id,
                time_zone=account.time_zone,
                available=tuple(ids),
                devices=devices.get(account.user_id),
            )

    def available_profiles(self, user_id: int) -> list[PresenceProfile]:
        return [self.profiles[pk].profile for pk in self.users[user_id].available]


def _display_order(profile: PresenceProfile):
    return (profile.kind, profile.position, profile.pk)


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
