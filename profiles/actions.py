"""Action types: one registry entry per type (docs/architecture.md#action-types).

Each entry says how the type's parameters are validated, what the action
does to a desired device state, how it reads for people, which values it
asks for at selection, and which form fields edit it. A new action type is
one entry here: the model's choices (``Action.type``), the user pages' forms
and the admin's form all come from this registry. Only a new *driver
command* also needs an entry in ``devices.state.OPS``.

Every action type is a pure function ``ExtensionState -> ExtensionState``
over a desired state (devices.state). Actions are *settings*, not toggles:
running a chain twice gives the same state (docs/rules.md#rule-2). No
database here: references (teams, locations) are checked against the ids
the caller passes, and described with the names the caller passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from devices.state import NO_LOCATION, DestinationState, ExtensionState, TeamState, evolve
from devices.validators import CONTROL_CHARACTERS, normalise_number

FAMILIES = ("desk", "softphone", "mobile", "dect", "external", "voicemail")
MAX_MESSAGE = 100

# Prompt kinds a chain can ask for at selection time (docs/rules.md#rule-3).
PROMPT_DND_MESSAGE = "dnd_message"
PROMPT_FORWARD = "forward"

# ids -> names, by "teams" / "locations" (profiles.selectors.reference_names)
Names = dict[str, dict[int, str]]


@dataclass(frozen=True)
class ActionContext:
    """What the chain acts on: the primary extension's destinations (id ->
    family) and the teams it is a member of (ids)."""

    destinations: dict[str, str] = field(default_factory=dict)
    teams: tuple[str, ...] = ()


# --- parameter helpers ----------------------------------------------------------


def _bool(params: dict, key: str, errors: dict, *, default: bool | None = None) -> bool | None:
    value = params.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "on", "1", "false", "off", "0"):
        return value.lower() in ("true", "on", "1")
    errors[key] = _("Choose yes or no.")
    return None


def _int(params: dict, key: str, errors: dict, lo: int, hi: int) -> int | None:
    value = params.get(key)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors[key] = _("Enter a whole number.")
        return None
    if not lo <= number <= hi:
        errors[key] = _("Enter a number from %(lo)s to %(hi)s.") % {"lo": lo, "hi": hi}
        return None
    return number


def _ref(params: dict, key: str, errors: dict, known: set[int] | None, *, required: bool, missing: str, unknown: str):
    value = params.get(key)
    if value in (None, "", "all"):
        if required:
            errors[key] = missing
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors[key] = missing
        return None
    if known is not None and number not in known:
        errors[key] = unknown
        return None
    return number


def _name(names: Names, kind: str, key, fallback: str) -> str:
    return names.get(kind, {}).get(int(key), fallback) if str(key).isdigit() else fallback


def on_off_field(label) -> forms.TypedChoiceField:
    """An On/Off choice that cleans to a bool (DND, GSM mode)."""
    return forms.TypedChoiceField(
        choices=[("true", gettext_lazy("On")), ("false", gettext_lazy("Off"))],
        coerce=lambda v: v == "true",
        initial="true",
        label=label,
    )


def _on_off_initial(params: dict) -> str:
    """The choice for a stored "on" parameter; actions default to on."""
    return "true" if params.get("on", True) else "false"


def _no_prompts(params: dict) -> set[str]:
    return set()


def _no_fields() -> dict[str, forms.Field]:
    return {}


def _same(params: dict) -> dict:
    return dict(params)


def _without_phase(cleaned: dict) -> dict:
    return {k: v for k, v in cleaned.items() if k != "phase"}


@dataclass(frozen=True)
class ActionType:
    """One action type. ``validate(params, errors, teams, locations)``
    returns the cleaned parameters and puts a message per bad parameter
    into ``errors``; ``apply(state, params, ctx, prompts)`` is the effect;
    ``describe(params, names)`` one line for people; ``prompts(params)``
    what it asks for at selection; ``label`` its name in lists (the
    model's choices); ``fields()`` the form fields of the
    user pages' editor (named like the parameters), ``initial(params)``
    their initial values and ``form_params(cleaned)`` the parameters a
    filled form gives; ``references``: "teams" or "locations" when a
    parameter names one (the editor offers the user's)."""

    validate: Callable[..., dict]
    apply: Callable[..., ExtensionState]
    describe: Callable[[dict, Names], str]
    label: Any = ""
    prompts: Callable[[dict], set[str]] = _no_prompts
    fields: Callable[[], dict[str, forms.Field]] = _no_fields
    initial: Callable[[dict], dict] = _same
    form_params: Callable[[dict], dict] = _without_phase
    references: str = ""


# --- DND -----------------------------------------------------------------------------


def _validate_dnd(params, errors, teams, locations):
    clean = {
        "on": _bool(params, "on", errors, default=True),
        "prompt": bool(_bool(params, "prompt", errors, default=False)),
    }
    message = str(params.get("message") or "").strip()
    if len(message) > MAX_MESSAGE:
        errors["message"] = _("At most %(count)s characters.") % {"count": MAX_MESSAGE}
    elif CONTROL_CHARACTERS.search(message):
        errors["message"] = _("Remove the control characters (such as NUL) from this text.")
    clean["message"] = message
    if clean["prompt"] and clean["on"] is False:
        errors["prompt"] = _("Only a DND that is turned on can prompt for a message.")
    return clean


def _apply_dnd(state, params, ctx, prompts):
    on = params.get("on", True)
    message = params.get("message", "")
    if on and params.get("prompt"):
        message = prompts.get(PROMPT_DND_MESSAGE, message)
    return evolve(state, dnd=bool(on), dnd_message=message if on else "")


def _describe_dnd(params, names):
    if not params.get("on", True):
        return _("DND off")
    if params.get("prompt"):
        return _("DND on (ask for a message)")
    if params.get("message"):
        return _("DND on: %(message)s") % {"message": params["message"]}
    return _("DND on")


SET_DND = ActionType(
    label=gettext_lazy("Set do-not-disturb"),
    validate=_validate_dnd,
    apply=_apply_dnd,
    describe=_describe_dnd,
    prompts=lambda p: {PROMPT_DND_MESSAGE} if p.get("prompt") and p.get("on", True) else set(),
    fields=lambda: {
        "on": on_off_field(gettext_lazy("DND")),
        "message": forms.CharField(required=False, max_length=MAX_MESSAGE, label=gettext_lazy("Message")),
        "prompt": forms.BooleanField(required=False, label=gettext_lazy("Ask for a message when I select the profile")),
    },
    initial=lambda p: {**p, "on": _on_off_initial(p)},
)


# --- forward ---------------------------------------------------------------------------


def _validate_forward(params, errors, teams, locations):
    clean = {"prompt": bool(_bool(params, "prompt", errors, default=False))}
    target = str(params.get("target") or "").strip()
    if target:
        try:
            target = normalise_number(target)
        except ValidationError as exc:
            errors["target"] = exc.messages[0]
    elif not clean["prompt"]:
        errors["target"] = _("Enter a forward target, or choose to be asked on selection.")
    clean["target"] = target
    return clean


def _apply_forward(state, params, ctx, prompts):
    target = params.get("target", "")
    if params.get("prompt"):
        target = prompts.get(PROMPT_FORWARD) or target
    return evolve(state, forward=target)


def _describe_forward(params, names):
    if params.get("prompt"):
        return _("Forward (ask for the number)")
    return _("Forward to %(target)s") % {"target": params.get("target", "")}


SET_FORWARD = ActionType(
    label=gettext_lazy("Set forward"),
    validate=_validate_forward,
    apply=_apply_forward,
    describe=_describe_forward,
    prompts=lambda p: {PROMPT_FORWARD} if p.get("prompt") else set(),
    fields=lambda: {
        "target": forms.CharField(
            required=False,
            max_length=32,
            label=gettext_lazy("Forward to"),
            widget=forms.TextInput(attrs={"inputmode": "tel"}),
        ),
        "prompt": forms.BooleanField(
            required=False, label=gettext_lazy("Ask for the number when I select the profile")
        ),
    },
)

UNSET_FORWARD = ActionType(
    label=gettext_lazy("Remove forward"),
    validate=lambda params, errors, teams, locations: {},
    apply=lambda state, params, ctx, prompts: evolve(state, forward=""),
    describe=lambda params, names: _("No forward"),
)


# --- destinations -----------------------------------------------------------------------


def _validate_destinations(params, errors, teams, locations):
    family = params.get("family") or "all"
    if family != "all" and family not in FAMILIES:
        errors["family"] = _("Choose all devices or one device family.")
    clean = {
        "family": family,
        "active": _bool(params, "active", errors),
        "ring_delay": _int(params, "ring_delay", errors, 0, 120),
        "ring_timeout": _int(params, "ring_timeout", errors, 5, 300),
    }
    if not errors and clean["active"] is None and clean["ring_delay"] is None and clean["ring_timeout"] is None:
        errors["active"] = _("Choose what to change: active, ring delay or ring timeout.")
    return clean


def _apply_destinations(state, params, ctx, prompts):
    family = params.get("family", "all")
    changes = {k: params[k] for k in ("active", "ring_delay", "ring_timeout") if params.get(k) is not None}
    destinations = dict(state.destinations)
    for dest_id, dest_family in ctx.destinations.items():
        if family in ("all", dest_family):
            destinations[dest_id] = evolve(destinations.get(dest_id, DestinationState()), **changes)
    return evolve(state, destinations=destinations)


FAMILY_LABELS = {
    "desk": gettext_lazy("Desk"),
    "softphone": gettext_lazy("Softphone"),
    "mobile": gettext_lazy("Mobile"),
    "dect": gettext_lazy("DECT"),
    "external": gettext_lazy("External"),
    "voicemail": gettext_lazy("Voicemail"),
}


def _describe_destinations(params, names):
    family = params.get("family", "all")
    if family == "all":
        which = _("All destinations")
    else:
        which = _("%(family)s destinations") % {"family": FAMILY_LABELS.get(family, family)}
    parts = []
    if params.get("active") is not None:
        parts.append(_("active") if params["active"] else _("inactive"))
    if params.get("ring_delay") is not None:
        parts.append(_("ring delay %(seconds)s s") % {"seconds": params["ring_delay"]})
    if params.get("ring_timeout") is not None:
        parts.append(_("ring timeout %(seconds)s s") % {"seconds": params["ring_timeout"]})
    return f"{which}: {', '.join(parts)}"


TRISTATE = [("", gettext_lazy("Leave as it is")), ("true", gettext_lazy("Active")), ("false", gettext_lazy("Inactive"))]

CHANGE_DESTINATIONS = ActionType(
    label=gettext_lazy("Change destinations (FollowMe)"),
    validate=_validate_destinations,
    apply=_apply_destinations,
    describe=_describe_destinations,
    fields=lambda: {
        "family": forms.ChoiceField(
            choices=[("all", gettext_lazy("All destinations")), *FAMILY_LABELS.items()],
            initial="all",
            label=gettext_lazy("Which"),
        ),
        "active": forms.TypedChoiceField(
            choices=TRISTATE,
            coerce=lambda v: {"true": True, "false": False}.get(v),
            empty_value=None,
            required=False,
            # "Leave as it is" with both ring fields empty changes nothing
            # and is refused: a new action starts with something to do.
            initial="true",
            label=gettext_lazy("Active"),
        ),
        "ring_delay": forms.IntegerField(
            required=False,
            label=gettext_lazy("Ring delay (seconds)"),
            help_text=gettext_lazy("0–120; empty: leave as it is"),
        ),
        "ring_timeout": forms.IntegerField(
            required=False,
            label=gettext_lazy("Ring timeout (seconds)"),
            help_text=gettext_lazy("5–300; empty: leave as it is"),
        ),
    },
    initial=lambda p: {**p, "active": "" if p.get("active") is None else ("true" if p["active"] else "false")},
)


# --- GSM mode ----------------------------------------------------------------------------

SET_GSM_MODE = ActionType(
    label=gettext_lazy("Set GSM mode"),
    validate=lambda params, errors, teams, locations: {"on": _bool(params, "on", errors, default=True)},
    apply=lambda state, params, ctx, prompts: evolve(state, gsm=bool(params.get("on", True))),
    describe=lambda params, names: _("GSM mode on") if params.get("on", True) else _("GSM mode off"),
    fields=lambda: {"on": on_off_field(gettext_lazy("GSM mode"))},
    initial=lambda p: {"on": _on_off_initial(p)},
)


# --- teams -------------------------------------------------------------------------------


def _validate_team(params, errors, teams, locations):
    team = _ref(
        params,
        "team",
        errors,
        teams,
        required=False,
        missing=_("Choose a team."),
        unknown=_("That team does not exist or is not yours."),
    )
    return {"team": team}


def _team_type(label, new_state: Callable[[TeamState], TeamState], all_teams, one_team) -> ActionType:
    def apply(state, params, ctx, prompts):
        team = params.get("team")
        targets = ctx.teams if team is None else tuple(t for t in ctx.teams if t == str(team))
        teams = dict(state.teams)
        for key in targets:
            teams[key] = new_state(teams.get(key, TeamState()))
        return evolve(state, teams=teams)

    def describe(params, names):
        team = params.get("team")
        if team is None:
            return str(all_teams)
        return one_team % {"team": _name(names, "teams", team, _("a removed team"))}

    return ActionType(
        label=label,
        validate=_validate_team,
        apply=apply,
        describe=describe,
        fields=lambda: {"team": forms.ChoiceField(required=False, label=gettext_lazy("Team"))},
        initial=lambda p: {"team": "" if p.get("team") is None else str(p["team"])},
        form_params=lambda cleaned: {"team": cleaned.get("team") or None},
        references="teams",
    )


TEAM_LOGIN = _team_type(
    gettext_lazy("Team login"),
    lambda t: TeamState(logged_in=True, paused=False, pickup=True),
    gettext_lazy("Log in to all teams"),
    gettext_lazy("Log in to %(team)s"),
)
# Leaving a team also turns off its group call pickup (docs/rules.md#rule-11).
TEAM_LOGOUT = _team_type(
    gettext_lazy("Team logout"),
    lambda t: TeamState(logged_in=False, paused=False, pickup=False),
    gettext_lazy("Log out of all teams"),
    gettext_lazy("Log out of %(team)s"),
)
TEAM_PAUSE = _team_type(
    gettext_lazy("Team pause"),
    lambda t: evolve(t, paused=True),
    gettext_lazy("Pause in all teams"),
    gettext_lazy("Pause in %(team)s"),
)
TEAM_UNPAUSE = _team_type(
    gettext_lazy("End team pause"),
    lambda t: evolve(t, paused=False),
    gettext_lazy("End pause in all teams"),
    gettext_lazy("End pause in %(team)s"),
)


# --- location ----------------------------------------------------------------------------


def _validate_location(params, errors, teams, locations):
    location = _ref(
        params,
        "location",
        errors,
        locations,
        required=True,
        missing=_("Choose a location."),
        unknown=_("That location does not exist or is not yours."),
    )
    return {"location": location}


def _describe_location(params, names):
    location = params.get("location")
    if not location:
        return _("Set location")
    return _("Set location %(location)s") % {"location": _name(names, "locations", location, _("a removed location"))}


SET_LOCATION = ActionType(
    label=gettext_lazy("Set location"),
    validate=_validate_location,
    apply=lambda state, params, ctx, prompts: evolve(state, location=int(params["location"])),
    describe=_describe_location,
    # Not required here: validate says "Choose a location." at the field.
    fields=lambda: {"location": forms.ChoiceField(required=False, label=gettext_lazy("Location"))},
    initial=lambda p: {"location": str(p.get("location") or "")},
    references="locations",
)

REMOVE_LOCATION = ActionType(
    label=gettext_lazy("Remove location"),
    validate=lambda params, errors, teams, locations: {},
    apply=lambda state, params, ctx, prompts: evolve(state, location=NO_LOCATION),
    describe=lambda params, names: _("Remove location"),
)


# --- the registry ------------------------------------------------------------------------

ACTION_TYPES: dict[str, ActionType] = {
    "set_dnd": SET_DND,
    "set_forward": SET_FORWARD,
    "unset_forward": UNSET_FORWARD,
    "change_destinations": CHANGE_DESTINATIONS,
    "set_gsm_mode": SET_GSM_MODE,
    "team_login": TEAM_LOGIN,
    "team_logout": TEAM_LOGOUT,
    "team_pause": TEAM_PAUSE,
    "team_unpause": TEAM_UNPAUSE,
    "set_location": SET_LOCATION,
    "remove_location": REMOVE_LOCATION,
}
# The stored name is Action.type, a CharField of this length.
MAX_TYPE_NAME = 32


def action_type_choices() -> list[tuple[str, Any]]:
    """(name, label) per registered type: the choices of ``Action.type``
    (a callable, so a new type needs no migration), the type chooser of the
    user pages and the admin's type field."""
    return [(name, entry.label or name) for name, entry in ACTION_TYPES.items()]


def action_type_label(action_type: str) -> Any:
    entry = ACTION_TYPES.get(action_type)
    return (entry.label or action_type) if entry else action_type


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
    entry = ACTION_TYPES.get(action_type)
    if entry is None:
        raise ValidationError({"type": _("Unknown action type %(type)r.") % {"type": action_type}})
    errors: dict[str, str] = {}
    clean = entry.validate(dict(params or {}), errors, teams, locations)
    if errors:
        raise ValidationError(errors)
    return clean


def prompts_needed(action_type: str, params: dict[str, Any]) -> set[str]:
    """What an action asks for at selection (docs/rules.md#rule-3)."""
    entry = ACTION_TYPES.get(action_type)
    return entry.prompts(params) if entry else set()


def apply_action(
    state: ExtensionState,
    action_type: str,
    params: dict[str, Any],
    ctx: ActionContext,
    prompts: dict[str, str] | None = None,
) -> ExtensionState:
    entry = ACTION_TYPES.get(action_type)
    if entry is None:
        raise ValueError(f"unknown action type {action_type!r}")
    return entry.apply(state, params, ctx, prompts or {})


def describe_action(action_type: str, params: dict[str, Any], names: Names | None = None) -> str:
    """One line for people, e.g. "DND on (ask for a message)", "Log in to
    Sales". ``names`` maps "teams"/"locations" ids to names
    (profiles.selectors.reference_names); without them a team reads "a removed team"."""
    entry = ACTION_TYPES.get(action_type)
    return entry.describe(params, names or {}) if entry else action_type


def clean_prompt_values(needed: set[str], values: dict[str, Any]) -> dict[str, str]:
    """Validate the values a user typed at selection; raise ValidationError."""
    clean: dict[str, str] = {}
    errors: dict[str, str] = {}
    if PROMPT_DND_MESSAGE in needed:
        message = str(values.get(PROMPT_DND_MESSAGE) or "").strip()
        if len(message) > MAX_MESSAGE:
            errors[PROMPT_DND_MESSAGE] = _("At most %(count)s characters.") % {"count": MAX_MESSAGE}
        elif CONTROL_CHARACTERS.search(message):
            errors[PROMPT_DND_MESSAGE] = _("Remove the control characters (such as NUL) from this text.")
        clean[PROMPT_DND_MESSAGE] = message
    if PROMPT_FORWARD in needed:
        target = str(values.get(PROMPT_FORWARD) or "").strip()
        if not target:
            errors[PROMPT_FORWARD] = _("Enter the number to forward to.")
        else:
            try:
                clean[PROMPT_FORWARD] = normalise_number(target)
            except ValidationError as exc:
                errors[PROMPT_FORWARD] = exc.messages[0]
    if errors:
        raise ValidationError(errors)
    return clean


def fold(state: ExtensionState, chain, ctx: ActionContext, prompts: dict[str, str] | None = None) -> ExtensionState:
    """Run a chain top to bottom, skipping disabled actions (docs/rules.md#rule-1).

    ``chain`` is any iterable of objects with ``type``, ``params`` and
    ``enabled`` (Action rows, or plain values in tests)."""
    for action in chain:
        if action.enabled:
            state = apply_action(state, action.type, action.params, ctx, prompts)
    return state
