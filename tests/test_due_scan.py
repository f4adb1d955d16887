"""The due-scan: one indexed query when nothing is due, every occurrence
fired exactly once (two scans, a repeated tick, a retried batch), late
firings recorded as missed."""

import datetime as dt
import threading
import time

import pytest
from django.db import connection, connections, transaction

from profiles.automation import duescan, triggers
from profiles.automation.tasks import due_scan, fire_triggers
from profiles.models import Selection, SwitchEvent, Trigger, TriggerFiring
from tests.factories import make_user, profile_named

pytestmark = pytest.mark.django_db(transaction=True)

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, 6, 0, tzinfo=UTC)  # Monday 08:00 in Berlin


def _due_triggers(user, count: int, *, at: dt.datetime = NOW, profile="Out of the office") -> list[Trigger]:
    target = profile_named(user, profile)
    made = [
        triggers.create_time_trigger(user=user, profile=target, time_of_day=dt.time(8, 0), weekdays=0b1111111)
        for _ in range(count)
    ]
    Trigger.objects.filter(pk__in=[t.pk for t in made]).update(next_fire_at=at)
    return made


def _collect():
    sent: list[int] = []
    lock = threading.Lock()

    def send(ids):
        with lock:
            sent.extend(ids)

    return sent, send


def test_a_tick_with_nothing_due_is_one_query(django_assert_num_queries):
    alice = make_user("alice", "1000")
    _due_triggers(alice, 30, at=NOW + dt.timedelta(hours=1))
    Selection.objects.filter(user=alice).update(until=NOW + dt.timedelta(hours=1))
    with django_assert_num_queries(1):
        result = duescan.scan(now=NOW, send_firings=pytest.fail, send_clear_after=pytest.fail)
    assert result.claimed == result.clear_after == 0


def test_claiming_costs_the_same_queries_for_few_or_many_due_triggers(django_assert_max_num_queries):
    alice = make_user("alice", "1000")
    _due_triggers(alice, 3)
    sent, send = _collect()
    with django_assert_max_num_queries(8):
        duescan.scan(now=NOW, send_firings=send, send_clear_after=send)
    assert len(sent) == 3
    _due_triggers(alice, 60, at=NOW + dt.timedelta(minutes=1))
    with django_assert_max_num_queries(8):
        duescan.scan(now=NOW + dt.timedelta(minutes=1), send_firings=send, send_clear_after=send)
    assert len(sent) == 63


def test_due_trigger_switches_the_user_and_advances_to_the_next_day(time_machine):
    alice = make_user("alice", "1000")
    [trigger] = _due_triggers(alice, 1)
    time_machine.move_to(NOW + dt.timedelta(seconds=20), tick=False)
    due_scan()
    alice.selection.refresh_from_db()
    assert alice.selection.profile.name == "Out of the office"
    assert alice.selection.source == Selection.Source.TRIGGER
    assert alice.selection.source_detail == "time trigger at 08:00"
    firing = TriggerFiring.objects.get()
    assert (firing.scheduled_for, firing.outcome) == (NOW, TriggerFiring.Outcome.APPLIED)
    trigger.refresh_from_db()
    assert trigger.next_fire_at == NOW + dt.timedelta(days=1)


def test_a_repeated_tick_fires_an_occurrence_once(time_machine):
    alice = make_user("alice", "1000")
    _due_triggers(alice, 1)
    time_machine.move_to(NOW + dt.timedelta(seconds=20), tick=False)
    due_scan()
    due_scan()
    assert TriggerFiring.objects.count() == 1
    assert SwitchEvent.objects.filter(user=alice, source="trigger").count() == 1


def test_an_occurrence_already_recorded_is_not_fired_again():
    # E.g. an edit put next_fire_at back on an occurrence that already fired:
    # the unique (trigger, scheduled_for) key stops the second firing.
    alice = make_user("alice", "1000")
    [trigger] = _due_triggers(alice, 1)
    sent, send = _collect()
    duescan.scan(now=NOW, send_firings=send, send_clear_after=send)
    Trigger.objects.filter(pk=trigger.pk).update(next_fire_at=NOW)
    duescan.scan(now=NOW + dt.timedelta(seconds=30), send_firings=send, send_clear_after=send)
    assert TriggerFiring.objects.count() == 1
    assert len(sent) == 1
    trigger.refresh_from_db()
    assert trigger.next_fire_at == NOW + dt.timedelta(days=1)


