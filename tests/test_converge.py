"""Desired state, then converge: retries, failures, coalescing, the sweep, and
query counts of a switch and of a converge."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from kombu.exceptions import OperationalError

from devices import converge, services
from devices.drivers.simulated import SimulatedDriver
from devices.models import ApplyRun, ClientSession, Destination, Extension, TargetState, Team
from devices.state import Command
from devices.tasks import MAX_RETRIES, converge_user
from profiles.services import add_action, create_profile, select_profile
from tests.factories import make_user, profile_named


def device(number: str):
    return SimulatedDriver().read([number])[number]


def results(user) -> list[str]:
    return list(ApplyRun.objects.filter(user=user).order_by("id").values_list("result", flat=True))


@pytest.mark.django_db(transaction=True)
def test_transient_driver_failure_is_retried_and_converges():
    alice = make_user("alice", "1000")
    services.set_fault(extension=Extension.objects.get(number="1000"), fault="transient", count=2)
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    assert device("1000").dnd is True
    assert results(alice)[-3:] == ["retrying", "retrying", "applied"]
    target = TargetState.objects.get(user=alice)
    assert (target.status, target.error, target.applied_version) == ("applied", "", target.version)


@pytest.mark.django_db(transaction=True)
def test_transient_failures_are_bounded_then_recorded_as_failed():
    alice = make_user("alice", "1000")
    services.set_fault(extension=Extension.objects.get(number="1000"), fault="transient", count=100)
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    runs = results(alice)
    assert runs.count("retrying") == MAX_RETRIES
    assert runs[-1] == "failed"
    target = TargetState.objects.get(user=alice)
    assert target.status == TargetState.Status.FAILED
    assert target.error_permanent is False
    assert "did not answer" in target.error


@pytest.mark.django_db(transaction=True)
def test_permanent_driver_failure_is_recorded_and_shown():
    alice = make_user("alice", "1000")
    services.set_fault(extension=Extension.objects.get(number="1000"), fault="permanent")
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    run = ApplyRun.objects.filter(user=alice).first()
    assert run.result == ApplyRun.Result.FAILED
    assert "rejected" in run.error
    step = run.steps.get()
    assert (step.ok, step.op) == (False, "set_dnd")
    target = TargetState.objects.get(user=alice)
    assert (target.status, target.error_permanent) == ("failed", True)
    assert "rejected the command" in target.error
    assert device("1000").dnd is False  # nothing half-done on that device

    # Cleared, the next event converges.
    services.set_fault(extension=Extension.objects.get(number="1000"), fault="")
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    assert device("1000").dnd is True
    assert TargetState.objects.get(user=alice).status == "applied"


@pytest.mark.django_db(transaction=True)
def test_running_the_converge_task_twice_is_harmless():
    alice = make_user("alice", "1000", teams=["Sales"])
    select_profile(user=alice, profile=profile_named(alice, "On holiday"))
    before = device("1000")
    runs = ApplyRun.objects.count()
    assert converge_user.delay(alice.pk, "redelivery").get() == converge.NOTHING_PENDING
    assert device("1000") == before
    assert ApplyRun.objects.count() == runs


@pytest.mark.django_db(transaction=True)
def test_a_redelivered_converge_does_not_undo_a_handset_change():
    """docs/rules.md#rule-4: only events apply profiles; a duplicate task after the apply is not one."""
    alice = make_user("alice", "1000")
    services.manual_change(extension="1000", command=Command("1000", "set_dnd", {"on": True}))
    converge_user.delay(alice.pk, "redelivery")
    assert device("1000").dnd is True


@pytest.mark.django_db
def test_rapid_switches_coalesce_into_one_converge_to_the_last():
    alice = make_user("alice", "1000")
    # No commit happens in this test transaction, so no task runs: three
    # switches leave one pending target.
    for name in ("In a meeting", "On holiday", "Out of the office"):
        select_profile(user=alice, profile=profile_named(alice, name))
    target = TargetState.objects.get(user=alice)
    converge.converge(user_id=alice.pk, reason="test")
    assert device("1000").presence == "Out of the office"
    run = ApplyRun.objects.filter(user=alice).first()
    assert run.target_version == target.version
    assert TargetState.objects.get(user=alice).applied_version == target.version


