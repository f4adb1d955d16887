"""docs/rules.md, rules 1-8 and 11, through
the services and the converge task (eager Celery) on the simulated PBX."""

import pytest
from django.core.exceptions import ValidationError

from devices.drivers.simulated import SimulatedDriver
from devices.models import ApplyRun, Extension, Mismatch
from devices.services import manual_change, reconcile_users, sweep_pending
from devices.state import Command
from profiles import events
from profiles.errors import InUse, NotAllowed, PromptRequired
from profiles.models import ClientProfile, PresenceProfile, Selection
from profiles.selectors import recent_values
from profiles.services import (
    add_action,
    create_profile,
    delete_profile,
    reapply,
    select_profile,
    update_action,
    update_profile,
)
from tests.factories import client_profile, make_user, profile_named

# The default transactional test case: each service call runs inside
# committed(), so what production runs on its commit (the converge) runs
# before the next line, as it does there.
pytestmark = pytest.mark.django_db


def device(number: str):
    return SimulatedDriver().read([number])[number]


def destinations_by_family(user) -> dict[str, str]:
    return {d.family: str(d.pk) for d in user.account.primary_extension.destinations.all()}


def team_id(name: str) -> str:
    from devices.models import Team

    return str(Team.objects.get(name=name).pk)


def test_rule1_exit_chain_then_enter_chain_top_to_bottom_skipping_disabled(committed):
    with committed():
        alice = make_user("alice", "1000")
    with committed():
        leaving = create_profile(user=alice, name="Leaving")
    with committed():
        add_action(user=alice, profile=leaving, type="set_forward", params={"target": "1234"}, phase="exit")
    with committed():
        add_action(user=alice, profile=leaving, type="set_gsm_mode", params={"on": True}, phase="exit")
    with committed():
        entering = create_profile(user=alice, name="Entering", icon="users", colour="#6a1b9a")
    with committed():
        add_action(user=alice, profile=entering, type="set_forward", params={"target": "5678"})
    with committed():
        add_action(user=alice, profile=entering, type="set_dnd", params={"on": True, "message": "first"})
    with committed():
        add_action(user=alice, profile=entering, type="set_dnd", params={"on": False})
    with committed():
        skipped = add_action(user=alice, profile=entering, type="set_dnd", params={"on": True, "message": "disabled"})
    with committed():
        update_action(user=alice, action=skipped, enabled=False)

    with committed():
        select_profile(user=alice, profile=leaving)
    with committed():
        select_profile(user=alice, profile=entering)

    state = device("1000")
    assert state.forward == "5678"  # the exit chain ran first, the enter chain after it
    assert state.gsm is True  # the old profile's exit chain ran
    assert state.dnd is False  # top to bottom: the later "DND off" wins; the disabled action is skipped
    assert state.presence == "Entering"  # the profile's name is the presence colleagues see
    assert Selection.objects.get(user=alice).profile == entering


def test_rule2_applying_the_same_profile_twice_changes_nothing(committed):
    with committed():
        alice = make_user("alice", "1000", teams=["Sales"])
    meeting = profile_named(alice, "In a meeting")
    with committed():
        select_profile(user=alice, profile=meeting)
    before = device("1000")
    with committed():
        select_profile(user=alice, profile=meeting)
    last = ApplyRun.objects.filter(user=alice).first()
    assert last.result == ApplyRun.Result.NOTHING
    assert last.steps.count() == 0
    assert device("1000") == before


def test_rule3_prompt_on_selection_asks_and_offers_recent_values(committed):
    with committed():
        alice = make_user("alice", "1000")
    dnd = profile_named(alice, "Do Not Disturb")
    with pytest.raises(PromptRequired) as asked:
        with committed():
            select_profile(user=alice, profile=dnd)
    assert asked.value.needed == {"dnd_message"}
    assert Selection.objects.get(user=alice).profile.name == "In the office"  # nothing changed

    with committed():
        select_profile(user=alice, profile=dnd, prompt_values={"dnd_message": "Back at 3"})
    assert (device("1000").dnd, device("1000").dnd_message) == (True, "Back at 3")
    assert recent_values(alice, "dnd_message") == ["Back at 3"]

    home = profile_named(alice, "Working from home")
    with pytest.raises(PromptRequired):
        with committed():
            select_profile(user=alice, profile=home, prompt_values={"forward": "not a number"})
    with committed():
        select_profile(user=alice, profile=home, prompt_values={"forward": "+49 30 1234567"})
    assert device("1000").forward == "+49301234567"


def test_rule4_manual_change_sticks_between_events(committed):
    with committed():
        alice = make_user("alice", "1000")
    with committed():
        manual_change(extension="1000", command=Command("1000", "set_dnd", {"on": True, "message": "handset"}))
    with committed():
        manual_change(extension="1000", command=Command("1000", "set_gsm", {"on": True}))
    # Beat's periodic work is not an event: nothing is overwritten.
    with committed():
        sweep_pending()
    with committed():
        reconcile_users([alice.pk])
    assert device("1000").dnd is True
    # An event (here an administrator's re-apply) applies the profile again;
    # a field the profile does not set (GSM mode) still sticks.
    with committed():
        reapply(user=alice, event="reapply")
    assert device("1000").dnd is False
    assert device("1000").gsm is True


def test_rule5_mismatch_alerts_without_overwriting(committed):
    with committed():
        alice = make_user("alice", "1000")
    with committed():
        manual_change(extension="1000", command=Command("1000", "set_forward", {"target": "1099"}))
    with committed():
        reconcile_users([alice.pk])
    mismatch = Mismatch.objects.get(user=alice)
    assert mismatch.extension == "1000"
    assert mismatch.op == "set_forward"
    assert "remove forward" in mismatch.description
    assert device("1000").forward == "1099"  # flagged, not fixed

    with committed():
        reapply(user=alice, event="reapply")  # the user re-applies: fixed, alert gone
    assert device("1000").forward == ""
    assert not Mismatch.objects.filter(user=alice).exists()