def test_a_retried_batch_does_not_fire_twice(time_machine):
    alice = make_user("alice", "1000")
    _due_triggers(alice, 1)
    sent, send = _collect()
    time_machine.move_to(NOW + dt.timedelta(seconds=5), tick=False)
    duescan.scan(send_firings=send, send_clear_after=send)
    fire_triggers(sent)
    alice.selection.refresh_from_db()
    # The user changes by hand; a redelivered batch must not switch again.
    from profiles.services import select_profile

    select_profile(user=alice, profile=profile_named(alice, "In the office"))
    fire_triggers(sent)
    alice.selection.refresh_from_db()
    assert alice.selection.profile.name == "In the office"
    assert SwitchEvent.objects.filter(user=alice, source="trigger").count() == 1


def test_two_concurrent_scans_claim_disjoint_rows_and_fire_each_occurrence_once():
    """Two connections: while one scan holds a claimed batch uncommitted, a
    second scan runs. On PostgreSQL it skips the locked rows (SKIP LOCKED)
    and takes the rest without waiting; on SQLite it waits for the first
    to commit. Either way every occurrence has exactly one firing and was
    sent once."""
    skip_locked = connection.features.has_select_for_update_skip_locked
    alice = make_user("alice", "1000")
    made = _due_triggers(alice, 40)
    sent, send = _collect()
    locked, release = threading.Event(), threading.Event()
    second: dict = {}

    def first_scan():
        try:
            with transaction.atomic():
                pending, _, _ = duescan.claim_triggers(NOW, batch_size=15)
                locked.set()
                release.wait(10)
            send(pending)
        finally:
            connections.close_all()

    def second_scan():
        try:
            second["result"] = duescan.scan(now=NOW, send_firings=send, send_clear_after=send, batch_size=10)
        finally:
            connections.close_all()

    first = threading.Thread(target=first_scan)
    first.start()
    assert locked.wait(10)
    other = threading.Thread(target=second_scan)
    other.start()
    if skip_locked:
        other.join(10)
        assert not other.is_alive(), "the second scan waited for the locked rows"
    else:
        time.sleep(0.3)
    release.set()
    first.join(10)
    other.join(10)
    assert second["result"].claimed == 25  # the first scan's 15 rows were not claimed twice

    assert len(sent) == len(set(sent)) == 40
    fired = list(TriggerFiring.objects.values_list("trigger_id", "scheduled_for"))
    assert sorted(fired) == sorted((t.pk, NOW) for t in made)


def test_two_scans_racing_in_threads_fire_each_occurrence_once():
    alice = make_user("alice", "1000")
    _due_triggers(alice, 200)
    sent, send = _collect()
    start = threading.Barrier(2)

    def scan():
        try:
            start.wait(10)
            duescan.scan(now=NOW, send_firings=send, send_clear_after=send, batch_size=20)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=scan) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(sent) == len(set(sent)) == 200
    assert TriggerFiring.objects.count() == 200
    assert not Trigger.objects.filter(next_fire_at__lte=NOW).exists()


def test_a_firing_later_than_the_grace_window_is_recorded_missed_not_applied(settings, time_machine):
    settings.TRIGGER_GRACE_MINUTES = 15
    alice = make_user("alice", "1000")
    [trigger] = _due_triggers(alice, 1)
    time_machine.move_to(NOW + dt.timedelta(minutes=16), tick=False)
    due_scan()
    firing = TriggerFiring.objects.get()
    assert firing.outcome == TriggerFiring.Outcome.MISSED
    alice.selection.refresh_from_db()
    assert alice.selection.profile.name == "In the office"
    trigger.refresh_from_db()
    assert trigger.next_fire_at == NOW + dt.timedelta(days=1)


def test_a_firing_within_the_grace_window_still_applies(settings, time_machine):
    settings.TRIGGER_GRACE_MINUTES = 15
    alice = make_user("alice", "1000")
    _due_triggers(alice, 1)
    time_machine.move_to(NOW + dt.timedelta(minutes=14), tick=False)
    due_scan()
    assert TriggerFiring.objects.get().outcome == TriggerFiring.Outcome.APPLIED
    alice.selection.refresh_from_db()
    assert alice.selection.profile.name == "Out of the office"


def test_after_days_of_downtime_only_the_occurrence_inside_the_grace_window_fires(settings, time_machine):
    settings.TRIGGER_GRACE_MINUTES = 15
    alice = make_user("alice", "1000")
    [trigger] = _due_triggers(alice, 1, at=NOW - dt.timedelta(days=3))
    time_machine.move_to(NOW + dt.timedelta(minutes=5), tick=False)
    due_scan()
    outcomes = list(TriggerFiring.objects.order_by("scheduled_for").values_list("scheduled_for", "outcome"))
    assert outcomes == [
        (NOW - dt.timedelta(days=3), TriggerFiring.Outcome.MISSED),
        (NOW, TriggerFiring.Outcome.APPLIED),
    ]
    trigger.refresh_from_db()
    assert trigger.next_fire_at == NOW + dt.timedelta(days=1)


