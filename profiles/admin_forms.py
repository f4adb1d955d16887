"""Forms of the profiles admin. They only validate, through the same
functions the services use, so bad input becomes a form error (never a 500)
and the admin accepts exactly what the rest of the portal accepts."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from devices.models import Location, Team
from profiles.actions import TEAM_TYPES, validate_params
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


class ActionForm(forms.ModelForm):
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
        teams = set(Team.objects.values_list("id", flat=True)) if action_type in TEAM_TYPES else None
        locations = set(Location.objects.values_list("id", flat=True)) if action_type == "set_location" else None
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

    def _post_clean(self):
        # Action.clean() reports parameter errors under the parameter names,
        # which are not form fields (Django would raise instead of showing
        # them). clean() above already validated with the same function, so
        # the model's validation only runs once the form is otherwise valid.
        if self._errors:
            return
        super()._post_clean()


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
        )

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
