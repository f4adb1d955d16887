"""Every page and partial costs the same number of queries whatever the
number of profiles, actions, triggers, colleagues, switches and runs:
measured at two data sizes and compared."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from devices.models import ApplyRun, ApplyStep, Mismatch
from profiles.automation.connectors.calendar import link_calendar
from profiles.automation.triggers import create_time_trigger
from profiles.models import Action, SwitchEvent
from profiles.services import add_action, create_profile, select_profile
from tests.factories import make_user, profile_named

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def pages(alice):
    office = profile_named(alice, "In the office")
    holiday = profile_named(alice, "On holiday")
    action = Action.objects.filter(profile=holiday).first()
    return [
        ("presence", reverse("profiles:presence")),
        ("status", reverse("profiles:status")),
        ("preview", reverse("profiles:preview", args=[holiday.pk])),
        ("profiles", reverse("profiles:profiles")),
        ("editor", reverse("profiles:profile_edit", args=[office.pk])),
        ("action form", reverse("profiles:action_new", args=[office.pk]) + "?type=team_login"),
        ("action edit", reverse("profiles:action_edit", args=[action.pk])),
        ("delete confirm", reverse("profiles:profile_delete", args=[holiday.pk])),
        ("triggers", reverse("profiles:triggers", args=[office.pk])),
        ("colleagues", reverse("profiles:colleagues")),
        ("devices", reverse("profiles:devices")),
        ("session trigger", reverse("profiles:session_trigger")),
        ("history", reverse("profiles:history")),
        ("history runs", reverse("profiles:history") + "?runs=1"),
    ]


def grow(alice, n: int) -> None:
    """Add n of everything the pages list."""
    office = profile_named(alice, "In the office")
    for i in range(n):
        profile = create_profile(user=alice, name=f"Extra {n}-{i}")
        add_action(user=alice, profile=profile, type="set_dnd", params={"on": True})
        add_action(user=alice, profile=office, type="set_gsm_mode", params={"on": False}, phase="exit")
        create_time_trigger(user=alice, profile=office, time_of_day=dt.time(n % 24, i % 60))
        link_calendar(user=alice, profile=office, name=f"Cal {n}-{i}", url=f"https://example.com/{n}-{i}.ics")
        colleague = make_user(f"colleague{n}_{i}", f"2{n:01d}{i:02d}", teams=["Sales"])
        select_profile(user=colleague, profile=profile_named(colleague, "In a meeting"))
        Mismatch.objects.create(
            user=alice, extension="1000", op="set_dnd", args={}, description=f"m{i}", detected_at=timezone.now()
        )
    now = timezone.now()
    SwitchEvent.objects.bulk_create(SwitchEvent(user=alice, source="user", new_name=f"E{i}") for i in range(n * 3))
    runs = ApplyRun.objects.bulk_create(
        ApplyRun(user=alice, target_version=i, started_at=now, result="applied") for i in range(n * 3)
    )
    ApplyStep.objects.bulk_create(
        ApplyStep(run=r, position=j, extension="1000", op="set_dnd", description="x", ok=True)
        for r in runs
        for j in range(2)
    )


def count_all(client, alice) -> dict:
    counts = {}
    for name, url in pages(alice):
        for hx in (False, True):
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url, **(HX if hx else {}))
            assert response.status_code == 200, (name, hx)
            counts[(name, hx)] = len(queries)
    return counts


def test_every_page_and_partial_costs_constant_queries(client):
    alice = make_user("alice", "1000", teams=["Sales"])
    make_user("bob", "1001", teams=["Sales"])
    client.force_login(alice)
    grow(alice, 1)
    small = count_all(client, alice)
    grow(alice, 6)
    large = count_all(client, alice)
    assert large == small
    assert max(small.values()) <= 16, small


def count_posts(client, alice) -> dict:
    """The htmx answers to a switch and to an edit of a chain."""
    meeting = profile_named(alice, "In a meeting")
    office = profile_named(alice, "In the office")
    action = Action.objects.filter(profile=office, phase="enter").order_by("position", "id").first()
    counts = {}
    for name, url, data in [
        ("switch", reverse("profiles:select", args=[meeting.pk]), {}),
        ("switch back", reverse("profiles:select", args=[office.pk]), {}),
        ("move action", reverse("profiles:action_move", args=[action.pk]), {"direction": "down"}),
        ("toggle action", reverse("profiles:action_toggle", args=[action.pk]), {}),
    ]:
        with CaptureQueriesContext(connection) as queries:
            response = client.post(url, data, **HX)
        assert response.status_code == 200, name
        counts[name] = len(queries)
    return counts


def test_switch_and_chain_edits_cost_constant_queries(client):
    alice = make_user("alice", "1000", teams=["Sales"])
    client.force_login(alice)
    grow(alice, 1)
    small = count_posts(client, alice)
    grow(alice, 6)
    large = count_posts(client, alice)
    assert large == small
