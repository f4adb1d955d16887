"""The admin's action form, per action type: a field per parameter (the
user pages' fields of that type, from the registry), no JSON; a bad value
is an error at its field and nothing is stored."""

import pytest
from django.urls import reverse

from devices.models import Location, Team
from profiles.actions import ACTION_TYPES
from profiles.models import Action, PresenceProfile
from tests.factories import client_profile, make_user


@pytest.fixture
def world(db):
    make_user("alice", "1000", teams=("Sales",))
    return {
        "profile": PresenceProfile.objects.get(kind=PresenceProfile.Kind.SYSTEM, name="Available"),
        "sales": Team.objects.get(name="Sales").pk,
        "desk": Location.objects.create(name="Berlin, desk 1").pk,
    }


def _add(admin_client, profile, action_type, fields):
    data = {"profile": profile.pk, "phase": "exit", "position": "7", "enabled": "on", "type": action_type}
    data.update({f"{action_type}-{name}": value for name, value in fields.items()})
    return admin_client.post(reverse("admin:profiles_action_add"), data)


# type -> (fields posted, params stored); "{sales}"/"{desk}" are the world's ids
VALID = {
    "set_dnd": ({"on": "true", "message": "Back soon"}, {"on": True, "prompt": False, "message": "Back soon"}),
    "set_forward": ({"target": "+49 30 1234 5678"}, {"prompt": False, "target": "+493012345678"}),
    "unset_forward": ({}, {}),
    "change_destinations": (
        {"family": "desk", "active": "false", "ring_delay": "10"},
        {"family": "desk", "active": False, "ring_delay": 10, "ring_timeout": None},
    ),
    "set_gsm_mode": ({"on": "false"}, {"on": False}),
    "team_login": ({"team": "{sales}"}, {"team": "{sales}"}),
    "team_logout": ({"team": ""}, {"team": None}),
    "team_pause": ({"team": "{sales}"}, {"team": "{sales}"}),
    "team_unpause": ({"team": ""}, {"team": None}),
    "set_location": ({"location": "{desk}"}, {"location": "{desk}"}),
    "remove_location": ({}, {}),
}

# type -> (fields posted, the field that shows the error)
INVALID = {
    "set_dnd": ({"on": "false", "prompt": "on"}, "prompt"),
    "set_forward": ({"target": "nowhere"}, "target"),
    "change_destinations": ({"family": "all", "ring_timeout": "999"}, "ring_timeout"),
    "set_gsm_mode": ({"on": "maybe"}, "on"),
    "team_login": ({"team": "999999"}, "team"),
    "team_logout": ({"team": "sales"}, "team"),
    "team_pause": ({"team": "-1"}, "team"),
    "team_unpause": ({"team": "999999"}, "team"),
    "set_location": ({}, "location"),
}


def _ids(value, world):
    return world[value[1:-1]] if value in ("{sales}", "{desk}") else value


def test_every_registered_type_is_covered_here():
    assert set(VALID) == set(ACTION_TYPES)
    # Types without parameters cannot be wrong; every other type can.
    assert set(INVALID) == {name for name, entry in ACTION_TYPES.items() if entry.fields()}


@pytest.mark.parametrize("action_type", sorted(VALID))
def test_an_action_of_each_type_is_added_field_by_field(admin_client, world, action_type):
    fields, params = VALID[action_type]
    fields = {k: str(_ids(v, world)) for k, v in fields.items()}
    response = _add(admin_client, world["profile"], action_type, fields)
    assert response.status_code == 302, response.context["adminform"].form.errors
    action = Action.objects.get(profile=world["profile"], phase="exit", position=7)
    assert action.type == action_type
    assert action.params == {k: _ids(v, world) for k, v in params.items()}


@pytest.mark.parametrize("action_type", sorted(INVALID))
def test_a_bad_value_is_an_error_at_its_field_and_nothing_is_stored(admin_client, world, action_type):
    fields, bad = INVALID[action_type]
    response = _add(admin_client, world["profile"], action_type, fields)
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert list(form.errors) == [f"{action_type}-{bad}"]
    # The page shows the message beside the field.
    assert form[f"{action_type}-{bad}"].errors
    assert not Action.objects.filter(profile=world["profile"], phase="exit", position=7).exists()


def test_the_form_has_no_json_and_groups_the_fields_by_type(admin_client, world):
    response = admin_client.get(reverse("admin:profiles_action_add"))
    form = response.context["adminform"].form
    assert "params" not in form.fields
    html = response.content.decode()
    assert "Set do-not-disturb" in html and 'name="set_forward-target"' in html
    assert 'name="team_login-team"' in html and "Sales" in html


def test_fields_of_the_other_types_are_ignored(admin_client, world):
    # A bad value in another type's group is not an error: only the chosen type counts.
    data = {
        "profile": world["profile"].pk,
        "phase": "exit",
        "position": "8",
        "type": "unset_forward",
        "change_destinations-ring_delay": "abc",
        "set_forward-target": "nowhere",
    }
    response = admin_client.post(reverse("admin:profiles_action_add"), data)
    assert response.status_code == 302
    assert Action.objects.get(profile=world["profile"], position=8).params == {}


def test_an_existing_action_shows_its_parameters_in_its_types_fields(admin_client, world):
    team = Action.objects.create(
        profile=world["profile"], phase="exit", type="team_pause", params={"team": world["sales"]}
    )
    form = admin_client.get(reverse("admin:profiles_action_change", args=[team.pk])).context["adminform"].form
    assert form["team_pause-team"].value() == str(world["sales"])
    assert form["team_login-team"].value() in (None, "")


def test_a_profile_of_another_client_still_sees_every_team(admin_client, world):
    # System profiles and templates may name any team: the admin offers all.
    make_user("bob", "1001", teams=("Support",), client=client_profile("Other"))
    form = admin_client.get(reverse("admin:profiles_action_add")).context["adminform"].form
    names = [label for _, label in form.fields["team_login-team"].choices]
    assert {"Sales", "Support"} <= set(names)