def test_rule6_softphone_gets_the_profile_and_loses_it_at_disconnect(committed):
    with committed():
        alice = make_user("alice", "1000")
    softphone = Extension.objects.create(number="2000", kind=Extension.Kind.SOFTPHONE, owner=alice)
    with committed():
        select_profile(
            user=alice, profile=profile_named(alice, "Do Not Disturb"), prompt_values={"dnd_message": "Busy"}
        )

    with committed():
        events.connect_client(user=alice, extension=softphone)
    phone = device("2000")
    assert (phone.dnd, phone.dnd_message, phone.presence) == (True, "Busy", "Do Not Disturb")

    with committed():
        assert events.disconnect_client(user=alice, extension=softphone) is True
    phone = device("2000")
    assert (phone.dnd, phone.dnd_message, phone.forward, phone.presence) == (False, "", "", "")
    assert device("1000").dnd is True  # stays on the primary


def test_rule7_hot_desk_logout_disables_dee_and_ucd_and_login_brings_them_back(committed):
    policy = client_profile("Hot desk", disable_dee_ucd_when_logged_out=True)
    with committed():
        frank = make_user("frank", "1005", teams=["Sales"], client=policy, hot_desk=True)
    primary = frank.account.primary_extension
    sales = team_id("Sales")
    assert device("1005").teams[sales].logged_in is True

    with committed():
        events.hot_desk_logout(extension=primary)
    state = device("1005")
    assert all(d.active is False for d in state.destinations.values())
    assert (state.teams[sales].logged_in, state.teams[sales].pickup) == (False, False)

    with committed():
        events.hot_desk_login(extension=primary)
    state = device("1005")
    assert all(d.active is True for d in state.destinations.values())
    assert (state.teams[sales].logged_in, state.teams[sales].pickup) == (True, True)


def test_rule7_without_the_option_logout_leaves_dee_and_ucd_alone(committed):
    with committed():
        frank = make_user("frank", "1005", teams=["Sales"], hot_desk=True)
    with committed():
        events.hot_desk_logout(extension=frank.account.primary_extension)
    state = device("1005")
    assert all(d.active is True for d in state.destinations.values())
    assert state.teams[team_id("Sales")].logged_in is True


def test_rule8_the_selected_profile_cannot_be_deleted(committed):
    with committed():
        alice = make_user("alice", "1000")
    with pytest.raises(InUse):
        with committed():
            delete_profile(user=alice, profile=profile_named(alice, "In the office"))
    assert PresenceProfile.objects.filter(owner=alice, name="In the office").exists()


def test_rule8_system_profiles_cannot_be_changed_or_deleted_by_users(committed):
    with committed():
        alice = make_user("alice", "1000")
    system = PresenceProfile.objects.get(kind=PresenceProfile.Kind.SYSTEM, name="Available")
    with pytest.raises(NotAllowed):
        with committed():
            update_profile(user=alice, profile=system, name="Mine now")
    with pytest.raises(NotAllowed):
        with committed():
            delete_profile(user=alice, profile=system)
    with pytest.raises(NotAllowed):
        with committed():
            add_action(user=alice, profile=system, type="set_dnd", params={"on": True})
    system.refresh_from_db()
    assert system.name == "Available"


def test_rule8_edits_of_the_selected_profile_apply_at_once_by_default(committed):
    with committed():
        alice = make_user("alice", "1000")
    office = profile_named(alice, "In the office")
    with committed():
        add_action(user=alice, profile=office, type="set_gsm_mode", params={"on": True})
    assert device("1000").gsm is True


def test_rule8_edit_policy_refuse_rejects_edits_of_the_selected_profile(committed):
    strict = client_profile("Strict", selected_profile_edit_policy=ClientProfile.EditPolicy.REFUSE)
    with committed():
        alice = make_user("alice", "1000", client=strict)
    office = profile_named(alice, "In the office")
    with pytest.raises(InUse):
        with committed():
            add_action(user=alice, profile=office, type="set_gsm_mode", params={"on": True})
    assert device("1000").gsm is False
    # Profiles not in use may still be edited.
    with committed():
        add_action(user=alice, profile=profile_named(alice, "On holiday"), type="set_gsm_mode", params={"on": True})


def test_rule11_leaving_a_team_turns_off_pickup_and_rejoining_turns_it_on(committed):
    with committed():
        alice = make_user("alice", "1000", teams=["Sales", "Support"])
    sales, support = team_id("Sales"), team_id("Support")
    assert device("1000").teams[sales].pickup is True

    with committed():
        select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    teams = device("1000").teams
    assert (teams[sales].logged_in, teams[sales].pickup) == (False, False)
    assert (teams[support].logged_in, teams[support].pickup) == (False, False)

    with committed():
        select_profile(user=alice, profile=profile_named(alice, "In the office"))
    teams = device("1000").teams
    assert (teams[sales].logged_in, teams[sales].pickup) == (True, True)


def test_bad_handset_input_changes_nothing(committed):
    with committed():
        make_user("alice", "1000")
    before = device("1000")
    with pytest.raises(ValidationError):
        with committed():
            manual_change(extension="1000", command=Command("1000", "set_forward", {"target": "abc"}))
    with pytest.raises(ValidationError):
        with committed():
            manual_change(extension="1000", command=Command("1000", "set_presence", {"text": "x"}))
    assert device("1000") == before
