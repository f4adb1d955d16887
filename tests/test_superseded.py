"""A converge superseded while it writes to the phones (docs/rules.md#rule-10).

A time trigger switches a user to "In a meeting" (DND on, only voicemail);
while that converge is writing, the user selects "In the office" by hand
and that switch's own converge runs and finishes first. The writes of the
older converge land afterwards. Every path must end with the phones on the
newest target, and every command sent must be in an ApplyRun."""

import pytest

from devices.drivers.simulated import SimulatedDriver
from devices.models import ApplyRun, ApplyStep, TargetState
from devices.services import collect_converges
from devices.state import UserState, diff_user
from devices.tasks import converge_batch, converge_user
from profiles.models import Selection
from profiles.services import select_profile
from tests.factories import make_user, profile_named
from tests.interleaving import InterleavingDriver

pytestmark = pytest.mark.django_db(transaction=True)


def trigger_switch_left_pending(user):
    """The trigger's switch to "In a meeting", its converge not yet run."""
    with collect_converges():
        result = select_profile(user=user, profile=profile_named(user, "In a meeting"), source=Selection.Source.TRIGGER)
    return result.target_version


def hand_switch(user):
    """The user selects "In the office"; its converge runs at once (eager)."""
    return select_profile(user=user, profile=profile_named(user, "In the office")).target_version


def assert_phones_on_the_newest_target(user, *, first_run_id: int):
    target = TargetState.objects.get(user=user)
    assert (target.status, target.applied_version) == ("applied", target.version)
    desired = UserState.from_json(target.state)
    actual = UserState(extensions=SimulatedDriver().read(sorted(desired.extensions)))
    assert diff_user(actual, desired) == []
    assert actual.extensions["1000"].dnd is False
    assert actual.extensions["1000"].presence == "In the office"
    # Every command that reached a device is recorded as a step of a run.
    steps = ApplyStep.objects.filter(run__user=user, run_id__gte=first_run_id, ok=True)
    recorded = sorted((s.extension, s.op, sorted(s.args.items())) for s in steps)
    sent = sorted((c.extension, c.op, sorted(c.args.items())) for c in InterleavingDriver.sent if c.extension == "1000")
    assert recorded == sent


def next_run_id() -> int:
    """The id the next ApplyRun gets; the driver's log starts here too."""
    InterleavingDriver.sent = []
    last = ApplyRun.objects.order_by("-id").first()
    return (last.pk if last else 0) + 1


def test_a_single_converge_superseded_mid_write_ends_on_the_newest_target(interleaving):
    alice = make_user("alice", "1000", teams=["Sales"])
    meeting_version = trigger_switch_left_pending(alice)
    first = next_run_id()
    interleaving.before_apply = lambda: hand_switch(alice)
    converge_user.delay(alice.pk, "trigger")
    assert_phones_on_the_newest_target(alice, first_run_id=first)
    stale = ApplyRun.objects.get(user=alice, target_version=meeting_version)
    assert stale.result == ApplyRun.Result.SUPERSEDED
    assert stale.steps.filter(op="set_dnd", args__on=True).exists()


def test_a_single_converge_superseded_and_failing_mid_write_ends_on_the_newest_target(interleaving):
    alice = make_user("alice", "1000", teams=["Sales"])
    meeting_version = trigger_switch_left_pending(alice)
    first = next_run_id()
    interleaving.before_apply = lambda: hand_switch(alice)
    interleaving.fail_last = True  # the stale writes land, then the line drops
    converge_user.delay(alice.pk, "trigger")
    assert_phones_on_the_newest_target(alice, first_run_id=first)
    stale = ApplyRun.objects.get(user=alice, target_version=meeting_version)
    assert stale.result == ApplyRun.Result.SUPERSEDED
    assert "line dropped" in stale.error


def test_a_batch_converge_superseded_mid_write_ends_on_the_newest_target(interleaving):
    alice = make_user("alice", "1000", teams=["Sales"])
    bob = make_user("bob", "1001", teams=["Sales"])
    meeting_versions = {u.pk: trigger_switch_left_pending(u) for u in (alice, bob)}
    first = next_run_id()
    interleaving.before_apply = lambda: hand_switch(alice)
    converge_batch.delay([alice.pk, bob.pk], "trigger")
    assert_phones_on_the_newest_target(alice, first_run_id=first)
    stale = ApplyRun.objects.get(user=alice, target_version=meeting_versions[alice.pk])
    assert stale.result == ApplyRun.Result.SUPERSEDED
    assert stale.steps.filter(op="set_dnd", args__on=True).exists()
    # bob was not superseded: his batch run applied the meeting.
    assert ApplyRun.objects.get(user=bob, target_version=meeting_versions[bob.pk]).result == "applied"
    assert SimulatedDriver().read(["1001"])["1001"].presence == "In a meeting"


def test_a_batch_converge_superseded_and_failing_mid_write_ends_on_the_newest_target(interleaving):
    alice = make_user("alice", "1000", teams=["Sales"])
    meeting_version = trigger_switch_left_pending(alice)
    first = next_run_id()
    interleaving.before_apply = lambda: hand_switch(alice)
    interleaving.fail_last = True
    converge_batch.delay([alice.pk], "trigger")
    assert_phones_on_the_newest_target(alice, first_run_id=first)
    stale = ApplyRun.objects.get(user=alice, target_version=meeting_version)
    assert stale.result == ApplyRun.Result.SUPERSEDED
    assert "line dropped" in stale.error
