"""On a call: a client profile's optional switch while a member is on the
phone, through the meeting precedence rules, driven by line states from
the PBX event listener."""

from __future__ import annotations

import pytest

from devices import services
from devices.events import Effect
from devices.listener import Listener
from profiles.automation.calls import line_states_changed
from profiles.models import PresenceProfile, Selection, StatusConnector
from profiles.services import select_profile, update_profile
from tests.factories import client_profile, make_user, profile_named

pytestmark = pytest.mark.django_db


def unavailable() -> PresenceProfile:
    return PresenceProfile.objects.get(kind=PresenceProfile.Kind.SYSTEM, name="Unavailable")


@pytest.fixture
def calls_on():
    cp = client_profile("Call centre")
    cp.on_call_profile = unavailable()
    cp.save(update_fields=["on_call_profile"])
    return cp


def selected(user) -> tuple[str, str]:
    selection = Selection.objects.select_related("profile").get(user=user)
    return selection.profile.name, selection.source


def test_off_by_default_a_call_changes_nothing():
    alice = make_user("alice", "1000")
    assert line_states_changed({"1000": "on_call"}) == {}
    assert selected(alice) == ("In the office", Selection.Source.SYSTEM)


def test_a_call_switches_to_the_chosen_profile_and_back(calls_on):
    alice = make_user("alice", "1000", client=calls_on)
    line_states_changed({"1000": "ringing"})  # not yet on the phone
    assert selected(alice)[0] == "In the office"
    line_states_changed({"1000": "on_call"})
    assert selected(alice) == ("Unavailable", Selection.Source.MEETING)
    line_states_changed({"1000": "on_hold"})  # still the same call
    assert selected(alice)[0] == "Unavailable"
    line_states_changed({"1000": "idle"})
    assert selected(alice) == ("In the office", Selection.Source.MEETING_END)
    assert StatusConnector.objects.get().kind == StatusConnector.Kind.PHONE


def test_a_sticky_profile_is_not_left_for_a_call(calls_on):
    alice = make_user("alice", "1000", client=calls_on)
    holiday = profile_named(alice, "On holiday")
    update_profile(user=alice, profile=holiday, sticky=True)
    select_profile(user=alice, profile=holiday)
    line_states_changed({"1000": "on_call"})
    assert selected(alice)[0] == "On holiday"


def test_a_profile_chosen_during_the_call_is_not_undone(calls_on):
    alice = make_user("alice", "1000", client=calls_on)
    line_states_changed({"1000": "on_call"})
    select_profile(user=alice, profile=profile_named(alice, "Working from home"), prompt_values={"forward": "1099"})
    line_states_changed({"1000": "idle"})
    assert selected(alice)[0] == "Working from home"


def test_a_call_during_a_meeting_returns_only_after_both(calls_on):
    from profiles.automation.meetings import meeting_ended, meeting_started

    alice = make_user("alice", "1000", client=calls_on)
    teams = StatusConnector.objects.create(name="Teams", kind=StatusConnector.Kind.WEBHOOK, webhook_secret="s")
    meeting_started(user_id=alice.pk, connector=teams, profile=profile_named(alice, "In a meeting"))
    line_states_changed({"1000": "on_call"})
    assert selected(alice)[0] == "In a meeting"  # already switched for a meeting
    meeting_ended(user_id=alice.pk, connector=teams)
    assert selected(alice)[0] == "In a meeting"  # the call goes on
    line_states_changed({"1000": "idle"})
    assert selected(alice)[0] == "In the office"


def test_the_phone_connector_is_no_meeting_source_for_triggers(calls_on):
    from profiles.automation.triggers import configured_connectors

    make_user("alice", "1000", client=calls_on)
    line_states_changed({"1000": "on_call"})
    assert configured_connectors() == []


@pytest.mark.django_db(transaction=True)
def test_the_listener_passes_line_changes_to_the_profile_side(calls_on):
    alice = make_user("alice", "1000", client=calls_on)
    listener = Listener()
    listener.handle(Effect(lines={"1000": "on_call"}))
    assert selected(alice)[0] == "Unavailable"
    listener.handle(Effect(lines={"1000": "on_call"}))  # no change: no event for the profile side
    listener.handle(Effect(lines={"1000": "idle"}))
    assert selected(alice)[0] == "In the office"
    assert services.record_line_states({"1000": "idle"}) == {}


def test_the_admin_refuses_an_on_call_profile_the_client_profile_does_not_give(admin_client, calls_on):
    from profiles.admin_forms import ClientProfileForm

    other = PresenceProfile.objects.create(kind=PresenceProfile.Kind.SYSTEM, name="Lunch", icon="utensils")
    form = ClientProfileForm(
        instance=calls_on,
        data={
            "name": calls_on.name,
            "presence_profiles_enabled": "on",
            "selected_profile_edit_policy": "apply",
            "system_profiles": [p.pk for p in calls_on.system_profiles.all()],
            "on_call_profile": other.pk,
        },
    )
    assert not form.is_valid()
    assert "on_call_profile" in form.errors
