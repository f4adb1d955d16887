"""The typed device-state value, the commands that change it, and the diff.

Pure code: no database, no I/O. Everything the portal does to a phone system
is expressed here first.

Two kinds of value share one shape:

* an **actual** state is what a device is doing now: every field is set;
* a **desired** state is what a profile asks for: ``None`` means "this
  profile does not care", so whatever the device does there (for example a
  DND the user pressed on the handset) sticks (DESIGN rule 4).

``diff(actual, desired)`` lists the commands that make the device satisfy
the desired state; ``apply_commands`` runs them on a value (the simulated
PBX uses exactly this). By construction ``diff(apply_commands(a, diff(a, d)),
d) == []``: converging twice changes nothing the second time (rule 2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

# Location value meaning "no location" (location ids start at 1).
NO_LOCATION = 0


@dataclass(frozen=True)
class DestinationState:
    """One DEE destination / FollowMe device of a primary extension."""

    active: bool | None = None
    ring_delay: int | None = None
    ring_timeout: int | None = None


@dataclass(frozen=True)
class TeamState:
    """Membership of one extension in one team (UCD group / call queue).

    Group call pickup follows login: leaving a team turns it off, rejoining
    turns it on (DESIGN rule 11).
    """

    logged_in: bool | None = None
    paused: bool | None = None
    pickup: bool | None = None


@dataclass(frozen=True)
class ExtensionState:
    dnd: bool | None = None
    dnd_message: str | None = None
    forward: str | None = None  # "" = no forward
    destinations: dict[str, DestinationState] = field(default_factory=dict)
    teams: dict[str, TeamState] = field(default_factory=dict)
    location: int | None = None  # NO_LOCATION = none
    gsm: bool | None = None
    presence: str | None = None  # text colleagues and the PBX show; "" = none

    # -- serialisation (stored as JSON in the database) --------------------
    def to_json(self) -> dict[str, Any]:
        # Field by field, not dataclasses.asdict (a deep copy): the values are
        # immutable, and a batch of 500 switches serialised 3x faster.
        data = _fields_of(self)
        data["destinations"] = {k: _compact(_fields_of(v)) for k, v in self.destinations.items()}
        data["teams"] = {k: _compact(_fields_of(v)) for k, v in self.teams.items()}
        return _compact(data, keep=("destinations", "teams"))

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ExtensionState:
        data = dict(data or {})
        destinations = {str(k): DestinationState(**v) for k, v in (data.pop("destinations", None) or {}).items()}
        teams = {str(k): TeamState(**v) for k, v in (data.pop("teams", None) or {}).items()}
        return cls(destinations=destinations, teams=teams, **data)


def _fields_of(value) -> dict[str, Any]:
    return {f.name: getattr(value, f.name) for f in fields(value)}


def _compact(data: dict[str, Any], keep: tuple[str, ...] = ()) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None or k in keep}


def idle_extension(destination_ids=(), team_ids=()) -> ExtensionState:
    """A fully specified actual state: reachable, nothing set."""
    return ExtensionState(
        dnd=False,
        dnd_message="",
        forward="",
        destinations={str(d): DestinationState(active=True, ring_delay=0, ring_timeout=20) for d in destination_ids},
        teams={str(t): TeamState(logged_in=False, paused=False, pickup=False) for t in team_ids},
        location=NO_LOCATION,
        gsm=False,
        presence="",
    )


# --- commands ---------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One change a driver sends to the phone system for one extension.

    ``op`` is one of OPS; ``args`` are plain JSON values.
    """

    extension: str
    op: str
    args: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"extension": self.extension, "op": self.op, "args": dict(self.args)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Command:
        return cls(extension=data["extension"], op=data["op"], args=dict(data.get("args") or {}))

    def describe(self) -> str:
        return describe_command(self)