@pytest.mark.django_db(transaction=True)
def test_a_converge_superseded_while_writing_converges_again_to_the_newest(monkeypatch):
    """Two converges overlap: the older one writes stale values after the
    newer one read the devices; it notices and converges again."""
    alice = make_user("alice", "1000")
    original = SimulatedDriver.apply
    calls = []

    def apply_with_a_switch_in_between(self, commands):
        calls.append(commands)
        if len(calls) == 1:
            # Another request switches (and its converge runs) meanwhile.
            select_profile(user=alice, profile=profile_named(alice, "Out of the office"))
        return original(self, commands)

    monkeypatch.setattr(SimulatedDriver, "apply", apply_with_a_switch_in_between)
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    state = device("1000")
    assert state.presence == "Out of the office"
    assert state.dnd is False
    assert "superseded" in results(alice)
    target = TargetState.objects.get(user=alice)
    assert (target.status, target.applied_version) == ("applied", target.version)


@pytest.mark.django_db(transaction=True)
def test_broker_down_at_commit_loses_no_switch(monkeypatch, settings):
    alice = make_user("alice", "1000")

    def broker_down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(converge_user, "delay", broker_down)
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))  # no error for the user
    assert TargetState.objects.get(user=alice).status == TargetState.Status.PENDING
    assert device("1000").dnd is False

    monkeypatch.undo()
    assert services.sweep_pending() == []  # not yet: younger than PENDING_APPLY_SWEEP_SECONDS
    settings.PENDING_APPLY_SWEEP_SECONDS = 1
    TargetState.objects.filter(user=alice).update(
        updated_at=TargetState.objects.get(user=alice).updated_at.replace(year=2020)
    )
    assert services.sweep_pending() == [alice.pk]
    assert device("1000").dnd is True
    assert TargetState.objects.get(user=alice).status == TargetState.Status.APPLIED


@pytest.mark.django_db
def test_sweep_claims_a_stale_target_once():
    alice = make_user("alice", "1000")
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))  # pending: nothing committed
    TargetState.objects.filter(user=alice).update(
        updated_at=TargetState.objects.get(user=alice).updated_at.replace(year=2020)
    )
    assert services.sweep_pending() == [alice.pk]
    assert services.sweep_pending() == []  # claimed: updated_at moved on


# --- query counts -------------------------------------------------------------------------


def grow(user, *, profiles: int, actions: int, destinations: int, teams: int, softphones: int):
    """Give ``user`` many profiles, actions, destinations, teams and connected softphones."""
    primary = user.account.primary_extension
    base = int(primary.number) * 10
    for i in range(destinations):
        Destination.objects.create(extension=primary, family="mobile", number=f"+4915112345{i:03d}", position=10 + i)
    for i in range(teams):
        Team.objects.create(name=f"T{base}-{i}", queue=f"t{base}-{i}").members.add(primary)
    for i in range(softphones):
        ext = Extension.objects.create(number=str(base + i), kind=Extension.Kind.SOFTPHONE, owner=user)
        ClientSession.objects.create(user=user, extension=ext)
    for p in range(profiles):
        profile = create_profile(user=user, name=f"Extra {p}")
        for a in range(actions):
            add_action(user=user, profile=profile, type="set_gsm_mode", params={"on": a % 2 == 0})
    office, meeting = profile_named(user, "In the office"), profile_named(user, "In a meeting")
    for profile in (office, meeting):
        for phase in ("enter", "exit"):
            for _ in range(actions):
                add_action(user=user, profile=profile, type="change_destinations", params={"active": True}, phase=phase)
    return office, meeting


def count(func) -> int:
    with CaptureQueriesContext(connection) as ctx:
        func()
    return len(ctx.captured_queries)


@pytest.mark.django_db
def test_a_switch_costs_the_same_queries_whatever_the_profiles_actions_and_devices():
    alice = make_user("alice", "1000")
    bob = make_user("bob", "1001")
    small = grow(alice, profiles=0, actions=1, destinations=0, teams=1, softphones=0)
    large = grow(bob, profiles=12, actions=15, destinations=8, teams=6, softphones=9)
    select_profile(user=alice, profile=small[1])
    select_profile(user=bob, profile=large[1])
    small_cost = count(lambda: select_profile(user=alice, profile=small[0]))
    large_cost = count(lambda: select_profile(user=bob, profile=large[0]))
    assert small_cost == large_cost
    assert small_cost <= 14


