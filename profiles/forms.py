"""Forms of the user pages. They collect and type what people type; the
rules live in profiles.actions (validate_params, clean_prompt_values) and in
the services, whose ValidationErrors are shown per field."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.translation import gettext_lazy as _

from devices.models import Destination
from profiles.actions import (
    FAMILIES,
    MAX_MESSAGE,
    PROMPT_DND_MESSAGE,
    PROMPT_FORWARD,
    clean_prompt_values,
    validate_params,
)
from profiles.icons import ICONS
from profiles.models import Action, validate_colour


def apply_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a ValidationError from a service on the form: per field where
    the form has that field, otherwise at the top."""
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error)


# --- selecting a profile: prompt-on-selection values ------------------------------

PROMPT_LABELS = {
    PROMPT_DND_MESSAGE: (_("Do-not-disturb message"), _("Callers and colleagues see this text.")),
    PROMPT_FORWARD: (_("Forward calls to"), _("A phone number, e.g. +49 30 1234567 or an extension.")),
}


class PromptForm(forms.Form):
    """The values a profile asks for at selection (rule 3), with the user's
    recent values offered through a datalist."""

    prompted = forms.CharField(widget=forms.HiddenInput, initial="1")

    def __init__(self, needed: set[str], recent: dict[str, list[str]], *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.needed = needed
        self.recent = recent
        for kind in (PROMPT_FORWARD, PROMPT_DND_MESSAGE):
            if kind not in needed:
                continue
            label, help_text = PROMPT_LABELS[kind]
            widget = forms.TextInput(attrs={"list": f"recent-{kind}", "autocomplete": "off", "maxlength": MAX_MESSAGE})
            if kind == PROMPT_FORWARD:
                widget.attrs.update({"inputmode": "tel", "autofocus": True})
            self.fields[kind] = forms.CharField(
                label=label, help_text=help_text, required=kind == PROMPT_FORWARD, widget=widget
            )

    def clean(self):
        data = super().clean()
        try:
            data.update(clean_prompt_values(self.needed, data))
        except ValidationError as exc:
            apply_errors(self, exc)
        return data

    def recent_lists(self):
        return [(kind, self.recent.get(kind, [])) for kind in self.needed]


# --- profiles -----------------------------------------------------------------------------


class ColourInput(forms.TextInput):
    input_type = "color"


class ProfileForm(forms.Form):
    name = forms.CharField(max_length=64, help_text=_("Also the presence text your colleagues see."))
    icon = forms.ChoiceField(choices=ICONS, widget=forms.RadioSelect, initial="circle")
    colour = forms.CharField(max_length=7, widget=ColourInput, initial="#2e7d32", validators=[validate_colour])
    icon_visible = forms.BooleanField(required=False, initial=True, label=_("Show the icon to colleagues"))
    sticky = forms.BooleanField(
        required=False, label=_("Sticky"), help_text=_("Triggers never leave this profile; only you do.")
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise ValidationError(_("Enter a name."))
        return name


# --- actions: one form per type -----------------------------------------------------------

_TRISTATE = [("", _("Leave as it is")), ("true", _("Active")), ("false", _("Inactive"))]


def _tristate(value: str) -> bool | None:
    return {"true": True, "false": False}.get(value)


class ActionForm(forms.Form):
    """Base of the type-specific forms: ``params()`` is what the service's
    validate_params receives; its errors show on the matching fields."""

    action_type = ""
    phase = forms.ChoiceField(choices=Action.Phase.choices, initial=Action.Phase.ENTER, label=_("Run"))

    def __init__(self, *args, teams=(), locations=(), with_phase: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.teams = teams
        self.locations = locations
        if not with_phase:
            del self.fields["phase"]
        self.setup()

    def setup(self) -> None:
        pass

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in self.cleaned_data.items() if k != "phase"}

    def clean(self):
        data = super().clean()
        if not self.errors:
            try:
                # References (teams, locations) are checked by the service.
                validate_params(self.action_type, self.params())
            except ValidationError as exc:
                apply_errors(self, exc)
        return data

    @classmethod
    def initial_from(cls, params: dict) -> dict:
        return dict(params)


def on_off_field(label: str) -> forms.TypedChoiceField:
    """An On/Off choice that cleans to a bool (DND, GSM mode)."""
    return forms.TypedChoiceField(
        choices=[("true", _("On")), ("false", _("Off"))], coerce=lambda v: v == "true", initial="true", label=label
    )


def on_off_initial(params: dict) -> str:
    """The choice for a stored "on" parameter; actions default to on."""
    return "true" if params.get("on", True) else "false"


class SetDndForm(ActionForm):
    action_type = "set_dnd"
    on = on_off_field(_("DND"))
    message = forms.CharField(required=False, max_length=MAX_MESSAGE, label=_("Message"))
    prompt = forms.BooleanField(required=False, label=_("Ask for a message when I select the profile"))

    @classmethod
    def initial_from(cls, params):
        return {**params, "on": on_off_initial(params)}


class SetForwardForm(ActionForm):
    action_type = "set_forward"
    target = forms.CharField(
        required=False, max_length=32, label=_("Forward to"), widget=forms.TextInput(attrs={"inputmode": "tel"})
    )
    prompt = forms.BooleanField(required=False, label=_("Ask for the number when I select the profile"))


class NoParamsForm(ActionForm):
    pass


class UnsetForwardForm(NoParamsForm):
    action_type = "unset_forward"


class RemoveLocationForm(NoParamsForm):
    action_type = "remove_location"


class ChangeDestinationsForm(ActionForm):
    action_type = "change_destinations"
    family = forms.ChoiceField(
        choices=[("all", _("All destinations"))] + [(f, Destination.Family(f).label) for f in FAMILIES],
        initial="all",
        label=_("Which"),
    )
    active = forms.TypedChoiceField(
        choices=_TRISTATE, coerce=_tristate, empty_value=None, required=False, initial="true", label=_("Active")
    )
    ring_delay = forms.IntegerField(
        required=False, label=_("Ring delay (seconds)"), help_text=_("0–120; empty: leave as it is")
    )
    ring_timeout = forms.IntegerField(
        required=False, label=_("Ring timeout (seconds)"), help_text=_("5–300; empty: leave as it is")
    )

    @classmethod
    def initial_from(cls, params):
        active = params.get("active")
        return {**params, "active": "" if active is None else ("true" if active else "false")}


class SetGsmModeForm(ActionForm):
    action_type = "set_gsm_mode"
    on = on_off_field(_("GSM mode"))

    @classmethod
    def initial_from(cls, params):
        return {"on": on_off_initial(params)}


class TeamForm(ActionForm):
    team = forms.ChoiceField(required=False, label=_("Team"))

    def setup(self):
        self.fields["team"].choices = [("", _("All my teams"))] + [(str(t.pk), t.name) for t in self.teams]

    def params(self):
        return {"team": self.cleaned_data.get("team") or None}

    @classmethod
    def initial_from(cls, params):
        return {"team": "" if params.get("team") is None else str(params["team"])}


class TeamLoginForm(TeamForm):
    action_type = "team_login"


class TeamLogoutForm(TeamForm):
    action_type = "team_logout"


class TeamPauseForm(TeamForm):
    action_type = "team_pause"


class TeamUnpauseForm(TeamForm):
    action_type = "team_unpause"


class SetLocationForm(ActionForm):
    action_type = "set_location"
    location = forms.ChoiceField(label=_("Location"))

    def setup(self):
        self.fields["location"].choices = [("", _("Choose a location"))] + [(str(x.pk), x.name) for x in self.locations]
        self.fields["location"].required = False  # validate_params says "Choose a location."

    @classmethod
    def initial_from(cls, params):
        return {"location": str(params.get("location") or "")}


ACTION_FORMS: dict[str, type[ActionForm]] = {
    form.action_type: form
    for form in (
        SetDndForm,
        SetForwardForm,
        UnsetForwardForm,
        ChangeDestinationsForm,
        SetGsmModeForm,
        TeamLoginForm,
        TeamLogoutForm,
        TeamPauseForm,
        TeamUnpauseForm,
        SetLocationForm,
        RemoveLocationForm,
    )
}


class ActionTypeForm(forms.Form):
    """Step one of adding an action: which type (works without JS)."""

    type = forms.ChoiceField(choices=Action.Type.choices, label=_("Action"))
    phase = forms.ChoiceField(choices=Action.Phase.choices, initial=Action.Phase.ENTER, label=_("Run"))


# --- triggers -------------------------------------------------------------------------------


class TimeTriggerForm(forms.Form):
    time_of_day = forms.TimeField(label=_("Time"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    weekdays = forms.TypedMultipleChoiceField(
        choices=[(str(i), WEEKDAYS_ABBR[i]) for i in range(7)],
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        initial=["0", "1", "2", "3", "4"],
        label=_("On"),
        error_messages={"required": _("Choose at least one weekday.")},
    )

    def weekday_bits(self) -> int:
        return sum(1 << day for day in self.cleaned_data["weekdays"])

    @staticmethod
    def initial_days(bits: int) -> list[str]:
        return [str(i) for i in range(7) if bits & (1 << i)]
