"""Recovery after outages: "Asterisk is shutting down" is transient, a target
that used up its task's retries is retried by the sweep on a capped
backoff until it applies, permanent errors stay failed and visible, and
the fake AMI peer answers the way Asterisk 22 does in these states."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from devices import services
from devices.drivers import PermanentDriverError, TransientDriverError
from devices.drivers.ami import AMIConnection, AMIError
from devices.drivers.asterisk import AsteriskDriver
from devices.drivers.simulated import SimulatedDriver
from devices.models import ApplyRun, Extension, TargetState
from devices.state import Command
from devices.tasks import MAX_RETRIES
from profiles.services import select_profile
from tests.factories import make_user, profile_named

START = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)


def session(pbx) -> AMIConnection:
    return AMIConnection("127.0.0.1", pbx.port, "portal", "portalsecret", timeout=2)


def results(user) -> list[str]:
    return list(ApplyRun.objects.filter(user=user).order_by("id").values_list("result", flat=True))


# --- the fake peer answers as Asterisk 22 does ------------------------------------------


def test_fake_answers_every_action_and_the_login_with_shutting_down(pbx):
    pbx.shutting_down = True
    with pytest.raises(TransientDriverError, match="Asterisk is shutting down"):
        session(pbx).__enter__()
    pbx.shutting_down = False
    with session(pbx) as ami:
        pbx.shutting_down = True
        with pytest.raises(AMIError, match="DBGet: Asterisk is shutting down") as caught:
            ami.send("DBGet", Family="DND", Key="1000")
    assert caught.value.transient is True


def test_fake_answers_presence_never_set_with_not_set(pbx):
    with session(pbx) as ami:
        response = ami.send("PresenceState", Provider="CustomPresence:1000")
    assert (response.get("Response"), response.get("State"), response.get("PresenceMessage")) == (
        "Success",
        "not_set",
        "",
    )


def test_fake_answers_an_empty_tree_with_an_empty_list(pbx):
    with session(pbx) as ami:
        tree = ami.send("DBGetTree", Family="PORTAL/1000")
    assert tree.items == []
    assert tree.events[-1].get("ListItems") == "0"


def test_fake_answers_unset_variables_and_denied_actions_with_the_real_texts(pbx):
    pbx.denied = {"DBPut"}
    with session(pbx) as ami:
        with pytest.raises(PermanentDriverError, match="Getvar: Variable not set"):
            ami.send("Getvar", Variable="NOSUCHVAR")
        with pytest.raises(PermanentDriverError, match="DBPut: Permission denied") as caught:
            ami.send("DBPut", Family="DND", Key="1000", Val="YES")
    assert caught.value.transient is False


# --- the driver --------------------------------------------------------------------------


@pytest.mark.django_db
def test_read_while_asterisk_shuts_down_is_transient(asterisk):
    make_user("alice", "1000")
    asterisk.shutting_down = True
    with pytest.raises(TransientDriverError, match="shutting down"):
        AsteriskDriver().read(["1000"])


@pytest.mark.django_db
def test_apply_cut_by_a_shutdown_is_a_failed_transient_step(asterisk):
    make_user("alice", "1000")
    asterisk.hang_on = set()
    driver = AsteriskDriver()
    # The first DBPut goes through, then Asterisk starts to shut down.
    original = asterisk.astdb.__setitem__

    class Stopping(dict):
        def __setitem__(self, key, value):
            original(key, value)
            asterisk.shutting_down = True

    asterisk.astdb = Stopping(asterisk.astdb)
    steps = driver.apply([Command("1000", "set_forward", {"target": "1001"}), Command("1000", "set_gsm", {"on": True})])
    assert [(s.ok, s.transient) for s in steps] == [(True, False), (False, True)]
    assert "Asterisk is shutting down" in steps[1].error


@pytest.mark.django_db
def test_presence_never_set_reads_as_no_presence(asterisk):
    make_user("alice", "1000")
    assert AsteriskDriver().read(["1000"])["1000"].presence == ""


# --- the retry schedule ----------------------------------------------------------------------


def test_failed_retry_delays_grow_and_are_capped():
    minutes = [services.failed_retry_delay(n).total_seconds() / 60 for n in range(8)]
    assert minutes == [1, 2, 5, 10, 30, 30, 30, 30]


@pytest.mark.django_db(transaction=True)
def test_an_outage_longer_than_all_retries_heals_by_itself(time_machine):
    """The simulated PBX fails the next 11 writes: the converge task uses up
    its 1 + MAX_RETRIES attempts, then the sweep retries after 1, 2, 5 and
    10 minutes (still failing) and after 30 more it applies."""
    time_machine.move_to(START, tick=False)
    alice = make_user("alice", "1000")
    outage = 1 + MAX_RETRIES + 4
    services.set_fault(extension=Extension.objects.get(number="1000"), fault="transient", count=outage)
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    target = TargetState.objects.get(user=alice)
    assert (target.status, target.error_permanent) == ("failed", False)

    waits = []
    while target.status != TargetState.Status.APPLIED:
        assert target.retry_at is not None
        waits.append(round((target.retry_at - timezone.now()).total_seconds() / 60))
        time_machine.move_to(target.retry_at - dt.timedelta(seconds=1), tick=False)
        assert services.retry_failed() == []  # not before its time
        time_machine.move_to(target.retry_at, tick=False)
        assert services.sweep_pending() == [alice.pk]
        target.refresh_from_db()
        assert len(waits) < 10

    assert waits == [1, 2, 5, 10, 30]
    assert SimulatedDriver().read(["1000"])["1000"].dnd is True
    assert (target.error, target.retry_count, target.retry_at) == ("", 0, None)
    assert results(alice).count("failed") == 5  # the task's last attempt and 4 sweep retries
    assert results(alice)[-1] == "applied"


@pytest.mark.django_db(transaction=True)
def test_asterisk_shutting_down_longer_than_all_retries_heals_by_itself(asterisk, time_machine):
    time_machine.move_to(START, tick=False)
    alice = make_user("alice", "1000")
    asterisk.shutting_down = True
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    target = TargetState.objects.get(user=alice)
    assert (target.status, target.error_permanent) == ("failed", False)
    assert "shutting down" in target.error
    assert results(alice).count("retrying") == MAX_RETRIES

    asterisk.restart()  # back up
    time_machine.move_to(target.retry_at, tick=False)
    services.sweep_pending()
    target.refresh_from_db()
    assert target.status == TargetState.Status.APPLIED
    assert asterisk.db("DND", "1000") == "YES"


@pytest.mark.django_db(transaction=True)
def test_a_permanent_failure_stays_failed_and_visible(time_machine):
    time_machine.move_to(START, tick=False)
    alice = make_user("alice", "1000")
    services.set_fault(extension=Extension.objects.get(number="1000"), fault="permanent")
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    runs = ApplyRun.objects.filter(user=alice).count()
    time_machine.move_to(START + dt.timedelta(days=2), tick=False)
    assert services.sweep_pending() == []
    assert services.converge_unapplied() == []
    target = TargetState.objects.get(user=alice)
    assert (target.status, target.error_permanent, target.retry_at) == ("failed", True, None)
    assert "rejected the command" in target.error
    assert ApplyRun.objects.filter(user=alice).count() == runs


@pytest.mark.django_db(transaction=True)
def test_pbx_back_converges_every_user_whose_target_is_not_applied(time_machine):
    time_machine.move_to(START, tick=False)
    alice = make_user("alice", "1000")
    bob = make_user("bob", "1001")
    carol = make_user("carol", "1002")
    for number in ("1000", "1001"):
        services.set_fault(extension=Extension.objects.get(number=number), fault="transient", count=1 + MAX_RETRIES)
    for user in (alice, bob, carol):
        select_profile(user=user, profile=profile_named(user, "In a meeting"))
    assert dict(TargetState.objects.values_list("user_id", "status")) == {
        alice.pk: "failed",
        bob.pk: "failed",
        carol.pk: "applied",
    }
    carol_runs = ApplyRun.objects.filter(user=carol).count()
    # Long before the next sweep retry: the listener saw the PBX come back.
    assert sorted(services.converge_unapplied()) == sorted([alice.pk, bob.pk])
    assert set(TargetState.objects.values_list("status", flat=True)) == {"applied"}
    assert ApplyRun.objects.filter(user=carol).count() == carol_runs
