"""Forms of the profiles admin. They only validate, through the same
functions the services use, so bad input becomes a form error (never a 500)
and the admin accepts exactly what the rest of the portal accepts."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from devices.models import Location, Team
from profiles.actions import ACTION_TYPES, FAMILIES, validate_params
from profiles.models import Account, Action, ClientProfile, PresenceProfile, time_zone_choices
from profiles.seeding import check_can_enable, check_client_profile_can_enable

PARAMS_HELP = (
    'A JSON object. set_dnd: {"on": true, "message": "…", "prompt": false} · '
    'set_forward: {"target": "+4930…"} or {"prompt": true} · unset_forward: {} · '
    'change_destinations: {"family": "all"|"desk"|"softphone"|"mobile"|"dect"|"external"|"voicemail", '
    '"active": true, "ring_delay": 0-120, "ring_timeout": 5-300} · set_gsm_mode: {"on": true} · '
    'team_login/team_logout/team_pause/team_unpause: {"team": null (all teams) or a team id} · '
    'set_location: {"location": a location id} · remove_location: {}'
)


class ParamsValidatedFirst:
    """For action forms whose clean() validates the params with
    validate_params. Action.clean() reports parameter errors under the
    parameter names, which are not always form fields (Django would raise
    instead of showing them) and would repeat the errors clean() already
    reported, so the model's validation only runs once the form is valid."""

    def _post_clean(self):
        if self._errors:
            return
        super()._post_clean()


class ActionForm(ParamsValidatedFirst, forms.ModelForm):
    class Meta:
        model = Action
        fields = ("position", "enabled", "type", "params")
        help_texts = {"params": PARAMS_HELP}
        widgets = {"params": forms.Textarea(attrs={"rows": 2, "cols": 50})}

    def clean(self):
        cleaned = super().clean()
        action_type = cleaned.get("type")
        if action_type is None or "params" in self.errors:
            return cleaned
        params = cleaned.get("params")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            self.add_error("params", 'Parameters are a JSON object, for example {"on": true}.')
            return cleaned
        # System profiles and templates may name any team or location.
        references = ACTION_TYPES[action_type].references if action_type in ACTION_TYPES else ""
        teams = set(Team.objects.values_list("id", flat=True)) if references == "teams" else None
        locations = set(Location.objects.values_list("id", flat=True)) if references == "locations" else None
        try:
            cleaned["params"] = validate_params(action_type, params, teams=teams, locations=locations)
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                for message in messages:
                    if key == "type":
                        self.add_error("type", message)
                    else:
                        self.add_error("params", f"{key}: {message}")
        return cleaned


