"""Seeding: the two system profiles, the template of the six per-user
defaults exactly as DESIGN.md's table says (checked by running each enter
chain on a user's real devices), "In the office" selected, idempotent, and
rule 10 (only for a DEE main device)."""

import pytest
from django.core.exceptions import ValidationError

from devices.models import Extension
from profiles.actions import PROMPT_DND_MESSAGE, PROMPT_FORWARD, prompts_needed
from profiles.engine import desired_state
from profiles.models import Action, ClientProfile, PresenceProfile, Selection, SwitchEvent
from profiles.seeding import (
    assign_client_profile,
    give_default_profiles,
    reapply_profile_users,
    seed_defaults,
    set_presence_enabled,
)
from profiles.selectors import load_devices
from profiles.services import select_profile
from tests.factories import make_user, profile_named

pytestmark = pytest.mark.django_db

FAMILIES = {"desk", "softphone", "mobile", "voicemail", "external"}

# DESIGN.md, "Default profiles": destinations active, DND, forward, teams.
# DND "prompt": on, message prompted on selection. Forward "prompt":
# forward immediate, destination prompted on selection.
TABLE = {
    "In the office": (FAMILIES, "off", "none", "logged in"),
    "Do Not Disturb": (FAMILIES, "prompt", "none", "logged out"),
    "Out of the office": ({"external"}, "off", "none", "logged out"),
    "In a meeting": ({"voicemail"}, "on", "none", "logged out"),
    "Working from home": ({"voicemail"}, "off", "prompt", "logged out"),
    "On holiday": ({"voicemail"}, "on", "none", "logged out"),
}


@pytest.fixture
def alice(db):
    return make_user("alice", "1000", teams=["Sales", "Support"])


def entered(user, profile, prompts=None):
    """The primary extension's state after running only ``profile``'s enter chain."""
    devices = load_devices(user.account)
    state = desired_state(devices, profile, list(profile.actions.all()), prompts=prompts)
    return state.extensions[devices.primary], devices


def needed_prompts(profile) -> set[str]:
    return set().union(*(prompts_needed(a.type, a.params) for a in profile.actions.all() if a.enabled))


@pytest.mark.parametrize("name", list(TABLE))
def test_each_default_profile_matches_the_design_table(alice, name):
    active_families, dnd, forward, teams = TABLE[name]
    profile = profile_named(alice, name)
    prompts = {PROMPT_DND_MESSAGE: "Call me later", PROMPT_FORWARD: "+4915112345678"}
    state, devices = entered(alice, profile, prompts)

    active = {devices.destinations[d] for d, value in state.destinations.items() if value.active}
    inactive = {devices.destinations[d] for d, value in state.destinations.items() if value.active is False}
    assert active == active_families
    assert inactive == FAMILIES - active_families

    assert state.dnd is (dnd != "off")
    if dnd == "prompt":
        assert PROMPT_DND_MESSAGE in needed_prompts(profile)
        assert state.dnd_message == "Call me later"
    else:
        assert PROMPT_DND_MESSAGE not in needed_prompts(profile)

    if forward == "prompt":
        assert PROMPT_FORWARD in needed_prompts(profile)
        assert state.forward == "+4915112345678"
    else:
        assert PROMPT_FORWARD not in needed_prompts(profile)
        assert state.forward == ""

    assert len(state.teams) == 2
    logged_in = teams == "logged in"
    assert all(t.logged_in is logged_in and t.pickup is logged_in and t.paused is False for t in state.teams.values())
    assert state.presence == name


def test_a_user_gets_the_six_defaults_in_order_with_in_the_office_selected(alice):
    names = list(PresenceProfile.objects.filter(owner=alice).order_by("position").values_list("name", flat=True))
    assert names == list(TABLE)
    assert all(p.kind == PresenceProfile.Kind.PERSONAL for p in PresenceProfile.objects.filter(owner=alice))
    selection = Selection.objects.get(user=alice)
    assert selection.profile == profile_named(alice, "In the office")
    assert selection.source == Selection.Source.SYSTEM


def test_the_template_holds_the_six_defaults_for_administrators(alice):
    template = PresenceProfile.objects.filter(kind=PresenceProfile.Kind.TEMPLATE, owner=None).order_by("position")
    assert [p.name for p in template] == list(TABLE)
    assert [p.name for p in template if p.is_default] == ["In the office"]
    for profile in template:
        own = profile_named(alice, profile.name)
        assert (own.icon, own.colour, own.sticky) == (profile.icon, profile.colour, profile.sticky)
        ours = list(own.actions.order_by("phase", "position").values_list("phase", "type", "params", "enabled"))
        theirs = list(profile.actions.order_by("phase", "position").values_list("phase", "type", "params", "enabled"))
        assert ours == theirs


def test_the_two_system_profiles_reach_all_devices_or_none(alice):
    system = {p.name: p for p in PresenceProfile.objects.filter(kind=PresenceProfile.Kind.SYSTEM)}
    assert set(system) == {"Available", "Unavailable"}
    assert all(p.owner_id is None for p in system.values())

    reachable, _ = entered(alice, system["Available"])
    assert len(reachable.destinations) == 5
    assert all(d.active for d in reachable.destinations.values())
    assert reachable.dnd is False

    unreachable, _ = entered(alice, system["Unavailable"])
    assert len(unreachable.destinations) == 5
    assert all(d.active is False for d in unreachable.destinations.values())


