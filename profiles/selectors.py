"""Read-side queries for the user pages: each returns plain values or
querysets in a fixed number of queries, whatever the number of profiles,
actions, users or runs. Writes live in profiles.services (docs/architecture.md#layers)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

from django.db import connection
from django.db.models import Count, Max, Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from devices import selectors as device_selectors
from devices.drivers import DriverError, get_driver
from devices.models import (
    ApplyRun,
    ApplyStep,
    ClientSession,
    Destination,
    Extension,
    LineState,
    Location,
    Mismatch,
    TargetState,
    Team,
)
from devices.state import Command, CommandNames, ExtensionState, UserState
from portal import bulk
from profiles.actions import describe_action
from profiles.engine import Devices
from profiles.models import Account, Action, PresenceProfile, RecentValue, Selection, SwitchEvent

RECENT_VALUES_KEPT = 5


# --- the user's account -----------------------------------------------------------


def account_for(user) -> Account | None:
    """The user's account with what every page needs (one query)."""
    return Account.objects.select_related("client_profile", "primary_extension").filter(user=user).first()


def session_trigger_account(user) -> Account | None:
    """The account with what every page needs, its own session trigger and
    its client profile's default (profiles.automation.sessions.effective
    reads both; one query)."""
    return (
        Account.objects.select_related(
            "client_profile__session_end_profile", "session_end_profile", "primary_extension"
        )
        .filter(user=user)
        .first()
    )


def client_sessions(user) -> list[ClientSession]:
    """The user's connected clients, oldest first (one query)."""
    return list(ClientSession.objects.filter(user=user).select_related("extension").order_by("connected_at"))


# --- my presence --------------------------------------------------------------------


def current_selection(user) -> Selection | None:
    return Selection.objects.select_related("profile", "previous_profile", "until_profile").filter(user=user).first()


# --- the profiles a user may select or edit -----------------------------------------


def available_profiles(user) -> list[PresenceProfile]:
    """The user's own profiles and the system profiles of their client
    profile, in display order (one query)."""
    return list(PresenceProfile.objects.available_to(user).order_by("kind", "position", "id"))


def get_available_profile(user, profile_id) -> PresenceProfile:
    """The profile if this user may select it; PresenceProfile.DoesNotExist
    otherwise (views answer 404, so other users' ids reveal nothing)."""
    return PresenceProfile.objects.available_to(user).get(pk=profile_id)


def get_own_profile(user, profile_id) -> PresenceProfile:
    """A personal profile of this user (to edit); DoesNotExist otherwise."""
    return PresenceProfile.objects.owned_by(user).get(pk=profile_id)


def get_own_action(user, action_id) -> Action:
    """An action of one of this user's personal profiles; DoesNotExist otherwise."""
    return Action.objects.select_related("profile").get(
        pk=action_id, profile__in=PresenceProfile.objects.owned_by(user)
    )


def recent_values(user, kind: str) -> list[str]:
    """The values this user typed last for a prompt of this kind (docs/rules.md#rule-3)."""
    return list(
        RecentValue.objects.filter(user=user, kind=kind)
        .order_by("-last_used")
        .values_list("value", flat=True)[:RECENT_VALUES_KEPT]
    )


def load_devices(account: Account) -> Devices | None:
    """What the user's profiles act on, in three queries; None without a
    primary extension."""
    return load_devices_many([account]).get(account.user_id)


def load_devices_many(accounts) -> dict[int, Devices]:
    """load_devices for many accounts in three queries whatever their number
    (accounts come with client_profile and primary_extension loaded)."""
    return devices_of(
        [
            (
                a.user_id,
                a.primary_extension_id,
                a.primary_extension.number,
                a.primary_extension.is_hot_desk,
                a.primary_extension.hot_desk_logged_in,
                bool(a.client_profile and a.client_profile.disable_dee_ucd_when_logged_out),
            )
            for a in accounts
            if a.primary_extension is not None
        ]
    )


# What devices_of needs of an account, as Account.objects.values_list() reads it.
DEVICE_FIELDS = (
    "user_id",
    "primary_extension_id",
    "primary_extension__number",
    "primary_extension__is_hot_desk",
    "primary_extension__hot_desk_logged_in",
    "client_profile__disable_dee_ucd_when_logged_out",
)