def phase_action_form(phase: str) -> type[ActionForm]:
    """An ActionForm that puts new actions into ``phase`` (one inline per chain)."""

    class PhaseActionForm(ActionForm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.instance.phase = phase

    PhaseActionForm.__name__ = f"{phase.title()}ActionForm"
    return PhaseActionForm


class PresenceProfileForm(forms.ModelForm):
    class Meta:
        model = PresenceProfile
        fields = ("kind", "owner", "name", "icon", "colour", "icon_visible", "sticky", "is_default", "position")
        widgets = {"colour": forms.TextInput(attrs={"type": "color"})}

    def clean(self):
        cleaned = super().clean()
        kind, owner = cleaned.get("kind"), cleaned.get("owner")
        if kind == PresenceProfile.Kind.PERSONAL and owner is None:
            self.add_error("owner", "A personal profile needs an owner.")
        elif kind in (PresenceProfile.Kind.SYSTEM, PresenceProfile.Kind.TEMPLATE) and owner is not None:
            self.add_error("owner", "System profiles and templates belong to nobody; leave the owner empty.")
        name = cleaned.get("name")
        if kind and name and "owner" not in self.errors:
            same = PresenceProfile.objects.filter(name=name)
            same = same.filter(owner=owner) if owner else same.filter(owner=None, kind=kind)
            if same.exclude(pk=self.instance.pk).exists():
                self.add_error("name", "A profile with this name already exists for this owner.")
        return cleaned


class ClientProfileForm(forms.ModelForm):
    class Meta:
        model = ClientProfile
        fields = (
            "name",
            "presence_profiles_enabled",
            "disable_dee_ucd_when_logged_out",
            "selected_profile_edit_policy",
            "system_profiles",
            "on_call_profile",
            "session_end_profile",
            "session_return_on_connect",
        )

    def clean(self):
        cleaned = super().clean()
        on_call, system = cleaned.get("on_call_profile"), cleaned.get("system_profiles")
        if on_call is not None and system is not None and on_call not in system:
            self.add_error("on_call_profile", _("Choose one of the system profiles this client profile gives."))
        return cleaned

    def clean_presence_profiles_enabled(self):
        enabled = self.cleaned_data["presence_profiles_enabled"]
        if enabled:
            check_client_profile_can_enable(self.instance)
        return enabled


class AccountForm(forms.ModelForm):
    time_zone = forms.ChoiceField(choices=time_zone_choices, initial="UTC")

    class Meta:
        model = Account
        fields = ("user", "client_profile", "time_zone", "primary_extension")

    def clean(self):
        cleaned = super().clean()
        client = cleaned.get("client_profile")
        if client is not None and client.presence_profiles_enabled and "primary_extension" not in self.errors:
            probe = Account(
                user=cleaned.get("user") or getattr(self.instance, "user", None),
                client_profile=client,
                primary_extension=cleaned.get("primary_extension"),
            )
            try:
                check_can_enable(probe)
            except ValidationError as exc:
                self.add_error("primary_extension", exc)
        return cleaned


YES_NO = [("", "—"), ("true", "yes"), ("false", "no")]
PARAM_FIELDS = (
    "on",
    "message",
    "prompt",
    "target",
    "family",
    "active",
    "ring_delay",
    "ring_timeout",
    "team",
    "location",
)


class TypedActionForm(ParamsValidatedFirst, forms.ModelForm):
    """One action with a field per parameter instead of JSON: the fields
    the chosen type uses are gathered into its params and validated by
    validate_params, whose errors name exactly these fields."""

    on = forms.ChoiceField(label="on / off", choices=YES_NO, required=False, help_text="DND and GSM mode.")
    message = forms.CharField(required=False, max_length=200, help_text="DND message.")
    prompt = forms.BooleanField(
        label="ask on selection", required=False, help_text="DND message or forward target asked when selected."
    )
    target = forms.CharField(required=False, max_length=32, help_text="Forward target, e.g. 1000 or +493012345678.")
    family = forms.ChoiceField(
        choices=[("all", "all destinations"), *[(f, f) for f in FAMILIES]], required=False, initial="all"
    )
    active = forms.ChoiceField(choices=YES_NO, required=False)
    ring_delay = forms.IntegerField(required=False, help_text="Seconds, 0–120.")
    ring_timeout = forms.IntegerField(required=False, help_text="Seconds, 5–300.")
    team = forms.ModelChoiceField(Team.objects.all(), required=False, empty_label="all teams")
    location = forms.ModelChoiceField(Location.objects.all(), required=False)

    class Meta:
        model = Action
        fields = ("profile", "phase", "position", "enabled", "type")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        params = self.instance.params or {}
        for name in PARAM_FIELDS:
            value = params.get(name)
            if isinstance(value, bool):
                value = value if name == "prompt" else ("true" if value else "false")
            if value is not None:
                self.initial.setdefault(name, value)

    def clean(self):
        cleaned = super().clean()
        action_type = cleaned.get("type")
        if action_type is None:
            return cleaned
        raw = {name: cleaned.get(name) for name in PARAM_FIELDS if name in cleaned}
        raw = {k: v for k, v in raw.items() if v not in (None, "")}
        for ref in ("team", "location"):
            if ref in raw:
                raw[ref] = raw[ref].pk
        try:
            self.instance.params = validate_params(action_type, raw)
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                for message in messages:
                    self.add_error(key if key in self.fields else None, message)
        return cleaned