def test_an_administrators_template_edit_reaches_new_users_only(alice):
    template = PresenceProfile.objects.get(kind=PresenceProfile.Kind.TEMPLATE, name="On holiday")
    template.actions.filter(type="set_dnd").update(params={"on": False, "prompt": False, "message": ""})
    bob = make_user("bob", "1001")
    assert entered(bob, profile_named(bob, "On holiday"))[0].dnd is False
    assert entered(alice, profile_named(alice, "On holiday"))[0].dnd is True


def test_seeding_is_idempotent(alice):
    counts = (PresenceProfile.objects.count(), Action.objects.count(), SwitchEvent.objects.count())
    seed_defaults()
    give_default_profiles(alice)
    seed_defaults()
    assert (PresenceProfile.objects.count(), Action.objects.count(), SwitchEvent.objects.count()) == counts


def test_a_renamed_or_deleted_default_is_not_brought_back(alice):
    PresenceProfile.objects.filter(kind=PresenceProfile.Kind.SYSTEM, name="Available").update(name="Reachable")
    PresenceProfile.objects.filter(kind=PresenceProfile.Kind.TEMPLATE, name="On holiday").delete()
    seed_defaults()
    assert set(PresenceProfile.objects.filter(kind="system").values_list("name", flat=True)) == {
        "Reachable",
        "Unavailable",
    }
    assert PresenceProfile.objects.filter(kind="template").count() == 5


def test_giving_the_defaults_keeps_the_users_own_choice(alice):
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    give_default_profiles(alice)
    assert Selection.objects.get(user=alice).profile.name == "In a meeting"


# --- rule 10 ----------------------------------------------------------------------------


def test_presence_profiles_are_refused_for_a_softphone_primary(db):
    carol = make_user("carol", "1002", kind=Extension.Kind.SOFTPHONE, enable=False)
    with pytest.raises(ValidationError) as exc:
        give_default_profiles(carol)
    assert "DEE main device" in exc.value.messages[0]
    assert "1002 (Softphone)" in exc.value.messages[0]
    assert not PresenceProfile.objects.filter(owner=carol).exists()
    assert not Selection.objects.filter(user=carol).exists()


def test_presence_profiles_are_refused_without_a_primary_extension(db):
    dave = make_user("dave", "1003", enable=False)
    dave.account.primary_extension = None
    dave.account.save()
    with pytest.raises(ValidationError) as exc:
        give_default_profiles(dave)
    assert "no primary extension" in exc.value.messages[0]


def test_enabling_a_client_profile_refuses_naming_the_non_dee_members(db):
    team = ClientProfile.objects.create(name="Mixed")
    make_user("carol", "1002", kind=Extension.Kind.SOFTPHONE, client=team, enable=False)
    erin = make_user("erin", "1004", client=team, enable=False)
    with pytest.raises(ValidationError) as exc:
        set_presence_enabled(client_profile=team, enabled=True)
    assert "carol" in exc.value.messages[0]
    assert "erin" not in exc.value.messages[0]
    team.refresh_from_db()
    assert team.presence_profiles_enabled is False
    assert not PresenceProfile.objects.filter(owner=erin).exists()


def test_enabling_a_client_profile_gives_every_member_the_defaults_once(db):
    team = ClientProfile.objects.create(name="Later")
    erin = make_user("erin", "1004", client=team, enable=False)
    frank = make_user("frank", "1005", client=team, enable=False)
    set_presence_enabled(client_profile=team, enabled=True)
    set_presence_enabled(client_profile=team, enabled=True)
    for user in (erin, frank):
        assert PresenceProfile.objects.filter(owner=user).count() == 6
        assert Selection.objects.get(user=user).profile.name == "In the office"
    assert SwitchEvent.objects.filter(user__in=[erin, frank]).count() == 2


def test_assigning_a_non_dee_user_to_an_enabled_client_profile_is_refused(db):
    enabled = ClientProfile.objects.create(name="Enabled", presence_profiles_enabled=True)
    off = ClientProfile.objects.create(name="Off")
    carol = make_user("carol", "1002", kind=Extension.Kind.SOFTPHONE, client=off, enable=False)
    with pytest.raises(ValidationError):
        assign_client_profile(account=carol.account, client_profile=enabled)
    carol.account.refresh_from_db()
    assert carol.account.client_profile.name == "Off"


def test_reapplying_a_profile_reaches_only_the_users_who_have_it_selected(alice):
    bob = make_user("bob", "1001")
    available = PresenceProfile.objects.get(kind=PresenceProfile.Kind.SYSTEM, name="Available")
    select_profile(user=alice, profile=available)
    assert reapply_profile_users(profile=available) == 1
    assert SwitchEvent.objects.filter(user=alice, event="edit", source=Selection.Source.ADMIN).count() == 1
    assert not SwitchEvent.objects.filter(user=bob, event="edit").exists()
