"""A hand switch during a trigger batch's writes, with the real worker
(docs/rules.md#rule-10): the batch task and the hand switch's converge run
at the same time in two worker threads, through the broker."""

import threading

import pytest
from celery.signals import task_postrun

from devices.drivers.simulated import SimulatedDriver
from devices.models import ApplyRun, TargetState
from devices.services import collect_converges
from devices.state import UserState, diff_user
from devices.tasks import converge_batch
from profiles.models import Selection
from profiles.services import select_profile
from tests.factories import make_user, profile_named
from tests.integration.test_worker import wait_until_applied

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_hand_switch_during_a_batch_converge_ends_on_the_phones(celery_worker_two_threads, interleaving):
    alice = make_user("alice", "1000", teams=["Sales"])
    wait_until_applied(alice, 1)
    with collect_converges():
        meeting = select_profile(
            user=alice, profile=profile_named(alice, "In a meeting"), source=Selection.Source.TRIGGER
        ).target_version

    in_apply, go, batch_done = threading.Event(), threading.Event(), threading.Event()

    def hold_the_batch_writes():  # runs in the worker thread of the batch
        in_apply.set()
        go.wait(timeout=30)

    def on_postrun(task=None, **kwargs):
        if task is not None and task.name == converge_batch.name:
            batch_done.set()

    interleaving.before_apply = hold_the_batch_writes
    task_postrun.connect(on_postrun, weak=False)
    try:
        converge_batch.delay([alice.pk], "trigger")
        assert in_apply.wait(timeout=30), "the batch never reached its writes"
        office = select_profile(user=alice, profile=profile_named(alice, "In the office")).target_version
        wait_until_applied(alice, office)  # by the other worker thread, before the batch writes
        go.set()
        assert batch_done.wait(timeout=30), "the batch task did not finish"
    finally:
        go.set()
        task_postrun.disconnect(on_postrun)

    target = TargetState.objects.get(user=alice)
    assert (target.version, target.applied_version, target.status) == (office, office, "applied")
    desired = UserState.from_json(target.state)
    actual = UserState(extensions=SimulatedDriver().read(sorted(desired.extensions)))
    assert diff_user(actual, desired) == []
    assert (actual.extensions["1000"].dnd, actual.extensions["1000"].presence) == (False, "In the office")
    stale = ApplyRun.objects.get(user=alice, target_version=meeting)
    assert stale.result == ApplyRun.Result.SUPERSEDED
    assert stale.steps.filter(op="set_dnd", args__on=True, ok=True).exists()
