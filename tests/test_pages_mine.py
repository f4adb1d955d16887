"""My devices, history and triggers pages: what they show, pagination,
field errors, the meeting-trigger error, and 404 for other users' ids."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from devices.models import ApplyRun, ApplyStep, ClientSession, Extension
from profiles.automation.triggers import create_time_trigger
from profiles.models import StatusConnector, SwitchEvent, Trigger
from profiles.services import select_profile
from tests.factories import make_user, profile_named

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def alice(client):
    user = make_user("alice", "1000", teams=["Sales"])
    client.force_login(user)
    return user


def test_devices_shows_actual_next_to_profile(client, alice, django_capture_on_commit_callbacks):
    softphone = Extension.objects.create(number="1900", kind="softphone", owner=alice)
    ClientSession.objects.create(user=alice, extension=softphone)
    with django_capture_on_commit_callbacks(execute=True):
        select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    html = client.get(reverse("profiles:devices")).content.decode()
    assert "1000" in html and "Primary extension" in html
    assert "Softphone 1900" in html and "Sales" in html and "Voicemail" in html
    assert "Applied" in html


def test_devices_marks_a_difference(client, alice, django_capture_on_commit_callbacks):
    from devices.models import SimulatedDevice

    with django_capture_on_commit_callbacks(execute=True):
        select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    device = SimulatedDevice.objects.get(extension__number="1000")
    device.state = {**device.state, "dnd": False}
    device.save()
    html = client.get(reverse("profiles:devices"), **HX).content.decode()
    assert "differs" in html and "<html" not in html


def test_history_lists_switches_and_runs_with_steps(client, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    html = client.get(reverse("profiles:history")).content.decode()
    assert "In the office → <strong>In a meeting</strong>" in html
    assert "turn DND on" in html
    run = ApplyRun.objects.filter(user=alice).first()
    sales = alice.extensions.get().teams.get()
    ApplyStep.objects.create(
        run=run, position=99, extension="1000", op="team_login", args={"team": str(sales.pk)}, description="x", ok=True
    )
    html = client.get(reverse("profiles:history")).content.decode()
    assert "1000: log in to team Sales" in html  # team names, not ids


def test_history_is_paginated(client, alice):
    now = timezone.now()
    SwitchEvent.objects.bulk_create(
        SwitchEvent(user=alice, source="user", new_name=f"P{i}", target_version=i) for i in range(45)
    )
    ApplyRun.objects.bulk_create(
        ApplyRun(user=alice, target_version=i, started_at=now - dt.timedelta(minutes=i), result="nothing")
        for i in range(45)
    )
    html = client.get(reverse("profiles:history")).content.decode()
    assert "Page 1 of 3" in html
    response = client.get(reverse("profiles:history"), {"runs": 3}, **HX)
    assert (
        response.status_code == 200
        and 'id="runs"' in response.content.decode()
        and "Page 3 of 3" in response.content.decode()
    )


def test_history_shows_only_my_own(client, alice):
    bob = make_user("bob", "1001")
    select_profile(user=bob, profile=profile_named(bob, "On holiday"))
    html = client.get(reverse("profiles:history")).content.decode()
    assert "On holiday" not in html


def test_add_time_trigger(client, alice):
    profile = profile_named(alice, "On holiday")
    response = client.post(
        reverse("profiles:time_trigger_new", args=[profile.pk]),
        {"new-time_of_day": "07:45", "new-weekdays": ["0", "2"]},
        **HX,
    )
    assert response.status_code == 200 and response["HX-Retarget"] == "#trigger-panel"
    trigger = Trigger.objects.get(profile=profile)
    assert trigger.time_of_day == dt.time(7, 45) and trigger.weekdays == 0b101 and trigger.next_fire_at
    assert "At 07:45" in response.content.decode()


def test_time_trigger_with_bad_input_shows_errors_and_adds_nothing(client, alice):
    profile = profile_named(alice, "On holiday")
    response = client.post(reverse("profiles:time_trigger_new", args=[profile.pk]), {"new-time_of_day": "25:99"}, **HX)
    html = response.content.decode()
    assert response.status_code == 422
    assert "Enter a valid time." in html and "Choose at least one weekday." in html
    assert not Trigger.objects.filter(profile=profile).exists()


def test_edit_toggle_and_delete_time_trigger(client, alice):
    profile = profile_named(alice, "On holiday")
    trigger = create_time_trigger(user=alice, profile=profile, time_of_day=dt.time(8, 0))
    response = client.post(
        reverse("profiles:trigger_edit", args=[trigger.pk]),
        {f"t{trigger.pk}-time_of_day": "09:15", f"t{trigger.pk}-weekdays": ["5"]},
    )
    assert response.status_code == 302
    trigger.refresh_from_db()
    assert trigger.time_of_day == dt.time(9, 15) and trigger.weekdays == 0b100000
    client.post(reverse("profiles:trigger_toggle", args=[trigger.pk]), **HX)
    trigger.refresh_from_db()
    assert trigger.enabled is False
    client.post(reverse("profiles:trigger_delete", args=[trigger.pk]), **HX)
    assert not Trigger.objects.filter(pk=trigger.pk).exists()


def test_meeting_trigger_without_connector_says_so(client, alice):
    profile = profile_named(alice, "In a meeting")
    response = client.post(reverse("profiles:meeting_trigger_new", args=[profile.pk]), **HX)
    assert response.status_code == 400
    assert "connector" in response.content.decode().lower()
    assert not Trigger.objects.filter(profile=profile).exists()


def test_meeting_trigger_with_a_configured_connector(client, alice):
    StatusConnector.objects.create(name="Teams", kind="webhook", webhook_secret="s3cret")
    profile = profile_named(alice, "In a meeting")
    response = client.post(reverse("profiles:meeting_trigger_new", args=[profile.pk]), **HX)
    assert response.status_code == 200
    assert Trigger.objects.filter(profile=profile, kind="meeting").exists()
    assert "While I am in a meeting" in response.content.decode()


def test_bob_gets_404_for_alices_triggers(client, alice):
    trigger = create_time_trigger(user=alice, profile=profile_named(alice, "On holiday"), time_of_day=dt.time(8, 0))
    bob = make_user("bob", "1001")
    client.force_login(bob)
    for url, method in [
        (reverse("profiles:trigger_edit", args=[trigger.pk]), "get"),
        (reverse("profiles:trigger_edit", args=[trigger.pk]), "post"),
        (reverse("profiles:trigger_toggle", args=[trigger.pk]), "post"),
        (reverse("profiles:trigger_delete", args=[trigger.pk]), "post"),
        (reverse("profiles:time_trigger_new", args=[trigger.profile_id]), "post"),
        (reverse("profiles:meeting_trigger_new", args=[trigger.profile_id]), "post"),
    ]:
        assert getattr(client, method)(url).status_code == 404, url
    trigger.refresh_from_db()
    assert trigger.enabled and trigger.time_of_day == dt.time(8, 0)
