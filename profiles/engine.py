"""From a selection to a desired device state: the fold of exit and enter
chains plus the portal's policies (hot desk, client sessions).

Pure over already-loaded objects; the service layer loads them in a fixed
number of queries and stores the result.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.state import DestinationState, ExtensionState, TeamState, UserState, evolve
from profiles.actions import ActionContext, fold


@dataclass(frozen=True)
class Devices:
    """What a user's profile acts on, loaded once per event."""

    primary: str  # primary extension number
    destinations: dict[str, str]  # destination id -> family
    teams: tuple[str, ...]  # team ids of the primary extension
    softphones: tuple[str, ...]  # extensions with a connected client session
    hot_desk_logged_out: bool  # primary is a hot-desk device and nobody is logged in
    disable_when_logged_out: bool  # the client profile's hot-desk option

    @property
    def context(self) -> ActionContext:
        return ActionContext(destinations=self.destinations, teams=self.teams)


def _chain(actions, phase: str):
    return sorted((a for a in actions if a.phase == phase), key=lambda a: (a.position, a.id or 0))


def desired_state(
    devices: Devices,
    profile,
    profile_actions,
    *,
    exit_actions=(),
    prompts: dict[str, str] | None = None,
    hot_desk_login: bool = False,
) -> UserState:
    """The user's desired state after entering ``profile``.

    ``exit_actions``: the old profile's actions when this is a switch (its
    exit chain runs first, docs/rules.md#rule-1); empty for a re-apply. ``hot_desk_login``:
    the main device was just logged in, so destinations and teams come back
    before the profile's own chain (docs/rules.md#rule-7).
    """
    ctx = devices.context
    state = ExtensionState()
    if hot_desk_login and devices.disable_when_logged_out:
        state = _restore_dee_ucd(state, devices)
    state = fold(state, _chain(exit_actions, "exit"), ctx)
    state = fold(state, _chain(profile_actions, "enter"), ctx, prompts)
    state = evolve(state, presence=profile.name)
    if devices.hot_desk_logged_out and devices.disable_when_logged_out:
        state = _disable_dee_ucd(state, devices)
    extensions = {devices.primary: state}
    for number in devices.softphones:
        extensions[number] = softphone_state(state)
    return UserState(extensions=extensions)


def softphone_state(primary: ExtensionState) -> ExtensionState:
    """What a connected softphone takes from the profile (docs/rules.md#rule-6): DND,
    forward and presence; destinations and teams belong to the primary."""
    return ExtensionState(
        dnd=primary.dnd, dnd_message=primary.dnd_message, forward=primary.forward, presence=primary.presence
    )


def released_softphone_state() -> ExtensionState:
    """A softphone whose client disconnected: the profile's changes removed."""
    return ExtensionState(dnd=False, dnd_message="", forward="", presence="")


def _disable_dee_ucd(state: ExtensionState, devices: Devices) -> ExtensionState:
    destinations = {
        d: evolve(state.destinations.get(d, DestinationState()), active=False) for d in devices.destinations
    }
    teams = {t: TeamState(logged_in=False, paused=False, pickup=False) for t in devices.teams}
    return evolve(state, destinations={**state.destinations, **destinations}, teams={**state.teams, **teams})


def _restore_dee_ucd(state: ExtensionState, devices: Devices) -> ExtensionState:
    destinations = {d: DestinationState(active=True) for d in devices.destinations}
    teams = {t: TeamState(logged_in=True, paused=False, pickup=True) for t in devices.teams}
    return evolve(state, destinations=destinations, teams=teams)
