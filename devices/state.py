"""The typed device-state value, the commands that change it, and the diff.

Pure code: no database, no I/O. Everything the portal does to a phone system
is expressed here first.

Two kinds of value share one shape:

* an **actual** state is what a device is doing now: every field is set;
* a **desired** state is what a profile asks for: ``None`` means "this
  profile does not care", so whatever the device does there (for example a
  DND the user pressed on the handset) sticks (docs/rules.md#rule-4).

``diff(actual, desired)`` lists the commands that make the device satisfy
the desired state; ``apply_commands`` runs them on a value (the simulated
PBX uses exactly this). By construction ``diff(apply_commands(a, diff(a, d)),
d) == []``: converging twice changes nothing the second time (docs/rules.md#rule-2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any

from django.utils.translation import gettext, gettext_noop

# Within one_language(): the texts describe() translated so far. Django's
# gettext looks up the active language and every catalogue on each call
# (about 9 µs); a batch converge describes thousands of commands with a
# dozen texts.
_memo: ContextVar[dict[str, str] | None] = ContextVar("describe_memo", default=None)


def _(message: str) -> str:
    """gettext, from the memo inside one_language()."""
    memo = _memo.get()
    if memo is None:
        return gettext(message)
    text = memo.get(message)
    if text is None:
        text = memo[message] = gettext(message)
    return text


@contextmanager
def one_language() -> Iterator[None]:
    """Describe many commands in the active language, translating each text
    once. The language must not change inside (nothing here changes it)."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def evolve(value, /, **changes):
    """dataclasses.replace for the state values here (frozen dataclasses with
    every field in __init__ and no __post_init__): a copy of the instance's
    fields with the changes, without the generic field-by-field __init__,
    which is several times slower. A batch converge of 500 users and its
    switch make about 7,500 of these."""
    if not changes.keys() <= value.__dataclass_fields__.keys():
        raise TypeError(
            f"{type(value).__name__} has no field {sorted(changes.keys() - value.__dataclass_fields__.keys())}"
        )
    new = object.__new__(type(value))
    new.__dict__.update(value.__dict__, **changes)
    return new


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
    turns it on (docs/rules.md#rule-11).
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
        # From the instance dicts, not dataclasses.asdict (a deep copy): the
        # values are immutable, and a batch of 500 switches serialised 3x
        # faster. Unset fields (None) are left out; the two maps always stay.
        data = {k: v for k, v in self.__dict__.items() if v is not None}
        data["destinations"] = {k: _set_fields(v) for k, v in self.destinations.items()}
        data["teams"] = {k: _set_fields(v) for k, v in self.teams.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ExtensionState:
        data = dict(data or {})
        destinations = {str(k): DestinationState(**v) for k, v in (data.pop("destinations", None) or {}).items()}
        teams = {str(k): TeamState(**v) for k, v in (data.pop("teams", None) or {}).items()}
        return cls(destinations=destinations, teams=teams, **data)


def _set_fields(value) -> dict[str, Any]:
    """The fields of a state value that are set (its instance dict: these
    frozen dataclasses keep nothing else there), in declaration order: their
    __init__ and evolve() write them in that order."""
    return {k: v for k, v in value.__dict__.items() if v is not None}


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

    def describe(self, names: CommandNames | None = None) -> str:
        return describe_command(self, names or NO_NAMES)


def _team(state: ExtensionState, a: dict) -> tuple[str, TeamState]:
    key = str(a["team"])
    return key, state.teams.get(key, TeamState(logged_in=False, paused=False, pickup=False))


def _set_team(state: ExtensionState, key: str, team: TeamState) -> ExtensionState:
    return evolve(state, teams={**state.teams, key: team})


def _apply_destination(state: ExtensionState, a: dict) -> ExtensionState:
    key = str(a["destination"])
    current = state.destinations.get(key, DestinationState())
    changes = {f: a[f] for f in ("active", "ring_delay", "ring_timeout") if f in a}
    return evolve(state, destinations={**state.destinations, key: evolve(current, **changes)})


def _apply_pause(paused: bool):
    def apply(state: ExtensionState, a: dict) -> ExtensionState:
        key, current = _team(state, a)
        return _set_team(state, key, evolve(current, paused=paused))

    return apply


def _apply_pickup(state: ExtensionState, a: dict) -> ExtensionState:
    key, current = _team(state, a)
    return _set_team(state, key, evolve(current, pickup=bool(a["on"])))


def apply_command(state: ExtensionState, command: Command) -> ExtensionState:
    """The effect of one command on an actual state."""
    op = OPS.get(command.op)
    if op is None:
        raise ValueError(f"unknown command {command.op!r}")
    return op.apply(state, command.args)


def apply_commands(state: ExtensionState, commands: list[Command]) -> ExtensionState:
    for command in commands:
        state = apply_command(state, command)
    return state


# --- diff -------------------------------------------------------------------


def diff(extension: str, actual: ExtensionState, desired: ExtensionState) -> list[Command]:
    """The commands that make ``actual`` satisfy ``desired``, in a fixed order.

    Fields the desired state leaves as None are not touched. A command is
    simulated on a working copy so the comparisons after it see its side
    effects (a team login also turns pickup on), unless its operation says
    no later comparison reads them (``Op.reread_in_diff``: a batch converge
    diffs thousands of commands).
    """
    commands: list[Command] = []
    work = actual

    def emit(op: str, **args: Any) -> None:
        nonlocal work
        command = Command(extension, op, args)
        commands.append(command)
        if OPS[op].reread_in_diff:
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


def _sort_key(key: str) -> tuple[int, int | str]:
    """Numeric ids in numeric order, then other keys in text order."""
    return (0, int(key)) if key.isdigit() else (1, key)


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
    return evolve(base, **changes)


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


# --- the commands: one entry per operation ---------------------------------------


@dataclass(frozen=True)
class CommandNames:
    """Names to describe commands with, by id: teams, destinations
    ("Desk phone 1000"), locations. Ids without a name (a row deleted
    since) are described as "a removed team" and so on, never by id."""

    teams: dict[str, str] = field(default_factory=dict)
    destinations: dict[str, str] = field(default_factory=dict)
    locations: dict[str, str] = field(default_factory=dict)

    def team(self, key) -> str:
        return self.teams.get(str(key)) or _("a removed team")

    def destination(self, key) -> str:
        return self.destinations.get(str(key)) or _("a removed destination")

    def location(self, key) -> str:
        return self.locations.get(str(key)) or _("a removed location")


NO_NAMES = CommandNames()


def _describe_dnd(a: dict, names: CommandNames) -> str:
    if not a["on"]:
        return _("turn DND off")
    if a.get("message"):
        return _("turn DND on (%(message)s)") % {"message": a["message"]}
    return _("turn DND on")


def _describe_destination(a: dict, names: CommandNames) -> str:
    parts = []
    if "active" in a:
        parts.append(_("activate") if a["active"] else _("deactivate"))
    if "ring_delay" in a:
        parts.append(_("ring delay %(seconds)s s") % {"seconds": a["ring_delay"]})
    if "ring_timeout" in a:
        parts.append(_("ring timeout %(seconds)s s") % {"seconds": a["ring_timeout"]})
    return _("%(destination)s: %(changes)s") % {
        "destination": names.destination(a["destination"]),
        "changes": ", ".join(parts),
    }


def _describe_team(template: str):
    def describe(a: dict, names: CommandNames) -> str:
        return _(template) % {"team": names.team(a["team"])}

    return describe


def _describe_pickup(a: dict, names: CommandNames) -> str:
    template = _("group call pickup for %(team)s on") if a["on"] else _("group call pickup for %(team)s off")
    return template % {"team": names.team(a["team"])}


def _describe_location(a: dict, names: CommandNames) -> str:
    if a["location"] == NO_LOCATION:
        return _("remove location")
    return _("set location %(location)s") % {"location": names.location(a["location"])}


def _describe_presence(a: dict, names: CommandNames) -> str:
    return _("presence “%(text)s”") % {"text": a["text"]} if a["text"] else _("clear presence")


@dataclass(frozen=True)
class Op:
    """One operation a driver sends: its effect on a state value and its
    description for people (without the extension). ``reread_in_diff``:
    diff() simulates the command on its working copy because a comparison
    after it reads what it changes (the team loop reads a team again after
    each of its commands); False only for an operation whose effect no later
    comparison reads, which saves the copy."""

    apply: Callable[[ExtensionState, dict], ExtensionState]
    describe: Callable[[dict, CommandNames], str]
    reread_in_diff: bool = True


OPS: dict[str, Op] = {
    "set_dnd": Op(  # on, message
        lambda s, a: evolve(s, dnd=bool(a["on"]), dnd_message=a.get("message", "") if a["on"] else ""),
        _describe_dnd,
        reread_in_diff=False,
    ),
    "set_forward": Op(  # target ("" clears)
        lambda s, a: evolve(s, forward=a["target"]),
        lambda a, n: _("forward to %(target)s") % {"target": a["target"]} if a["target"] else _("remove forward"),
        reread_in_diff=False,
    ),
    "set_destination": Op(  # destination, active?, ring_delay?, ring_timeout?
        _apply_destination, _describe_destination, reread_in_diff=False
    ),
    "team_login": Op(  # team; joining turns group pickup on (docs/rules.md#rule-11)
        lambda s, a: _set_team(s, str(a["team"]), TeamState(logged_in=True, paused=False, pickup=True)),
        _describe_team(gettext_noop("log in to %(team)s")),
    ),
    "team_logout": Op(  # team; leaving turns group pickup off
        lambda s, a: _set_team(s, str(a["team"]), TeamState(logged_in=False, paused=False, pickup=False)),
        _describe_team(gettext_noop("log out of %(team)s")),
    ),
    "team_pause": Op(_apply_pause(True), _describe_team(gettext_noop("pause in %(team)s"))),  # team
    "team_unpause": Op(_apply_pause(False), _describe_team(gettext_noop("end pause in %(team)s"))),  # team
    "set_pickup": Op(_apply_pickup, _describe_pickup),  # team, on
    "set_location": Op(  # location
        lambda s, a: evolve(s, location=int(a["location"])), _describe_location, reread_in_diff=False
    ),
    "set_gsm": Op(  # on
        lambda s, a: evolve(s, gsm=bool(a["on"])),
        lambda a, n: _("GSM mode on") if a["on"] else _("GSM mode off"),
        reread_in_diff=False,
    ),
    "set_presence": Op(  # text
        lambda s, a: evolve(s, presence=a["text"]), _describe_presence, reread_in_diff=False
    ),
}


def describe_command(command: Command, names: CommandNames = NO_NAMES) -> str:
    """ "1000: log in to Sales", with names where ``names`` has them."""
    op = OPS.get(command.op)
    if op is None:
        return f"{command.extension}: {command.op} {command.args}"
    return f"{command.extension}: {op.describe(command.args, names)}"