@pytest.mark.django_db
def test_converging_a_user_with_ten_devices_costs_a_constant_number_of_queries():
    alice = make_user("alice", "1000")
    bob = make_user("bob", "1001")
    grow(alice, profiles=0, actions=0, destinations=0, teams=1, softphones=1)
    grow(bob, profiles=0, actions=0, destinations=5, teams=4, softphones=9)  # 10 devices
    for user in (alice, bob):
        select_profile(user=user, profile=profile_named(user, "In a meeting"))
    small_cost = count(lambda: converge.converge(user_id=alice.pk))
    large_cost = count(lambda: converge.converge(user_id=bob.pk))
    assert device("10010").dnd is True  # a softphone of bob's got the profile
    assert small_cost == large_cost
    assert small_cost <= 18


@pytest.mark.django_db(transaction=True)
def test_device_io_runs_outside_database_transactions(monkeypatch):
    """The portal never holds a transaction open while it talks to the PBX
    (the simulated PBX's apply opens its own, for its own storage)."""
    from django.db import connection as conn

    seen = []
    read, apply = SimulatedDriver.read, SimulatedDriver.apply

    def spy_read(self, numbers):
        seen.append(("read", conn.in_atomic_block))
        return read(self, numbers)

    def spy_apply(self, commands):
        seen.append(("apply", conn.in_atomic_block))
        return apply(self, commands)

    monkeypatch.setattr(SimulatedDriver, "read", spy_read)
    monkeypatch.setattr(SimulatedDriver, "apply", spy_apply)
    alice = make_user("alice", "1000")
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    assert ("apply", False) in seen
    assert all(in_atomic is False for _, in_atomic in seen)


def test_tasks_are_acknowledged_late_and_rejected_when_the_worker_is_lost():
    from devices import tasks
    from profiles import tasks as profile_tasks

    for task in (
        tasks.converge_user,
        tasks.converge_users,
        tasks.sweep_pending,
        tasks.reconcile_all,
        profile_tasks.reapply_users,
    ):
        assert (task.acks_late, task.reject_on_worker_lost) == (True, True), task.name
    assert tasks.converge_user.max_retries == MAX_RETRIES


def test_retry_delay_is_exponential_with_full_jitter_and_capped():
    delays = {n: [converge.retry_delay(n) for _ in range(200)] for n in range(10)}
    for n, values in delays.items():
        assert all(0 <= v <= min(60.0, 2**n) for v in values)
        assert len(set(values)) > 100  # jittered, not a fixed schedule
    assert max(delays[9]) > 30  # grows until the cap


@pytest.mark.django_db
def test_the_simulated_apply_reuses_its_read_only_for_rows_unchanged_since():
    """The apply's read under the lock reuses the earlier read's state values,
    but not for an extension changed at the handset (or reconfigured) in
    between: that change is kept."""
    make_user("alice", "1000")
    make_user("bob", "1001")
    driver = SimulatedDriver()
    before = driver.read(["1000", "1001"])
    services.manual_change(extension="1001", command=Command("1001", "set_forward", {"target": "555"}))
    driver.apply([Command("1000", "set_gsm", {"on": True}), Command("1001", "set_gsm", {"on": True})])
    assert driver.applied_states["1000"].destinations is before["1000"].destinations  # reused
    assert (device("1000").gsm, device("1000").forward) == (True, before["1000"].forward)
    assert (device("1001").gsm, device("1001").forward) == (True, "555")  # the handset change is kept


@pytest.mark.django_db
def test_the_simulated_apply_checks_under_its_lock_in_one_query_when_nothing_changed(django_assert_num_queries):
    """After a read, an apply to extensions nobody touched since locks them
    and checks that in one query (PostgreSQL: the rows' versions), then
    writes; a change in between (a handset change, a fault, a destination
    added) makes it read under the lock instead, and that change counts."""
    make_user("alice", "1000")
    make_user("bob", "1001")
    driver = SimulatedDriver()
    driver.read(["1000", "1001"])
    driver.apply([Command("1000", "set_gsm", {"on": True}), Command("1001", "set_gsm", {"on": True})])
    # Both rows exist now; read again, then apply with nothing changed in between.
    driver.read(["1000", "1001"])
    commands = [Command("1000", "set_dnd", {"on": True}), Command("1001", "set_dnd", {"on": True})]
    if connection.vendor == "postgresql":
        # savepoint, the check under the lock, one UPDATE of both rows, release
        with django_assert_num_queries(4):
            driver.apply(commands)
    else:
        driver.apply(commands)
    assert (device("1000").dnd, device("1001").dnd) == (True, True)

    # A destination added and a permanent fault set between read and apply.
    driver.read(["1000", "1001"])
    added = Destination.objects.create(extension=Extension.objects.get(number="1000"), family="mobile", number="0151")
    _set_permanent_fault("1001")
    results = driver.apply([Command("1000", "set_gsm", {"on": False}), Command("1001", "set_gsm", {"on": False})])
    assert [r.ok for r in results] == [True, False]
    assert "permanent" in results[1].error
    assert str(added.pk) in driver.applied_states["1000"].destinations  # read again under the lock
    assert device("1000").gsm is False and device("1001").gsm is True


