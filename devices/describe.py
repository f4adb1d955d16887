"""Device commands in words, for people, in the active language: with the
destination's family and number, the team's and the location's name instead
of their ids ("1000: deactivate Mobile +49 170 1234567", "1000: log in to
team Sales"). Preview, history, mismatches and the handset page all use
these; the stored descriptions (``ApplyStep.description``,
``Mismatch.description``) are only the fallback for rows whose command can no
longer be described."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from devices.models import Destination, Location, Team
from devices.state import NO_LOCATION, Command


@dataclass
class Names:
    """Names of what commands refer to by id."""

    destinations: dict[int, str] = field(default_factory=dict)
    teams: dict[int, str] = field(default_factory=dict)
    locations: dict[int, str] = field(default_factory=dict)


def _ids(commands: Iterable[Command], key: str) -> set[int]:
    ids = set()
    for c in commands:
        value = c.args.get(key)
        if value is not None and str(value).isdigit():
            ids.add(int(value))
    return ids


def names_for(commands: Iterable[Command]) -> Names:
    """The names the commands refer to (at most three queries)."""
    commands = list(commands)
    names = Names()
    if ids := _ids(commands, "destination"):
        names.destinations = {d.pk: str(d) for d in Destination.objects.filter(pk__in=ids)}
    if ids := _ids(commands, "team"):
        names.teams = dict(Team.objects.filter(pk__in=ids).values_list("id", "name"))
    if ids := _ids(commands, "location") - {NO_LOCATION}:
        names.locations = dict(Location.objects.filter(pk__in=ids).values_list("id", "name"))
    return names


def _name(mapping: dict[int, str], value, unknown: str) -> str:
    try:
        return mapping[int(value)]
    except (KeyError, TypeError, ValueError):
        return unknown


def describe(command: Command, names: Names) -> str:
    """One command as a sentence fragment prefixed with its extension."""
    a, op = command.args, command.op
    return _("%(extension)s: %(change)s") % {"extension": command.extension, "change": _change(op, a, names)}


def _on_off(value) -> str:
    return _("on") if value else _("off")


def _change(op: str, a: dict, names: Names) -> str:
    if op == "set_dnd":
        if not a["on"]:
            return _("turn do-not-disturb off")
        if a.get("message"):
            return _("turn do-not-disturb on (“%(message)s”)") % {"message": a["message"]}
        return _("turn do-not-disturb on")
    if op == "set_forward":
        if a["target"]:
            return _("forward calls to %(target)s") % {"target": a["target"]}
        return _("remove the call forward")
    if op == "set_destination":
        destination = _name(names.destinations, a["destination"], _("a removed destination"))
        parts = []
        if "active" in a:
            parts.append(_("activate") if a["active"] else _("deactivate"))
        if "ring_delay" in a:
            parts.append(_("ring after %(seconds)s s") % {"seconds": a["ring_delay"]})
        if "ring_timeout" in a:
            parts.append(_("ring for %(seconds)s s") % {"seconds": a["ring_timeout"]})
        return _("%(destination)s: %(changes)s") % {"destination": destination, "changes": ", ".join(parts)}
    if op in ("team_login", "team_logout", "team_pause", "team_unpause", "set_pickup"):
        team = _name(names.teams, a["team"], _("a removed team"))
        if op == "team_login":
            return _("log in to team %(team)s") % {"team": team}
        if op == "team_logout":
            return _("log out of team %(team)s") % {"team": team}
        if op == "team_pause":
            return _("pause in team %(team)s") % {"team": team}
        if op == "team_unpause":
            return _("end the pause in team %(team)s") % {"team": team}
        return _("group call pickup for team %(team)s %(state)s") % {"team": team, "state": _on_off(a["on"])}
    if op == "set_location":
        if a["location"] == NO_LOCATION:
            return _("remove the location")
        return _("set the location %(location)s") % {
            "location": _name(names.locations, a["location"], _("a removed location"))
        }
    if op == "set_gsm":
        return _("GSM mode %(state)s") % {"state": _on_off(a["on"])}
    if op == "set_presence":
        if a["text"]:
            return _("show the presence “%(text)s”") % {"text": a["text"]}
        return _("clear the presence")
    raise ValueError(op)


def describe_all(commands: Iterable[Command], fallbacks: Iterable[str] | None = None) -> list[str]:
    """Describe several commands with one lookup of names; a command that
    cannot be described (an older format) shows its stored fallback."""
    commands = list(commands)
    fallbacks = list(fallbacks) if fallbacks is not None else [""] * len(commands)
    names = names_for(commands)
    texts = []
    for command, fallback in zip(commands, fallbacks, strict=True):
        try:
            texts.append(describe(command, names))
        except (KeyError, TypeError, ValueError):
            texts.append(fallback or f"{command.extension}: {command.op}")
    return texts
