"""The action-type registry (profiles.actions.ACTION_TYPES): one entry per
stored type, and descriptions that name things instead of numbering them.
Pure: no database."""

from devices.state import Command, CommandNames
from profiles.actions import ACTION_TYPES, describe_action, validate_params
from profiles.forms import ACTION_FORMS
from profiles.models import Action


def test_every_stored_action_type_has_one_registry_entry_and_one_form():
    assert set(ACTION_TYPES) == set(Action.Type.values)
    assert set(ACTION_FORMS) == set(Action.Type.values)


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
