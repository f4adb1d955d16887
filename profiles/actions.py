"""Action types: parameters, validation, description, and their effect.

Every action type is a pure function ``ExtensionState -> ExtensionState``
over a desired state (devices.state). Actions are *settings*, not toggles:
running a chain twice gives the same state (DESIGN rule 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from devices.state import NO_LOCATION, DestinationState, ExtensionState, TeamState
from devices.validators import CONTROL_CHARACTERS, normalise_number

FAMILIES = ("desk", "softphone", "mobile", "dect", "external", "voicemail")
TEAM_TYPES = ("team_login", "team_logout", "team_pause", "team_unpause")
MAX_MESSAGE = 100

# Prompt kinds a chain can ask for at selection time (DESIGN rule 3).
PROMPT_DND_MESSAGE = "dnd_message"
PROMPT_FORWARD = "forward"


@dataclass(frozen=True)
class ActionContext:
    """What the chain acts on: the primary extension's destinations (id ->
    family) and the teams it is a member of (ids)."""

    destinations: dict[str, str] = field(default_factory=dict)
    teams: tuple[str, ...] = ()


# --- validation ----------------------------------------------------------------


def _bool(params: dict, key: str, errors: dict, *, default: bool | None = None) -> bool | None:
    value = params.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "on", "1", "false", "off", "0"):
        return value.lower() in ("true", "on", "1")
    errors[key] = "Choose yes or no."
    return None


def _int(params: dict, key: str, errors: dict, lo: int, hi: int) -> int | None:
    value = params.get(key)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors[key] = "Enter a whole number."
        return None
    if not lo <= number <= hi:
        errors[key] = f"Enter a number from {lo} to {hi}."
        return None
    return number


def _ref(params: dict, key: str, errors: dict, known: set[int] | None, *, required: bool, what: str) -> int | None:
    value = params.get(key)
    if value in (None, "", "all"):
        if required:
            errors[key] = f"Choose a {what}."
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors[key] = f"Choose a {what}."
        return None
    if known is not None and number not in known:
        errors[key] = f"That {what} does not exist or is not yours."
        return None
    return number


def validate_params(
    action_type: str,
    params: dict[str, Any] | None,
    *,
    teams: set[int] | None = None,
    locations: set[int] | None = None,
) -> dict[str, Any]:
    """Return the cleaned parameters of an action, or raise ValidationError
    with a message per parameter. ``teams``/``locations``: ids that may be
    referenced (None: not checked here)."""
    params = dict(params or {})
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    if action_type == "set_dnd":
        clean["on"] = _bool(params, "on", errors, default=True)
        clean["prompt"] = bool(_bool(params, "prompt", errors, default=False))
        message = str(params.get("message") or "").strip()
        if len(message) > MAX_MESSAGE:
            errors["message"] = f"At most {MAX_MESSAGE} characters."
        elif CONTROL_CHARACTERS.search(message):
            errors["message"] = _("Remove the control characters (such as NUL) from this text.")
        clean["message"] = message
        if clean["prompt"] and clean["on"] is False:
            errors["prompt"] = "Only a DND that is turned on can prompt for a message."
    elif action_type == "set_forward":
        clean["prompt"] = bool(_bool(params, "prompt", errors, default=False))
        target = str(params.get("target") or "").strip()
        if target:
            try:
                target = normalise_number(target)
            except ValidationError as exc:
                errors["target"] = exc.messages[0]
        elif not clean["prompt"]:
            errors["target"] = "Enter a forward target, or choose to be asked on selection."
        clean["target"] = target
    elif action_type in ("unset_forward", "remove_location"):
        pass
    elif action_type == "change_destinations":
        family = params.get("family") or "all"
        if family != "all" and family not in FAMILIES:
            errors["family"] = "Choose all devices or one device family."
        clean["family"] = family
        clean["active"] = _bool(params, "active", errors)
        clean["ring_delay"] = _int(params, "ring_delay", errors, 0, 120)
        clean["ring_timeout"] = _int(params, "ring_timeout", errors, 5, 300)
        if not errors and clean["active"] is None and clean["ring_delay"] is None and clean["ring_timeout"] is None:
            errors["active"] = "Choose what to change: active, ring delay or ring timeout."
    elif action_type == "set_gsm_mode":
        clean["on"] = _bool(params, "on", errors, default=True)
    elif action_type in TEAM_TYPES:
        clean["team"] = _ref(params, "team", errors, teams, required=False, what="team")
    elif action_type == "set_location":
        clean["location"] = _ref(params, "location", errors, locations, required=True, what="location")
    else:
        raise ValidationError({"type": f"Unknown action type {action_type!r}."})
    if errors:
        raise ValidationError(errors)
    return clean


def prompts_needed(action_type: str, params: dict[str, Any]) -> set[str]:
    if action_type == "set_dnd" and params.get("prompt") and params.get("on", True):
        return {PROMPT_DND_MESSAGE}
    if action_type == "set_forward" and params.get("prompt"):
        return {PROMPT_FORWARD}
    return set()


def clean_prompt_values(needed: set[str], values: dict[str, Any]) -> dict[str, str]:
    """Validate the values a user typed at selection; raise ValidationError."""
    clean: dict[str, str] = {}
    errors: dict[str, str] = {}
    if PROMPT_DND_MESSAGE in needed:
        message = str(values.get(PROMPT_DND_MESSAGE) or "").strip()
        if len(message) > MAX_MESSAGE:
            errors[PROMPT_DND_MESSAGE] = f"At most {MAX_MESSAGE} characters."
        elif CONTROL_CHARACTERS.search(message):
            errors[PROMPT_DND_MESSAGE] = _("Remove the control characters (such as NUL) from this text.")
        clean[PROMPT_DND_MESSAGE] = message
    if PROMPT_FORWARD in needed:
        target = str(values.get(PROMPT_FORWARD) or "").strip()
        if not target:
            errors[PROMPT_FORWARD] = "Enter the number to forward to."
        else:
            try:
                clean[PROMPT_FORWARD] = normalise_number(target)
            except ValidationError as exc:
                errors[PROMPT_FORWARD] = exc.messages[0]
    if errors:
        raise ValidationError(errors)
    return clean


# --- effect ----------------------------------------------------------------------


def apply_action(
    state: ExtensionState,
    action_type: str,
    params: dict[str, Any],
    ctx: ActionContext,
    prompts: dict[str, str] | None = None,
) -> ExtensionState:
    prompts = prompts or {}
    if action_type == "set_dnd":
        on = params.get("on", True)
        message = params.get("message", "")
        if on and params.get("prompt"):
            message = prompts.get(PROMPT_DND_MESSAGE, message)
        return replace(state, dnd=bool(on), dnd_message=message if on else "")
    if action_type == "set_forward":
        target = params.get("target", "")
        if params.get("prompt"):
            target = prompts.get(PROMPT_FORWARD) or target
        return replace(state, forward=target)
    if action_type == "unset_forward":
        return replace(state, forward="")
    if action_type == "change_destinations":
        family = params.get("family", "all")
        changes = {k: params[k] for k in ("active", "ring_delay", "ring_timeout") if params.get(k) is not None}
        destinations = dict(state.destinations)
        for dest_id, dest_family in ctx.destinations.items():
            if family in ("all", dest_family):
                destinations[dest_id] = replace(destinations.get(dest_id, DestinationState()), **changes)
        return replace(state, destinations=destinations)
    if action_type == "set_gsm_mode":
        return replace(state, gsm=bool(params.get("on", True)))
    if action_type in TEAM_TYPES:
        team = params.get("team")
        targets = ctx.teams if team is None else tuple(t for t in ctx.teams if t == str(team))
        teams = dict(state.teams)
        for key in targets:
            current = teams.get(key, TeamState())
            if action_type == "team_login":
                teams[key] = TeamState(logged_in=True, paused=False, pickup=True)
            elif action_type == "team_logout":
                # Leaving a team also turns off its group call pickup (rule 11).
                teams[key] = TeamState(logged_in=False, paused=False, pickup=False)
            else:
                teams[key] = replace(current, paused=action_type == "team_pause")
        return replace(state, teams=teams)
    if action_type == "set_location":
        return replace(state, location=int(params["location"]))
    if action_type == "remove_location":
        return replace(state, location=NO_LOCATION)
    raise ValueError(f"unknown action type {action_type!r}")


def fold(state: ExtensionState, chain, ctx: ActionContext, prompts: dict[str, str] | None = None) -> ExtensionState:
    """Run a chain top to bottom, skipping disabled actions (rule 1).

    ``chain`` is any iterable of objects with ``type``, ``params`` and
    ``enabled`` (Action rows, or plain values in tests)."""
    for action in chain:
        if action.enabled:
            state = apply_action(state, action.type, action.params, ctx, prompts)
    return state


# --- description ---------------------------------------------------------------


def describe_action(action_type: str, params: dict[str, Any], names: dict[str, dict[int, str]] | None = None) -> str:
    """One line for people, e.g. "DND on (ask for a message)". ``names`` maps
    "teams"/"locations" ids to names when the caller has them."""
    names = names or {}
    if action_type == "set_dnd":
        if not params.get("on", True):
            return "DND off"
        if params.get("prompt"):
            return "DND on (ask for a message)"
        return "DND on" + (f": {params['message']}" if params.get("message") else "")
    if action_type == "set_forward":
        if params.get("prompt"):
            return "Forward (ask for the number)"
        return f"Forward to {params.get('target', '')}"
    if action_type == "unset_forward":
        return "No forward"
    if action_type == "change_destinations":
        family = params.get("family", "all")
        which = "all destinations" if family == "all" else f"{family} destinations"
        parts = []
        if params.get("active") is not None:
            parts.append("active" if params["active"] else "inactive")
        if params.get("ring_delay") is not None:
            parts.append(f"ring delay {params['ring_delay']} s")
        if params.get("ring_timeout") is not None:
            parts.append(f"ring timeout {params['ring_timeout']} s")
        return f"{which.capitalize()}: {', '.join(parts)}"
    if action_type == "set_gsm_mode":
        return f"GSM mode {'on' if params.get('on', True) else 'off'}"
    if action_type in TEAM_TYPES:
        team = params.get("team")
        which = "all teams" if team is None else names.get("teams", {}).get(int(team), f"team {team}")
        verb = {
            "team_login": "Log in to",
            "team_logout": "Log out of",
            "team_pause": "Pause in",
            "team_unpause": "End pause in",
        }[action_type]
        return f"{verb} {which}"
    if action_type == "set_location":
        loc = params.get("location")
        return f"Set location {names.get('locations', {}).get(int(loc), loc) if loc else ''}".strip()
    if action_type == "remove_location":
        return "Remove location"
    return action_type
