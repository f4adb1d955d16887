"""The action-type registry (profiles.actions.ACTION_TYPES): one entry per
stored type, and descriptions that name things instead of numbering them.
Pure, but for the admin and migration checks of a type added in a test."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from devices.state import Command, CommandNames
from profiles.actions import ACTION_TYPES, ActionType, describe_action, validate_params
from profiles.forms import ACTION_FORMS, ActionTypeForm
from profiles.models import Action, PresenceProfile


def test_the_models_choices_and_the_forms_are_the_registrys():
    assert [name for name, _ in Action._meta.get_field("type").choices] == list(ACTION_TYPES)
    assert set(ACTION_FORMS) == set(ACTION_TYPES)


def test_a_forms_fields_are_the_parameters_its_type_validates():
    for name, form_class in ACTION_FORMS.items():
        fields = set(form_class.base_fields) - {"phase"}
        assert fields <= {
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
        }, name


def test_actions_are_described_with_names_not_ids():
    names = {"teams": {3: "Sales"}, "locations": {2: "Berlin, desk 1"}}
    assert describe_action("team_login", {"team": 3}, names) == "Log in to Sales"
    assert describe_action("team_pause", {"team": None}, names) == "Pause in all teams"
    assert describe_action("set_location", {"location": 2}, names) == "Set location Berlin, desk 1"
    assert describe_action("change_destinations", {"family": "desk", "active": False}, names) == (
        "Desk destinations: inactive"
    )


def test_commands_are_described_with_names_not_ids():
    names = CommandNames(teams={"3": "Sales"}, destinations={"7": "Desk phone 10001"}, locations={"2": "Berlin"})
    assert Command("1000", "team_logout", {"team": "3"}).describe(names) == "1000: log out of Sales"
    assert Command("1000", "set_pickup", {"team": "3", "on": True}).describe(names) == (
        "1000: group call pickup for Sales on"
    )
    assert Command("1000", "set_destination", {"destination": "7", "active": True}).describe(names) == (
        "1000: Desk phone 10001: activate"
    )
    assert Command("1000", "set_location", {"location": 2}).describe(names) == "1000: set location Berlin"


def test_validation_goes_through_the_entry_of_the_type():
    assert validate_params("set_gsm_mode", {"on": "off"}) == {"on": False}
    assert validate_params("team_login", {"team": "3"}, teams={3}) == {"team": 3}


# --- a new action type is one registry entry --------------------------------------------


def _ring_bell():
    """A made-up type that sends nothing new (it sets the DND message)."""
    from dataclasses import replace

    from django import forms

    def validate(params, errors, teams, locations):
        tune = str(params.get("tune") or "").strip()
        if tune not in ("ding", "dong"):
            errors["tune"] = "Choose ding or dong."
        return {"tune": tune}

    return ActionType(
        label="Ring a bell",
        validate=validate,
        apply=lambda state, params, ctx, prompts: replace(state, dnd_message=params["tune"]),
        describe=lambda params, names: f"Ring {params.get('tune')}",
        fields=lambda: {"tune": forms.CharField(label="Tune")},
    )


@pytest.fixture
def ring_bell(monkeypatch):
    monkeypatch.setitem(ACTION_TYPES, "ring_bell", _ring_bell())
    return "ring_bell"


@pytest.mark.django_db
def test_a_type_added_to_the_registry_is_a_choice_of_the_model_without_a_migration(ring_bell):
    field = Action._meta.get_field("type")
    assert ("ring_bell", "Ring a bell") in list(field.choices)
    assert len(ring_bell) <= field.max_length
    out = io.StringIO()
    call_command("makemigrations", "profiles", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_a_type_added_to_the_registry_is_validated_and_described(ring_bell):
    assert validate_params(ring_bell, {"tune": "ding"}) == {"tune": "ding"}
    with pytest.raises(ValidationError) as caught:
        validate_params(ring_bell, {"tune": "boom"})
    assert caught.value.message_dict == {"tune": ["Choose ding or dong."]}
    action = Action(type=ring_bell, params={"tune": "boom"})
    with pytest.raises(ValidationError):
        action.full_clean(exclude=["profile"])
    assert str(Action(type=ring_bell, params={"tune": "dong"})) == "Ring dong"


def test_a_type_added_to_the_registry_has_its_user_page_forms(ring_bell):
    assert ring_bell in dict(ActionTypeForm().fields["type"].choices)
    form = ACTION_FORMS[ring_bell]({"action-tune": "boom", "action-phase": "enter"}, prefix="action")
    assert not form.is_valid()
    assert form.errors == {"tune": ["Choose ding or dong."]}


@pytest.mark.django_db
def test_a_type_added_to_the_registry_is_edited_in_the_admin(ring_bell, admin_client):
    from tests.factories import make_user

    make_user("alice", "1000")
    profile = PresenceProfile.objects.get(kind=PresenceProfile.Kind.SYSTEM, name="Available")
    page = admin_client.get(reverse("admin:profiles_action_add"))
    assert 'name="ring_bell-tune"' in page.content.decode()
    assert "Ring a bell" in page.content.decode()
    data = {"profile": profile.pk, "phase": "exit", "position": "3", "type": ring_bell}
    response = admin_client.post(reverse("admin:profiles_action_add"), data | {"ring_bell-tune": "boom"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"ring_bell-tune": ["Choose ding or dong."]}
    response = admin_client.post(reverse("admin:profiles_action_add"), data | {"ring_bell-tune": "dong"})
    assert response.status_code == 302
    assert Action.objects.get(profile=profile, type=ring_bell).params == {"tune": "dong"}
