"""A converge superseded while it writes to the phones (docs/rules.md#rule-15).

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


# --- superseded again and again: three passes in a row, then one forced converge ---------


def switch_while_writing(user, times: int) -> list[int]:
    """Arm the driver so the next ``times`` converge passes that write are
    each superseded by a hand switch (alternating "Out of the office" and
    "In the office", ending on "In the office"). Returns the versions
    switched to."""
    names = ["Out of the office" if (times - i) % 2 else "In the office" for i in range(1, times + 1)]
    versions = []

    def switch():
        name = names[len(versions)]
        # The hand switch's own converge runs now (eager), with the hook disarmed.
        versions.append(select_profile(user=user, profile=profile_named(user, name)).target_version)
        if len(versions) < times:
            InterleavingDriver.before_apply = switch

    InterleavingDriver.before_apply = switch
    return versions


@pytest.fixture
def follow_ups(monkeypatch):
    """The forced converge_user tasks enqueued (they still run, eagerly)."""
    calls = []
    enqueue = converge_user.apply_async

    def spy(args=None, kwargs=None, **options):
        if len(args) == 3 and args[2] is True:  # (user_id, reason, force)
            calls.append(tuple(args))
        return enqueue(args, kwargs, **options)

    monkeypatch.setattr(converge_user, "apply_async", spy)
    return calls


def superseded_in_a_row(user, first: int) -> list[str]:
    """The results of the trigger's converge passes: runs of the user from
    ``first`` on, without the hand switches' own runs (reason "switch")."""
    return list(
        ApplyRun.objects.filter(user=user, pk__gte=first)
        .exclude(reason="switch")
        .order_by("pk")
        .values_list("result", flat=True)
    )


def test_a_converge_superseded_three_times_in_a_row_stops_and_leaves_the_target_pending(interleaving):
    from devices.converge import MAX_PASSES, converge

    alice = make_user("alice", "1000", teams=["Sales"])
    trigger_switch_left_pending(alice)
    first = next_run_id()
    versions = switch_while_writing(alice, MAX_PASSES + 1)
    outcome = converge(user_id=alice.pk, reason="trigger", only_pending=True)
    assert MAX_PASSES == 3
    assert outcome.superseded
    # Three passes, each superseded; the fourth switch never got its moment.
    assert superseded_in_a_row(alice, first) == ["superseded"] * 3
    assert len(versions) == 3
    assert InterleavingDriver.before_apply is not None
    InterleavingDriver.before_apply = None


def test_a_single_converge_superseded_three_times_in_a_row_is_followed_by_one_forced_converge(interleaving, follow_ups):
    alice = make_user("alice", "1000", teams=["Sales"])
    trigger_switch_left_pending(alice)
    first = next_run_id()
    versions = switch_while_writing(alice, 3)
    converge_user.delay(alice.pk, "trigger")
    assert len(versions) == 3
    # Three superseded passes in the task, then the forced follow-up applies the newest target.
    assert superseded_in_a_row(alice, first) == ["superseded", "superseded", "superseded", "applied"]
    assert follow_ups == [(alice.pk, "superseded", True)]
    last = ApplyRun.objects.filter(user=alice).latest("pk")
    assert (last.reason, last.target_version) == ("superseded", versions[-1])
    assert_phones_on_the_newest_target(alice, first_run_id=first)


def test_a_batch_converge_superseded_three_times_in_a_row_is_followed_by_one_forced_converge(interleaving, follow_ups):
    alice = make_user("alice", "1000", teams=["Sales"])
    bob = make_user("bob", "1001", teams=["Sales"])
    meeting_versions = {u.pk: trigger_switch_left_pending(u) for u in (alice, bob)}
    first = next_run_id()
    versions = switch_while_writing(alice, 3)
    converge_batch.delay([alice.pk, bob.pk], "trigger")
    assert len(versions) == 3
    # The batch's pass is the first of the three, as for a single converge.
    assert superseded_in_a_row(alice, first) == ["superseded", "superseded", "superseded", "applied"]
    assert follow_ups == [(alice.pk, "superseded", True)]
    assert ApplyRun.objects.filter(user=alice, pk__gte=first).latest("pk").target_version == versions[-1]
    assert_phones_on_the_newest_target(alice, first_run_id=first)
    assert ApplyRun.objects.get(user=bob, target_version=meeting_versions[bob.pk]).result == "applied"


def test_fewer_than_three_superseded_passes_need_no_follow_up(interleaving, follow_ups):
    alice = make_user("alice", "1000", teams=["Sales"])
    trigger_switch_left_pending(alice)
    first = next_run_id()
    switch_while_writing(alice, 2)
    converge_user.delay(alice.pk, "trigger")
    assert superseded_in_a_row(alice, first) == ["superseded", "superseded", "applied"]
    assert follow_ups == []
    assert_phones_on_the_newest_target(alice, first_run_id=first)
