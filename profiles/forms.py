"""Forms of the user pages. They collect and type what people type; the
rules live in profiles.actions (validate_params, clean_prompt_values) and in
the services, whose ValidationErrors are shown per field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse_lazy
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from profiles.actions import (
    ACTION_TYPES,
    MAX_MESSAGE,
    PROMPT_DND_MESSAGE,
    PROMPT_FORWARD,
    action_type_choices,
    clean_prompt_values,
    validate_params,
)
from profiles.automation.until import Until
from profiles.defaults import display_profile_name
from profiles.icons import ICONS
from profiles.models import Action, CalendarLink, validate_colour


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
    """The values a profile asks for at selection (docs/rules.md#rule-3), with the user's
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


# --- actions: one form per type, from the registry (profiles.actions) ----------------------


class ActionForm(forms.Form):
    """Base of the type-specific forms: ``params()`` is what the service's
    validate_params receives; its errors show on the matching fields. The
    fields of each type come from its registry entry."""

    action_type = ""
    phase = forms.ChoiceField(choices=Action.Phase.choices, initial=Action.Phase.ENTER, label=_("Run"))

    def __init__(self, *args, teams=(), locations=(), with_phase: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.teams = teams
        self.locations = locations
        if not with_phase:
            del self.fields["phase"]
        references = ACTION_TYPES[self.action_type].references
        if references == "teams":
            self.fields["team"].choices = [("", _("All my teams"))] + [(str(t.pk), t.name) for t in teams]
        elif references == "locations":
            self.fields["location"].choices = [("", _("Choose a location"))] + [(str(x.pk), x.name) for x in locations]

    def params(self) -> dict[str, Any]:
        return ACTION_TYPES[self.action_type].form_params(self.cleaned_data)

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
        return ACTION_TYPES[cls.action_type].initial(params)


class _ActionForms(Mapping):
    """The form class of each registered type (name -> class), built from
    its registry entry when first asked for: a type registered later (a
    test's, a plugin's) has its form too."""

    def __init__(self):
        self._built: dict[str, tuple[object, type[ActionForm]]] = {}

    def __getitem__(self, name: str) -> type[ActionForm]:
        entry = ACTION_TYPES[name]
        built = self._built.get(name)
        if built is None or built[0] is not entry:
            form_class = type(
                f"{name.title().replace('_', '')}Form", (ActionForm,), {"action_type": name, **entry.fields()}
            )
            built = self._built[name] = (entry, form_class)
        return built[1]

    def __iter__(self):
        return iter(ACTION_TYPES)

    def __len__(self) -> int:
        return len(ACTION_TYPES)


ACTION_FORMS: Mapping[str, type[ActionForm]] = _ActionForms()


class ActionTypeForm(forms.Form):
    """Step one of adding an action: which type (works without JS)."""

    type = forms.ChoiceField(choices=action_type_choices, label=_("Action"))
    phase = forms.ChoiceField(choices=Action.Phase.choices, initial=Action.Phase.ENTER, label=_("Run"))


class UntilForm(forms.Form):
    """How long to stay in the profile chosen on My presence (clear-after)."""

    until = forms.ChoiceField(label=_("Stay"), choices=Until.choices, required=False)
    until_at = forms.DateTimeField(
        label=_("Switch back at"),
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


class TimeZoneForm(forms.Form):
    time_zone = forms.CharField(
        label=_("Time zone"),
        max_length=64,
        help_text=_("Type to search, e.g. Berlin or New_York; IANA names such as Europe/Berlin."),
        widget=forms.TextInput(attrs={"list": "time-zones", "autocomplete": "off", "spellcheck": "false"}),
    )


# --- the session trigger ----------------------------------------------------------------------


class SessionTriggerForm(forms.Form):
    """The user's session trigger (profiles.automation.sessions): a profile
    to switch to when the last client leaves, and whether to come back. The
    choices are the profiles the user may select (selectors.available_profiles);
    whether one may be chosen is the service's rule."""

    profile = forms.TypedChoiceField(
        label=_("When my last client disconnects or expires, switch to"),
        coerce=int,
        error_messages={
            "required": _("Choose a profile."),
            "invalid_choice": _("Choose one of your profiles or a system profile."),
        },
    )
    return_on_connect = forms.BooleanField(
        label=_("Switch back when a client connects again"),
        required=False,
        help_text=_("Only if the session trigger's profile is still selected then."),
    )

    def __init__(self, *args, profiles, **kwargs):
        super().__init__(*args, **kwargs)
        self.profiles = {p.pk: p for p in profiles}
        own = [(p.pk, display_profile_name(p.name)) for p in profiles if p.kind != p.Kind.SYSTEM]
        system = [(p.pk, display_profile_name(p.name)) for p in profiles if p.kind == p.Kind.SYSTEM]
        choices = [("", _("Choose a profile…"))]
        if own:
            choices.append((_("My profiles"), own))
        if system:
            choices.append((_("System profiles"), system))
        self.fields["profile"].choices = choices

    def chosen_profile(self):
        return self.profiles[self.cleaned_data["profile"]]


# --- triggers -------------------------------------------------------------------------------


class TimeTriggerForm(forms.Form):
    time_of_day = forms.TimeField(label=_("Time"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    weekdays = forms.TypedMultipleChoiceField(
        choices=[(str(i), WEEKDAYS_ABBR[i]) for i in range(7)],
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        initial=["0", "1", "2", "3", "4"],
        label=pgettext_lazy("the weekdays a trigger fires on", "On"),
        error_messages={"required": _("Choose at least one weekday.")},
    )

    holiday_country = forms.CharField(
        label=_("Skip public holidays of"),
        required=False,
        max_length=8,
        help_text=_("Type to search a country, e.g. DE or Germany; empty: never skip."),
        widget=forms.TextInput(
            attrs={
                "list": "holiday-countries",
                "autocomplete": "off",
                # The region list follows the country (without JavaScript:
                # on the next render of the form).
                "hx-get": reverse_lazy("profiles:holiday_regions"),
                "hx-trigger": "change",
                "hx-target": "#holiday-regions",
                "hx-swap": "outerHTML",
            }
        ),
    )
    holiday_subdivision = forms.CharField(
        label=_("Region"),
        required=False,
        max_length=16,
        help_text=_("Optional: a state or region with its own holidays, e.g. BY for Bavaria."),
        widget=forms.TextInput(attrs={"list": "holiday-regions", "autocomplete": "off"}),
    )
    active_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    active_until = forms.DateField(
        label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def clean_holiday_country(self) -> str:
        # "DE — Germany" from the list, or just "DE".
        return self.cleaned_data["holiday_country"].split(" ")[0].strip().upper()

    def clean_holiday_subdivision(self) -> str:
        return self.cleaned_data["holiday_subdivision"].split(" ")[0].strip()

    def schedule(self) -> dict:
        """The service's keyword arguments (create/update_time_trigger)."""
        data = self.cleaned_data
        return {
            "time_of_day": data["time_of_day"],
            "weekdays": self.weekday_bits(),
            "holiday_country": data["holiday_country"],
            "holiday_subdivision": data["holiday_subdivision"],
            "active_from": data["active_from"],
            "active_until": data["active_until"],
        }

    @staticmethod
    def initial_for(trigger) -> dict:
        return {
            "time_of_day": trigger.time_of_day,
            "weekdays": TimeTriggerForm.initial_days(trigger.weekdays),
            "holiday_country": trigger.holiday_country,
            "holiday_subdivision": trigger.holiday_subdivision,
            "active_from": trigger.active_from,
            "active_until": trigger.active_until,
        }

    def weekday_bits(self) -> int:
        return sum(1 << day for day in self.cleaned_data["weekdays"])

    @staticmethod
    def initial_days(bits: int) -> list[str]:
        return [str(i) for i in range(7) if bits & (1 << i)]


class CalendarForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, initial=_("Work calendar"))
    source = forms.ChoiceField(
        label=_("Kind of calendar"),
        choices=[("ics", _("ICS address")), ("caldav", _("CalDAV account"))],
        initial="ics",
        widget=forms.RadioSelect,
    )
    url = forms.CharField(
        label=_("Calendar address"),
        max_length=2000,
        help_text=_(
            "ICS: the secret address of your calendar in iCal format (Outlook: Publish calendar, ICS link; "
            "Google: Secret address in iCal format). CalDAV: the address of the server or of the calendar. "
            "Stored encrypted; only its host is shown again."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "inputmode": "url"}),
    )
    username = forms.CharField(
        label=_("CalDAV user name"), max_length=200, required=False, help_text=_("Only for a CalDAV account.")
    )
    password = forms.CharField(
        label=_("CalDAV password"),
        max_length=500,
        required=False,
        strip=False,
        help_text=_(
            "Only for a CalDAV account; an app password where the server offers one. Stored encrypted, never shown again."
        ),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )
    match = forms.ChoiceField(label=_("Switch during"), choices=CalendarLink.Match.choices, initial="busy")
    match_value = forms.CharField(
        label=_("Word or category"), max_length=100, required=False, help_text=_("For the title and category rules.")
    )
    poll_minutes = forms.IntegerField(label=_("Check every (minutes)"), min_value=5, max_value=1440, initial=15)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].required = False  # no choice sent: an ICS address, as before CalDAV

    def clean_source(self) -> str:
        return self.cleaned_data.get("source") or "ics"