OPS = (
    "set_dnd",  # on, message
    "set_forward",  # target ("" clears)
    "set_destination",  # destination, active?, ring_delay?, ring_timeout?
    "team_login",  # team
    "team_logout",  # team
    "team_pause",  # team
    "team_unpause",  # team
    "set_pickup",  # team, on
    "set_location",  # location (NO_LOCATION clears)
    "set_gsm",  # on
    "set_presence",  # text
)


def apply_command(state: ExtensionState, command: Command) -> ExtensionState:
    """The effect of one command on an actual state."""
    op, a = command.op, command.args
    if op == "set_dnd":
        return replace(state, dnd=bool(a["on"]), dnd_message=a.get("message", "") if a["on"] else "")
    if op == "set_forward":
        return replace(state, forward=a["target"])
    if op == "set_destination":
        key = str(a["destination"])
        current = state.destinations.get(key, DestinationState())
        changes = {f: a[f] for f in ("active", "ring_delay", "ring_timeout") if f in a}
        return replace(state, destinations={**state.destinations, key: replace(current, **changes)})
    if op in ("team_login", "team_logout", "team_pause", "team_unpause", "set_pickup"):
        key = str(a["team"])
        current = state.teams.get(key, TeamState(logged_in=False, paused=False, pickup=False))
        if op == "team_login":
            new = TeamState(logged_in=True, paused=False, pickup=True)
        elif op == "team_logout":
            new = TeamState(logged_in=False, paused=False, pickup=False)
        elif op == "team_pause":
            new = replace(current, paused=True)
        elif op == "team_unpause":
            new = replace(current, paused=False)
        else:
            new = replace(current, pickup=bool(a["on"]))
        return replace(state, teams={**state.teams, key: new})
    if op == "set_location":
        return replace(state, location=int(a["location"]))
    if op == "set_gsm":
        return replace(state, gsm=bool(a["on"]))
    if op == "set_presence":
        return replace(state, presence=a["text"])
    raise ValueError(f"unknown command {op!r}")


def apply_commands(state: ExtensionState, commands: list[Command]) -> ExtensionState:
    for command in commands:
        state = apply_command(state, command)
    return state


# --- diff -------------------------------------------------------------------


def diff(extension: str, actual: ExtensionState, desired: ExtensionState) -> list[Command]:
    """The commands that make ``actual`` satisfy ``desired``, in a fixed order.

    Fields the desired state leaves as None are not touched. Each command is
    simulated on a working copy so later comparisons see its side effects
    (a team login also turns pickup on).
    """
    commands: list[Command] = []
    work = actual

    def emit(op: str, **args: Any) -> None:
        nonlocal work
        command = Command(extension, op, args)
        commands.append(command)
        work = apply_command(work, command)

    # DND and its message travel together.
    want_dnd = desired.dnd if desired.dnd is not None else work.dnd
    want_message = desired.dnd_message if desired.dnd_message is not None else work.dnd_message
    if not want_dnd:
        want_message = ""
    if want_dnd != work.dnd or (want_dnd and want_message != work.dnd_message):
        emit("set_dnd", on=bool(want_dnd), message=want_message or "")

    if desired.forward is not None and desired.forward != work.forward:
        emit("set_forward", target=desired.forward)

    for key in sorted(desired.destinations, key=_sort_key):
        want = desired.destinations[key]
        have = work.destinations.get(key)
        if have is None:
            continue  # a destination the device does not have: nothing to send
        changes = {
            f: getattr(want, f)
            for f in ("active", "ring_delay", "ring_timeout")
            if getattr(want, f) is not None and getattr(want, f) != getattr(have, f)
        }
        if changes:
            emit("set_destination", destination=key, **changes)

    for key in sorted(desired.teams, key=_sort_key):
        want = desired.teams[key]
        if key not in work.teams:
            continue  # not a member of that team
        have = work.teams[key]
        if want.logged_in is not None and want.logged_in != have.logged_in:
            emit("team_login" if want.logged_in else "team_logout", team=key)
            have = work.teams[key]
        # Pause only means something while logged in.
        if have.logged_in and want.paused is not None and want.paused != have.paused:
            emit("team_pause" if want.paused else "team_unpause", team=key)
        have = work.teams[key]
        if want.pickup is not None and want.pickup != have.pickup:
            emit("set_pickup", team=key, on=want.pickup)

    if desired.location is not None and desired.location != work.location:
        emit("set_location", location=desired.location)
    if desired.gsm is not None and desired.gsm != work.gsm:
        emit("set_gsm", on=desired.gsm)
    if desired.presence is not None and desired.presence != work.presence:
        emit("set_presence", text=desired.presence)
    return commands


