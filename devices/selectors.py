"""Reads of the devices app that more than one module needs."""

from __future__ import annotations

from collections.abc import Iterable

from devices.models import Destination, Location, Team
from devices.state import OPS, Command, CommandNames, one_language
from portal import bulk


def command_names(commands: Iterable[Command] | None = None) -> CommandNames:
    """The names of the teams, destinations and locations ``commands`` refer
    to (all of them when None), to describe the commands for people: at
    most three queries whatever the number of commands."""
    teams, destinations, locations = set(), set(), set()
    for c in commands if commands is not None else ():
        if "team" in c.args:
            teams.add(str(c.args["team"]))
        if "destination" in c.args:
            destinations.add(str(c.args["destination"]))
        if c.op == "set_location":
            locations.add(str(c.args["location"]))

    def rows(model, wanted):
        queryset = model.objects.all()
        if commands is not None:
            ids = [int(x) for x in wanted if x.isdigit()]
            if not ids:
                return model.objects.none()
            queryset = queryset.filter(bulk.any_of("pk", ids))
        return queryset

    # get_family_display() without an instance per row: each family's label
    # is translated once per call (a batch describes thousands of commands).
    labels = {value: str(label) for value, label in Destination.Family.choices}
    return CommandNames(
        teams={str(pk): name for pk, name in rows(Team, teams).values_list("pk", "name")},
        destinations={
            str(pk): f"{labels.get(family, family)} {number}"
            for pk, family, number in rows(Destination, destinations).values_list("pk", "family", "number")
        },
        locations={str(pk): name for pk, name in rows(Location, locations).values_list("pk", "name")},
    )


def describe_all(commands: Iterable[Command], fallbacks: Iterable[str] | None = None) -> list[str]:
    """Several commands described for people in the active language, with
    one lookup of names (at most three queries): the stored descriptions
    (``fallbacks``) are written in whatever language the worker ran in, so
    pages describe the commands again; a command that cannot be described
    (an older format) shows its stored text."""
    commands = list(commands)
    fallbacks = list(fallbacks) if fallbacks is not None else [""] * len(commands)
    names = command_names(commands)
    texts = []
    with one_language():
        for command, fallback in zip(commands, fallbacks, strict=True):
            try:
                texts.append(command.describe(names) if command.op in OPS else fallback or command.op)
            except (KeyError, TypeError, ValueError):
                texts.append(fallback or f"{command.extension}: {command.op}")
    return texts
