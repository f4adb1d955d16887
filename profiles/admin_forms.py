"""Forms of the profiles admin. They only validate, through the same
functions the services use, so bad input becomes a form error (never a 500)
and the admin accepts exactly what the rest of the portal accepts."""

from __future__ import annotations

import copy

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from devices.models import Location, Team
from profiles.actions import ACTION_TYPES, action_type_label, validate_params
from profiles.forms import ACTION_FORMS
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


# --- one action, field by field: the fields come from the registry ---------------------


def param_field_name(action_type: str, param: str) -> str:
    """The admin form's field for a parameter of a type: the same name the
    user pages' form of that type has under the prefix ``action_type``."""
    return f"{action_type}-{param}"


def _param_fields() -> dict[str, list[str]]:
    """type -> the parameters its user-page form has (no "phase")."""
    return {name: [p for p in form_class.base_fields if p != "phase"] for name, form_class in ACTION_FORMS.items()}


class TypedActionForm(ParamsValidatedFirst, forms.ModelForm):
    """One action with the fields of its type instead of JSON. The fields
    are the user pages' fields of each type (profiles.forms.ACTION_FORMS,
    built from the registry entry), one group per type; the chosen type's
    group is cleaned by that type's own form and validate_params, whose
    errors show at these fields. Build the class with typed_action_form(),
    so a type registered later has its fields too."""

    class Meta:
        model = Action
        fields = ("profile", "phase", "position", "enabled", "type")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.teams = list(Team.objects.order_by("name"))
        self.locations = list(Location.objects.order_by("name"))
        for name, params in _param_fields().items():
            references = ACTION_TYPES[name].references
            for param in params:
                field = self.fields[param_field_name(name, param)]
                # Only the chosen type's fields are cleaned (by its form, in clean()).
                field.required = False
                if references == "teams" and param == "team":
                    field.choices = [("", _("All teams"))] + [(str(t.pk), t.name) for t in self.teams]
                elif references == "locations" and param == "location":
                    field.choices = [("", _("Choose a location"))] + [(str(x.pk), x.name) for x in self.locations]
        action_type = self.instance.type if self.instance.pk else ""
        if action_type in ACTION_FORMS:
            for param, value in ACTION_FORMS[action_type].initial_from(self.instance.params or {}).items():
                name = param_field_name(action_type, param)
                if name in self.fields:
                    self.initial.setdefault(name, value)

    def clean(self):
        cleaned = super().clean()
        # What the fields cleaned on their own is not used: the chosen
        # type's form cleans its fields (with its required rules) below.
        for name, params in _param_fields().items():
            for param in params:
                self._errors.pop(param_field_name(name, param), None)
        action_type = cleaned.get("type")
        if action_type not in ACTION_FORMS:
            return cleaned
        type_form = ACTION_FORMS[action_type](
            self.data, prefix=self.add_prefix(action_type), teams=self.teams, locations=self.locations, with_phase=False
        )
        if not type_form.is_valid():
            for param, errors in type_form.errors.items():
                self.add_error(param_field_name(action_type, param) if param in type_form.fields else None, errors)
            return cleaned
        # System profiles and templates may name any team or location.
        try:
            self.instance.params = validate_params(
                action_type,
                type_form.params(),
                teams={t.pk for t in self.teams},
                locations={x.pk for x in self.locations},
            )
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                name = param_field_name(action_type, key)
                self.add_error(name if name in self.fields else "type" if key == "type" else None, messages)
        return cleaned


def typed_action_form() -> type[TypedActionForm]:
    """TypedActionForm with a field per parameter of every registered type."""
    declared = {
        param_field_name(name, param): copy.deepcopy(form_class.base_fields[param])
        for name, form_class in ACTION_FORMS.items()
        for param in form_class.base_fields
        if param != "phase"
    }
    return type("TypedActionForm", (TypedActionForm,), declared)


def typed_action_fieldsets() -> list[tuple]:
    """The admin's groups: the action, then one group per type with fields."""
    return [
        (None, {"fields": ("profile", "phase", "position", "enabled", "type")}),
        *[
            (
                action_type_label(name),
                # static/js/admin-action-type.js shows only the chosen type's group.
                {
                    "fields": [param_field_name(name, p) for p in params],
                    "classes": ("action-params", f"action-type-{name}"),
                },
            )
            for name, params in _param_fields().items()
            if params
        ],
    ]
