"""Time triggers, clear-after and meetings end to end through a real Celery
worker and broker: the due-scan task as Beat sends it, the batch tasks it
hands work to, the converge on the simulated PBX."""

import datetime as dt
import json
import time

import pytest
from django.utils import timezone

from devices.drivers.simulated import SimulatedDriver
from devices.models import TargetState
from profiles.automation import triggers
from profiles.automation.connectors.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from profiles.automation.tasks import due_scan
from profiles.models import Selection, StatusConnector, Trigger, TriggerFiring
from profiles.services import select_profile
from tests.factories import make_user, profile_named

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_for(check, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def converged_on(user, profile_name: str) -> bool:
    selection = Selection.objects.select_related("profile").get(user=user)
    target = TargetState.objects.filter(user=user).first()
    if selection.profile.name != profile_name or target is None:
        return False
    if (target.status, target.applied_version) != (TargetState.Status.APPLIED, target.version):
        return False
    return SimulatedDriver().read([user.extensions.get().number])[user.extensions.get().number].presence == profile_name


def test_time_trigger_fires_through_the_worker(celery_worker):
    users = [make_user(name, number) for name, number in (("alice", "1000"), ("bob", "1001"))]
    for user in users:
        wait_for(lambda u=user: converged_on(u, "In the office"), "initial converge")
        trigger = triggers.create_time_trigger(
            user=user, profile=profile_named(user, "Out of the office"), time_of_day=dt.time(8), weekdays=0b1111111
        )
        Trigger.objects.filter(pk=trigger.pk).update(next_fire_at=timezone.now() - dt.timedelta(seconds=1))
    due_scan.delay()  # what Beat sends
    for user in users:
        wait_for(lambda u=user: converged_on(u, "Out of the office"), f"{user} switched and converged")
    assert set(TriggerFiring.objects.values_list("outcome", flat=True)) == {TriggerFiring.Outcome.APPLIED}


def test_clear_after_returns_through_the_worker(celery_worker):
    alice = make_user("alice", "1000")
    select_profile(
        user=alice, profile=profile_named(alice, "On holiday"), until=timezone.now() + dt.timedelta(seconds=1)
    )
    wait_for(lambda: converged_on(alice, "On holiday"), "the timed selection")
    time.sleep(1.1)
    due_scan.delay()
    wait_for(lambda: converged_on(alice, "In the office"), "the return to the previous profile")
    assert Selection.objects.get(user=alice).source == Selection.Source.CLEAR_AFTER


def test_meeting_webhook_switches_and_returns_through_the_worker(celery_worker, client):
    hook = StatusConnector.objects.create(name="Hook", kind=StatusConnector.Kind.WEBHOOK, webhook_secret="s3cret")
    alice = make_user("alice", "1000")
    triggers.create_meeting_trigger(user=alice, profile=profile_named(alice, "In a meeting"))

    def post(event):
        body = json.dumps({"event": event, "email": "alice@example.com"}).encode()
        stamp = str(int(time.time()))
        return client.post(
            f"/hooks/status/{hook.pk}/",
            data=body,
            content_type="application/json",
            **{
                f"HTTP_{TIMESTAMP_HEADER.upper().replace('-', '_')}": stamp,
                f"HTTP_{SIGNATURE_HEADER.upper().replace('-', '_')}": sign("s3cret", stamp, body),
            },
        )

    assert post("meeting_started").status_code == 200
    wait_for(lambda: converged_on(alice, "In a meeting"), "the meeting switch")
    assert post("meeting_ended").status_code == 200
    wait_for(lambda: converged_on(alice, "In the office"), "the return after the meeting")