def devices_of(rows: list[tuple]) -> dict[int, Devices]:
    """User id -> Devices, in three queries whatever their number, from plain
    rows of DEVICE_FIELDS (accounts with a primary extension)."""
    if not rows:
        return {}
    primary_ids = [row[1] for row in rows]
    destinations: dict[int, dict[str, str]] = {}
    for ext_id, dest_id, family in Destination.objects.filter(bulk.any_of("extension_id", primary_ids)).values_list(
        "extension_id", "id", "family"
    ):
        destinations.setdefault(ext_id, {})[str(dest_id)] = family
    teams: dict[int, list[str]] = {}
    for ext_id, team_id in (
        Team.members.through.objects.filter(bulk.any_of("extension_id", primary_ids))
        .order_by("team_id")
        .values_list("extension_id", "team_id")
    ):
        teams.setdefault(ext_id, []).append(str(team_id))
    softphones: dict[int, list[tuple[int, str]]] = {}
    for user_id, ext_id, number in (
        ClientSession.objects.filter(bulk.any_of("user_id", [row[0] for row in rows]))
        .order_by("extension__number")
        .values_list("user_id", "extension_id", "extension__number")
    ):
        softphones.setdefault(user_id, []).append((ext_id, number))
    return {
        user_id: Devices(
            primary=number,
            destinations=destinations.get(primary_id, {}),
            teams=tuple(teams.get(primary_id, ())),
            softphones=tuple(n for ext_id, n in softphones.get(user_id, ()) if ext_id != primary_id),
            hot_desk_logged_out=is_hot_desk and not logged_in,
            disable_when_logged_out=bool(disable_when_logged_out),
        )
        for user_id, primary_id, number, is_hot_desk, logged_in, disable_when_logged_out in rows
    }


@dataclass(frozen=True)
class ApplyStatus:
    """What the status partial shows: the target's state and the mismatches."""

    target: TargetState | None
    mismatches: list[Mismatch]

    @cached_property
    def etag(self) -> str:
        # Changes whenever anything shown changes; cheap (no rendering).
        # Kept: the status shows it twice.
        t = self.target
        parts = [
            f"{t.version}:{t.applied_version}:{t.status}:{t.updated_at.timestamp() if t.updated_at else 0}"
            if t
            else "none"
        ]
        parts += [f"{m.pk}:{m.detected_at.timestamp()}" for m in self.mismatches]
        return '"' + hashlib.sha1("|".join(parts).encode()).hexdigest()[:20] + '"'

    @property
    def pending(self) -> bool:
        return self.target is not None and self.target.status == TargetState.Status.PENDING

    def mismatch_texts(self) -> list[str]:
        """What a re-apply would change, in the reader's language, with names."""
        return device_selectors.describe_all(
            [Command(m.extension, m.op, m.args) for m in self.mismatches], [m.description for m in self.mismatches]
        )


def apply_status(user) -> ApplyStatus:
    """Two queries."""
    return ApplyStatus(
        target=TargetState.objects.filter(user=user).first(),
        mismatches=list(Mismatch.objects.filter(user=user).order_by("extension", "id")),
    )


def command_text(command: Command, names: CommandNames, fallback: str = "") -> str:
    """A command described for people, with the names of teams, destinations
    and locations instead of ids; ``fallback`` (a stored description) when
    the command cannot be described (an operation or arguments of an older
    version)."""
    try:
        return command.describe(names)
    except (KeyError, TypeError, ValueError):
        return fallback or f"{command.extension}: {command.op}"


def command_names(commands=None) -> CommandNames:
    """Names for command_text: of what ``commands`` refer to, or of every
    team, destination and location (three queries)."""
    return device_selectors.command_names(commands)


# --- profiles and their chains --------------------------------------------------------


def reference_names() -> dict[str, dict[int, str]]:
    """Team and location names for describing actions (two queries)."""
    return {
        "teams": dict(Team.objects.values_list("id", "name")),
        "locations": dict(Location.objects.values_list("id", "name")),
    }


@dataclass
class ChainItem:
    action: Action
    description: str
    first: bool = False
    last: bool = False


@dataclass
class Chains:
    enter: list[ChainItem] = field(default_factory=list)
    exit: list[ChainItem] = field(default_factory=list)


