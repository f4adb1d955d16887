"""Mismatches say what really differs: after a failed apply they are found
against the new target (not the one before), and they name destinations,
teams and locations instead of ids, in the reader's language. My devices
marks every row that differs."""

import pytest
from django.urls import reverse
from django.utils import translation

from devices import services
from devices.models import Destination, Extension, Mismatch, Team
from devices.selectors import describe_all
from devices.state import Command
from profiles.services import select_profile
from tests.factories import make_user, profile_named


def mismatch_texts(user) -> list[str]:
    from profiles.selectors import apply_status

    return apply_status(user).mismatch_texts()


@pytest.mark.django_db(transaction=True)
def test_after_a_failed_apply_mismatches_describe_the_new_target():
    alice = make_user("alice", "1000")
    # In the office: DND off. A handset press turns DND on: "re-applying would turn DND off".
    services.manual_change(extension="1000", command=Command("1000", "set_dnd", {"on": True, "message": ""}))
    assert "1000: turn DND off" in mismatch_texts(alice)
    # Switching to "Do Not Disturb"-like "In a meeting" fails on the PBX: the old
    # text would now be wrong (the new profile turns DND on, as the phone is).
    services.set_fault(extension=Extension.objects.get(number="1000"), fault="permanent")
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    texts = mismatch_texts(alice)
    assert "1000: turn DND off" not in texts
    assert "1000: presence “In a meeting”" in texts
    desk = Destination.objects.get(extension__number="1000", family="desk")
    assert f"1000: Desk phone {desk.number}: deactivate" in texts  # the destination, not "destination 1"


@pytest.mark.django_db
def test_commands_name_destinations_teams_and_locations_in_german():
    alice = make_user("alice", "1000", teams=["Sales"])
    mobile = Destination.objects.get(extension__number="1000", family="mobile")
    sales = Team.objects.get(name="Sales")
    commands = [
        Command("1000", "set_destination", {"destination": str(mobile.pk), "active": False}),
        Command("1000", "team_login", {"team": str(sales.pk)}),
    ]
    with translation.override("de"):
        texts = describe_all(commands)
    assert texts == [f"1000: Mobiltelefon {mobile.number}: deaktivieren", "1000: im Team Sales anmelden"]
    assert alice  # the user owns the devices described


@pytest.mark.django_db(transaction=True)
def test_my_devices_marks_destinations_and_teams_that_differ(client):
    alice = make_user("alice", "1000", teams=["Sales"])
    client.force_login(alice)
    # On the handset: log out of Sales; the office profile logs into every team.
    sales = Team.objects.get(name="Sales")
    services.manual_change(extension="1000", command=Command("1000", "team_logout", {"team": str(sales.pk)}))
    html = client.get(reverse("profiles:devices")).content.decode()
    team_section = html.split('id="team-title"')[1].split("</section>")[0]
    assert 'class="differs"' in team_section
    assert Mismatch.objects.filter(user=alice, op="team_login").exists()


def test_one_language_translates_each_text_once_and_only_inside_it(monkeypatch):
    """A batch describes thousands of commands: inside one_language() each
    text is translated once, in the language active there; outside, the
    memo is gone and each call asks gettext in the language of the moment."""
    from devices import state

    calls = []
    real = state.gettext
    monkeypatch.setattr(state, "gettext", lambda message: calls.append(message) or real(message))
    names = state.CommandNames(teams={"7": "Sales"})
    commands = [Command("1000", "team_login", {"team": "7"}), Command("1000", "set_dnd", {"on": False})] * 50
    with translation.override("de"), state.one_language():
        german = [c.describe(names) for c in commands]
    assert german[:2] == ["1000: im Team Sales anmelden", "1000: Nicht stören ausschalten"]
    assert sorted(calls) == ["log in to %(team)s", "turn DND off"]  # each text once for 100 commands
    with translation.override("en"):
        assert commands[1].describe(names) == "1000: turn DND off"  # not the memo's German
    with translation.override("en"), state.one_language():
        assert commands[0].describe(names) == "1000: log in to Sales"  # a new memo in English


@pytest.mark.django_db(transaction=True)
def test_after_a_failed_batch_apply_mismatches_describe_the_new_target(monkeypatch):
    """The batch converge (triggers, meetings, re-apply of many) keeps the
    same promise as the single one."""
    from devices import converge

    alice = make_user("alice", "1000")
    services.manual_change(extension="1000", command=Command("1000", "set_dnd", {"on": True, "message": ""}))
    assert "1000: turn DND off" in mismatch_texts(alice)
    services.set_fault(extension=Extension.objects.get(number="1000"), fault="permanent")
    # Store the new target without converging it one by one, then converge the batch.
    monkeypatch.setattr(services, "enqueue_converge", lambda user_id, reason="": None)
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    converge.converge_many([alice.pk], reason="test")
    texts = mismatch_texts(alice)
    assert "1000: turn DND off" not in texts
    assert "1000: presence “In a meeting”" in texts