def _set_permanent_fault(number: str) -> None:
    from devices.models import SimulatedDevice

    SimulatedDevice.objects.filter(extension__number=number).update(fault=SimulatedDevice.Fault.PERMANENT)


@pytest.mark.django_db
def test_a_trigger_batch_hands_its_stored_targets_to_the_batch_converge(django_capture_on_commit_callbacks):
    """The batch converge that follows a batch switch in the same task takes
    the targets the switch stored (version and desired state) instead of
    reading their states again; the devices end on those targets."""
    from profiles.models import Selection
    from profiles.services import Switch, switch_profiles

    users = [make_user("alice", "1000"), make_user("bob", "1001")]
    seen = []

    def batch(user_ids):
        with CaptureQueriesContext(connection) as queries:
            converge.converge_many(user_ids, reason="trigger")
        seen.extend(q["sql"] for q in queries.captured_queries)

    with django_capture_on_commit_callbacks(execute=True):
        switch_profiles(
            [Switch(user_id=u.pk, profile_id=profile_named(u, "In a meeting").pk) for u in users],
            source=Selection.Source.TRIGGER,
            converge_batch=batch,
        )
    target_reads = [sql for sql in seen if sql.startswith("SELECT") and 'FROM "devices_targetstate"' in sql]
    # The first is the converge's read (the recording step's lock comes
    # after): version and status only on PostgreSQL; the ORM path of the
    # embedded default (SQLite) hands nothing over and reads the states.
    handed = connection.vendor == "postgresql"
    assert ('"devices_targetstate"."state"' in target_reads[0]) is not handed
    for user in users:
        target = TargetState.objects.get(user=user)
        assert (target.status, target.applied_version) == (TargetState.Status.APPLIED, target.version)
    assert (device("1000").dnd, device("1001").dnd) == (True, True)


@pytest.mark.django_db
def test_a_handed_target_whose_version_moved_on_is_read_whole():
    """A target switched again after the hand-off (its version moved on) is
    read from the database: the devices end on the newest target, not on
    the handed one."""
    from devices.state import UserState

    alice = make_user("alice", "1000")
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))  # DND on, applied
    stale = TargetState.objects.get(user=alice)
    handed = {alice.pk: (stale.version, UserState.from_json(stale.state))}
    select_profile(user=alice, profile=profile_named(alice, "In the office"))  # a newer version
    TargetState.objects.filter(user=alice).update(status=TargetState.Status.PENDING)
    with converge.known_targets(handed):
        converge.converge_many([alice.pk], reason="trigger")
    newest = TargetState.objects.get(user=alice)
    assert newest.version == stale.version + 1
    assert (newest.status, newest.applied_version) == (TargetState.Status.APPLIED, newest.version)
    assert device("1000").dnd is False


@pytest.mark.django_db
def test_a_target_merged_into_an_unapplied_one_is_not_handed_over(django_capture_on_commit_callbacks):
    """A switch over a target not yet applied merges into it (an extension
    the new plan does not name keeps its wish): what was stored is not what
    was planned, so the converge reads it."""
    from profiles.models import Selection
    from profiles.services import Switch, switch_profiles

    alice = make_user("alice", "1000")
    TargetState.objects.filter(user=alice).update(
        status=TargetState.Status.PENDING, state={"extensions": {"1099": {"dnd": True}}}
    )
    seen = []

    def batch(user_ids):
        seen.append(dict(converge._known.get() or {}))
        converge.converge_many(user_ids, reason="trigger")

    with django_capture_on_commit_callbacks(execute=True):
        switch_profiles(
            [Switch(user_id=alice.pk, profile_id=profile_named(alice, "In a meeting").pk)],
            source=Selection.Source.TRIGGER,
            converge_batch=batch,
        )
    assert "1099" in TargetState.objects.get(user=alice).state["extensions"]  # merged
    assert seen == [{}]  # nothing handed over
    assert device("1000").dnd is True