def profile_chains(profile: PresenceProfile) -> Chains:
    """The enter and exit chains with descriptions (three queries)."""
    names = reference_names()
    chains = Chains()
    for action in Action.objects.filter(profile=profile).order_by("phase", "position", "id"):
        items = chains.enter if action.phase == Action.Phase.ENTER else chains.exit
        items.append(ChainItem(action, describe_action(action.type, action.params, names)))
    for items in (chains.enter, chains.exit):
        if items:
            items[0].first = True
            items[-1].last = True
    return chains


def profiles_with_counts(user) -> list[PresenceProfile]:
    """The user's own and system profiles with action and trigger counts
    (one query)."""
    return list(
        PresenceProfile.objects.available_to(user)
        .annotate(
            action_count=Count("actions", distinct=True),
            trigger_count=Count("triggers", distinct=True),
        )
        .order_by("kind", "position", "id")
    )


def user_teams(user) -> list[Team]:
    """The teams of the user's primary extension (one query)."""
    return list(Team.objects.filter(members__primary_of__user=user).order_by("name"))


def all_locations() -> list[Location]:
    return list(Location.objects.order_by("name"))


# --- colleagues board ---------------------------------------------------------------


def board_queryset(*, search: str = "", team_id: int | None = None) -> QuerySet[Selection]:
    """Everyone's presence, by name; filtered by a search over names,
    extension numbers and status, and by team. Each row carries its user,
    profile and primary extension (one query per page, joins only; no
    GROUP BY, so the database stops after the first page)."""
    qs = Selection.objects.filter(user__is_active=True).select_related(
        "user", "profile", "user__account__primary_extension", "user__account__primary_extension__line"
    )
    if search:
        qs = qs.filter(
            Q(user__username__icontains=search)
            | Q(user__first_name__icontains=search)
            | Q(user__last_name__icontains=search)
            | Q(user__account__primary_extension__number__startswith=search)
            | Q(profile__name__icontains=search)
        )
    if team_id is not None:
        qs = qs.filter(user__account__primary_extension__teams=team_id).distinct()
    return qs.order_by("user__first_name", "user__last_name", "user__username", "user_id")


def board_etag(*, search: str = "", team_id: int | None = None, page: str = "") -> str:
    """A fingerprint of what the board shows, from two aggregate queries and
    no rendering: the latest switch and the row count of the selections
    shown; the latest profile edit (a renamed or recoloured profile) and the
    latest line-state change (ringing, on a call …).
    A poll that sends it back gets 304 while nothing changed."""
    qs = Selection.objects.filter(user__is_active=True)
    if search or team_id is not None:
        qs = board_queryset(search=search, team_id=team_id).order_by()
    figures = qs.aggregate(since=Max("since"), count=Count("pk"))
    edited, line = _latest_edit_and_line_change()
    raw = "|".join(
        [
            str(figures["since"].timestamp() if figures["since"] else 0),
            str(edited),
            str(line),
            str(figures["count"]),
            search,
            str(team_id),
            page,
        ]
    )
    return '"' + hashlib.sha1(raw.encode()).hexdigest()[:20] + '"'