def _sort_key(key: str) -> tuple[int, str]:
    return (0, f"{int(key):012d}") if key.isdigit() else (1, key)


def overlay(base: ExtensionState, top: ExtensionState) -> ExtensionState:
    """Desired state ``top`` laid over ``base``: top's set fields win."""
    merged = {}
    for name in ("dnd", "dnd_message", "forward", "location", "gsm", "presence"):
        value = getattr(top, name)
        merged[name] = value if value is not None else getattr(base, name)
    destinations = dict(base.destinations)
    for key, want in top.destinations.items():
        destinations[key] = _merge(destinations.get(key), want)
    teams = dict(base.teams)
    for key, want in top.teams.items():
        teams[key] = _merge(teams.get(key), want)
    return ExtensionState(destinations=destinations, teams=teams, **merged)


def _merge(base, top):
    if base is None:
        return top
    changes = {k: v for k, v in asdict(top).items() if v is not None}
    return replace(base, **changes)


# --- user-level values ---------------------------------------------------------


@dataclass(frozen=True)
class UserState:
    """A user's devices by extension number (primary plus connected softphones)."""

    extensions: dict[str, ExtensionState] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"extensions": {k: v.to_json() for k, v in self.extensions.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> UserState:
        data = data or {}
        return cls(extensions={str(k): ExtensionState.from_json(v) for k, v in (data.get("extensions") or {}).items()})


def diff_user(actual: UserState, desired: UserState) -> list[Command]:
    commands: list[Command] = []
    for number in sorted(desired.extensions):
        if number in actual.extensions:
            commands.extend(diff(number, actual.extensions[number], desired.extensions[number]))
    return commands


# --- descriptions for people ----------------------------------------------------


def describe_command(command: Command) -> str:
    a = command.args
    ext = command.extension
    op = command.op
    if op == "set_dnd":
        if a["on"]:
            return f"{ext}: turn DND on" + (f" ({a['message']})" if a.get("message") else "")
        return f"{ext}: turn DND off"
    if op == "set_forward":
        return f"{ext}: forward to {a['target']}" if a["target"] else f"{ext}: remove forward"
    if op == "set_destination":
        parts = []
        if "active" in a:
            parts.append("activate" if a["active"] else "deactivate")
        if "ring_delay" in a:
            parts.append(f"ring delay {a['ring_delay']} s")
        if "ring_timeout" in a:
            parts.append(f"ring timeout {a['ring_timeout']} s")
        return f"{ext}: destination {a['destination']}: " + ", ".join(parts)
    if op in ("team_login", "team_logout", "team_pause", "team_unpause"):
        verb = {
            "team_login": "log in to",
            "team_logout": "log out of",
            "team_pause": "pause in",
            "team_unpause": "end pause in",
        }[op]
        return f"{ext}: {verb} team {a['team']}"
    if op == "set_pickup":
        return f"{ext}: group call pickup for team {a['team']} {'on' if a['on'] else 'off'}"
    if op == "set_location":
        return f"{ext}: set location {a['location']}" if a["location"] != NO_LOCATION else f"{ext}: remove location"
    if op == "set_gsm":
        return f"{ext}: GSM mode {'on' if a['on'] else 'off'}"
    if op == "set_presence":
        return f"{ext}: presence “{a['text']}”" if a["text"] else f"{ext}: clear presence"
    return f"{ext}: {op} {a}"