def test_a_claimed_firing_whose_batch_was_lost_is_sent_again(time_machine):
    alice = make_user("alice", "1000")
    _due_triggers(alice, 1)
    lost, send_lost = _collect()
    duescan.scan(now=NOW, send_firings=send_lost, send_clear_after=send_lost)  # the batch task never runs
    assert TriggerFiring.objects.get().outcome == TriggerFiring.Outcome.PENDING
    time_machine.move_to(NOW + dt.timedelta(minutes=3), tick=False)
    due_scan()
    assert TriggerFiring.objects.get().outcome == TriggerFiring.Outcome.APPLIED
    alice.selection.refresh_from_db()
    assert alice.selection.profile.name == "Out of the office"


# --- a minute's batch: switched in constant queries, converged together ------------------


def _users_with_due_triggers(count: int, start: int = 0):
    users = [make_user(f"user{i}", f"3{i:03d}") for i in range(start, start + count)]
    for user in users:
        _due_triggers(user, 1)
    return users


def _batch_queries(users, time_machine) -> int:
    from django.test.utils import CaptureQueriesContext

    sent, send = _collect()
    duescan.scan(now=NOW, send_firings=send, send_clear_after=send)
    time_machine.move_to(NOW + dt.timedelta(seconds=5), tick=False)
    with CaptureQueriesContext(connection) as queries:
        fire_triggers(sent)  # eager: the converge batch task runs on commit, inside
    return len(queries)


def test_a_batch_of_firings_costs_the_same_queries_for_2_or_6_users(time_machine):
    few = _batch_queries(_users_with_due_triggers(2), time_machine)
    Trigger.objects.update(next_fire_at=None)
    time_machine.move_to(NOW - dt.timedelta(minutes=1), tick=False)
    many = _batch_queries(_users_with_due_triggers(6, start=2), time_machine)
    assert few == many


def test_a_batch_converges_every_user_on_the_simulated_pbx(time_machine):
    from devices.drivers.simulated import SimulatedDriver
    from devices.models import ApplyRun, TargetState

    users = _users_with_due_triggers(3)
    time_machine.move_to(NOW + dt.timedelta(seconds=5), tick=False)
    due_scan()
    for user in users:
        target = TargetState.objects.get(user=user)
        assert (target.status, target.applied_version) == ("applied", target.version)
        assert ApplyRun.objects.filter(user=user, result="applied").exists()
        state = SimulatedDriver().read([user.extensions.get().number])[user.extensions.get().number]
        assert state.presence == "Out of the office"


def test_a_failing_device_in_a_batch_goes_the_per_user_way_and_the_rest_converge(time_machine):
    from devices.models import ApplyRun, SimulatedDevice, TargetState
    from devices.services import set_fault

    users = _users_with_due_triggers(3)
    set_fault(extension=users[1].extensions.get(), fault=SimulatedDevice.Fault.PERMANENT)
    time_machine.move_to(NOW + dt.timedelta(seconds=5), tick=False)
    due_scan()
    statuses = {u.username: TargetState.objects.get(user=u).status for u in users}
    assert statuses == {"user0": "applied", "user1": "failed", "user2": "applied"}
    assert "simulated permanent fault" in ApplyRun.objects.filter(user=users[1]).latest("id").error


def test_a_redelivered_converge_batch_does_not_undo_a_handset_change(time_machine):
    from devices.drivers.simulated import SimulatedDriver
    from devices.services import manual_change
    from devices.state import Command
    from devices.tasks import converge_batch

    [alice] = _users_with_due_triggers(1)
    time_machine.move_to(NOW + dt.timedelta(seconds=5), tick=False)
    due_scan()
    manual_change(extension="3000", command=Command(extension="3000", op="set_dnd", args={"on": True}))
    converge_batch([alice.pk])
    assert SimulatedDriver().read(["3000"])["3000"].dnd is True


def test_two_triggers_of_one_user_at_the_same_minute_apply_one_after_the_other(time_machine):
    alice = make_user("alice", "1000")
    [first] = _due_triggers(alice, 1, profile="Out of the office")
    [second] = _due_triggers(alice, 1, profile="On holiday")
    time_machine.move_to(NOW + dt.timedelta(seconds=5), tick=False)
    due_scan()
    outcomes = dict(TriggerFiring.objects.values_list("trigger_id", "outcome"))
    assert outcomes == {first.pk: "applied", second.pk: "applied"}
    alice.selection.refresh_from_db()
    assert alice.selection.profile.name == "On holiday"
    assert alice.selection.previous_profile.name == "Out of the office"