def _latest_edit_and_line_change() -> tuple:
    """Two index lookups in one query (the ORM's aggregate() cannot combine
    tables): the latest profile edit and the latest line-state change, as
    the database returns them (only compared, never shown)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT MAX({quote('updated_at')}) FROM {quote(PresenceProfile._meta.db_table)}),"
            f" (SELECT MAX({quote('changed_at')}) FROM {quote(LineState._meta.db_table)})"
        )
        return cursor.fetchone()


def all_teams() -> list[Team]:
    return list(Team.objects.order_by("name"))


# --- my devices ----------------------------------------------------------------------


@dataclass
class FieldRow:
    label: str
    actual: object
    implied: object

    @property
    def differs(self) -> bool:
        return self.implied is not None and self.actual is not None and self.actual != self.implied


@dataclass
class CompareRow:
    """A destination or team of the primary extension: the phone system's
    state next to the profile's; ``differs`` when a field the profile sets
    has another value on the phone system."""

    item: object
    have: object
    want: object
    fields: tuple[str, ...]

    def __iter__(self):
        # (item, have, want), as the client API reads these rows.
        return iter((self.item, self.have, self.want))

    @property
    def differs(self) -> bool:
        if self.have is None or self.want is None:
            return False
        for name in self.fields:
            wanted = getattr(self.want, name)
            if wanted is not None and getattr(self.have, name) != wanted:
                return True
        return False


@dataclass
class DeviceView:
    extension: Extension
    role: str
    actual: ExtensionState | None
    implied: ExtensionState | None
    rows: list[FieldRow] = field(default_factory=list)


def my_devices(user, account: Account | None) -> dict:
    """Extensions, destinations, teams, location, hot-desk state and client
    sessions, with the devices' actual state next to what the profile
    implies. A fixed number of queries plus one driver read."""
    primary = account.primary_extension if account else None
    sessions = client_sessions(user)
    destinations = list(primary.destinations.order_by("position", "id")) if primary else []
    teams = list(primary.teams.order_by("name")) if primary else []
    target = TargetState.objects.filter(user=user).first()
    locations = dict(Location.objects.values_list("id", "name"))

    extensions = ([primary] if primary else []) + [
        s.extension for s in sessions if s.extension_id != getattr(primary, "pk", None)
    ]
    numbers = [e.number for e in extensions]
    read_error = ""
    actual: dict[str, ExtensionState] = {}
    if numbers:
        try:
            actual = get_driver().read(numbers)
        except DriverError as exc:
            read_error = str(exc)
    implied_state = UserState.from_json(target.state) if target and target.state else UserState()

    devices = []
    for ext in extensions:
        have = actual.get(ext.number)
        want = implied_state.extensions.get(ext.number)
        view = DeviceView(
            ext, _("Primary extension") if ext is primary else _("Softphone (client session)"), have, want
        )
        view.rows = _field_rows(have, want, locations)
        devices.append(view)

    primary_actual = actual.get(primary.number) if primary else None
    primary_implied = implied_state.extensions.get(primary.number) if primary else None
    destination_rows = [
        CompareRow(
            d,
            primary_actual.destinations.get(str(d.pk)) if primary_actual else None,
            primary_implied.destinations.get(str(d.pk)) if primary_implied else None,
            ("active", "ring_delay", "ring_timeout"),
        )
        for d in destinations
    ]
    team_rows = [
        CompareRow(
            t,
            primary_actual.teams.get(str(t.pk)) if primary_actual else None,
            primary_implied.teams.get(str(t.pk)) if primary_implied else None,
            ("logged_in", "paused", "pickup"),
        )
        for t in teams
    ]
    return {
        "primary": primary,
        "devices": devices,
        "destination_rows": destination_rows,
        "team_rows": team_rows,
        "sessions": sessions,
        "target": target,
        "read_error": read_error,
    }


def _field_rows(have: ExtensionState | None, want: ExtensionState | None, locations: dict[int, str]) -> list[FieldRow]:
    def get(state, name):
        return getattr(state, name) if state is not None else None

    def location(value):
        if value is None:
            return None
        return locations.get(value, _("none")) if value else _("none")

    return [
        FieldRow(_("Do not disturb"), get(have, "dnd"), get(want, "dnd")),
        FieldRow(_("DND message"), get(have, "dnd_message") or None, get(want, "dnd_message") or None),
        FieldRow(_("Forward"), get(have, "forward") or (_("none") if have else None), _forward(get(want, "forward"))),
        FieldRow(_("GSM mode"), get(have, "gsm"), get(want, "gsm")),
        FieldRow(_("Location"), location(get(have, "location")), location(get(want, "location"))),
        FieldRow(_("Presence text"), get(have, "presence") or None, get(want, "presence") or None),
    ]


def _forward(value):
    if value is None:
        return None
    return value or _("none")


# --- history ---------------------------------------------------------------------------


def switch_events(user) -> QuerySet[SwitchEvent]:
    return SwitchEvent.objects.filter(user=user).select_related("actor").order_by("-created_at", "-id")


def apply_runs(user) -> QuerySet[ApplyRun]:
    return (
        ApplyRun.objects.filter(user=user)
        .prefetch_related(Prefetch("steps", queryset=ApplyStep.objects.order_by("position")))
        .order_by("-started_at", "-id")
    )
