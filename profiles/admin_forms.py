"""Forms of the profiles admin. They only validate, through the same
functions the services use, so bad input becomes a form error (never a 500)
and the admin accepts exactly what the rest of the portal accepts."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from devices.models import Location, Team
from profiles.actions import FAMILIES, FAMILY_LABELS, validate_params
from profiles.models import Account, Action, ClientProfile, PresenceProfile, time_zone_choices
from profiles.seeding import check_can_enable, check_client_profile_can_enable


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


class PresenceProfileForm(forms.ModelForm):
    class Meta:
        model = PresenceProfile
        fields = ("kind", "owner", "name", "icon", "colour", "icon_visible", "sticky", "is_default", "position")
        widgets = {"colour": forms.TextInput(attrs={"type": "color"})}

    def clean(self):
        cleaned = super().clean()
        kind, owner = cleaned.get("kind"), cleaned.get("owner")
        if kind == PresenceProfile.Kind.PERSONAL and owner is None:
            self.add_error("owner", _("A personal profile needs an owner."))
        elif kind in (PresenceProfile.Kind.SYSTEM, PresenceProfile.Kind.TEMPLATE) and owner is not None:
            self.add_error("owner", _("System profiles and templates belong to nobody; leave the owner empty."))
        name = cleaned.get("name")
        if kind and name and "owner" not in self.errors:
            same = PresenceProfile.objects.filter(name=name)
            same = same.filter(owner=owner) if owner else same.filter(owner=None, kind=kind)
            if same.exclude(pk=self.instance.pk).exists():
                self.add_error("name", _("A profile with this name already exists for this owner."))
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


YES_NO = [("", "—"), ("true", _("yes")), ("false", _("no"))]
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

    on = forms.ChoiceField(label=_("on / off"), choices=YES_NO, required=False, help_text=_("DND and GSM mode."))
    message = forms.CharField(label=_("message"), required=False, max_length=200, help_text=_("DND message."))
    prompt = forms.BooleanField(
        label=_("ask on selection"), required=False, help_text=_("DND message or forward target asked when selected.")
    )
    target = forms.CharField(
        label=_("target"), required=False, max_length=32, help_text=_("Forward target, e.g. 1000 or +493012345678.")
    )
    family = forms.ChoiceField(
        label=_("family"),
        choices=[("all", _("all destinations")), *[(f, FAMILY_LABELS[f]) for f in FAMILIES]],
        required=False,
        initial="all",
    )
    active = forms.ChoiceField(label=_("active"), choices=YES_NO, required=False)
    ring_delay = forms.IntegerField(label=_("ring delay"), required=False, help_text=_("Seconds, 0–120."))
    ring_timeout = forms.IntegerField(label=_("ring timeout"), required=False, help_text=_("Seconds, 5–300."))
    team = forms.ModelChoiceField(Team.objects.all(), label=_("team"), required=False, empty_label=_("all teams"))
    location = forms.ModelChoiceField(Location.objects.all(), label=_("location"), required=False)

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
