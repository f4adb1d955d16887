"""Switch, converge through a real Celery worker and broker, actual equals target."""

import time

import pytest

from devices import services
from devices.drivers.simulated import SimulatedDriver
from devices.models import ApplyRun, Extension, TargetState
from devices.state import UserState, diff_user
from profiles.services import select_profile
from tests.factories import make_user, profile_named

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_until_applied(user, version: int, timeout: float = 30.0) -> TargetState:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        target = TargetState.objects.get(user=user)
        if target.applied_version >= version and target.status != TargetState.Status.PENDING:
            return target
        time.sleep(0.05)
    raise AssertionError(f"target v{version} of {user} not applied within {timeout} s: {target.status} {target.error}")


def test_worker_converges_a_switch_until_actual_equals_target(celery_worker):
    alice = make_user("alice", "1000", teams=["Sales"])
    result = select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    target = wait_until_applied(alice, result.target_version)
    assert target.status == TargetState.Status.APPLIED
    desired = UserState.from_json(target.state)
    actual = UserState(extensions=SimulatedDriver().read(sorted(desired.extensions)))
    assert diff_user(actual, desired) == []
    assert actual.extensions["1000"].presence == "In a meeting"
    assert actual.extensions["1000"].dnd is True


def test_worker_retries_a_transient_failure_through_the_broker(celery_worker):
    alice = make_user("alice", "1000")
    wait_until_applied(alice, 1)
    services.set_fault(extension=Extension.objects.get(number="1000"), fault="transient", count=1)
    result = select_profile(user=alice, profile=profile_named(alice, "On holiday"))
    target = wait_until_applied(alice, result.target_version)
    assert target.status == TargetState.Status.APPLIED
    assert SimulatedDriver().read(["1000"])["1000"].presence == "On holiday"
    assert ApplyRun.Result.RETRYING in set(ApplyRun.objects.filter(user=alice).values_list("result", flat=True))
