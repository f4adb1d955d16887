"""Item 9: two switches of one user at the same moment end consistent: the
last committed selection is the target and the devices converge to it.
Real PostgreSQL, real threads (each with its own connection)."""

import threading

import pytest
from django.db import connection

from devices import converge
from devices.drivers.simulated import SimulatedDriver
from devices.models import TargetState
from profiles.models import Action, Selection, SwitchEvent
from profiles.services import select_profile, switching
from tests.factories import make_user, profile_named

pytestmark = pytest.mark.django_db(transaction=True)


def run_together(*calls, allowed=()):
    """Start the calls in threads released at the same instant; fail on
    errors other than ``allowed`` ones, and return those."""
    barrier = threading.Barrier(len(calls))
    errors = []

    def run(call):
        try:
            barrier.wait()
            call()
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    unexpected = [e for e in errors if not isinstance(e, allowed)]
    assert not unexpected, unexpected
    return errors


def assert_consistent(user):
    selection = Selection.objects.select_related("profile").get(user=user)
    last = SwitchEvent.objects.filter(user=user).order_by("-id").first()
    target = TargetState.objects.get(user=user)
    assert last.new_profile_id == selection.profile_id  # the last committed switch is selected
    assert last.target_version == target.version  # ... and is the target
    assert (target.status, target.applied_version) == ("applied", target.version)
    state = SimulatedDriver().read(["1000"])["1000"]
    assert state.presence == selection.profile.name  # ... and the devices converged to it
    return selection.profile.name


def test_two_switches_at_the_same_moment_end_consistent():
    alice = make_user("alice", "1000", teams=["Sales"])
    meeting, holiday = profile_named(alice, "In a meeting"), profile_named(alice, "Out of the office")
    seen = set()
    for _ in range(6):
        run_together(
            lambda: select_profile(user=alice, profile=meeting),
            lambda: select_profile(user=alice, profile=holiday),
        )
        seen.add(assert_consistent(alice))
    assert seen <= {"In a meeting", "Out of the office"}


def test_overlapping_converges_of_one_user_end_consistent():
    alice = make_user("alice", "1000", teams=["Sales"])
    office, meeting = profile_named(alice, "In the office"), profile_named(alice, "In a meeting")
    for profile in (meeting, office, meeting):
        run_together(
            lambda profile=profile: select_profile(user=alice, profile=profile),
            lambda: converge.converge(user_id=alice.pk, reason="redelivery"),
            lambda: converge.converge(user_id=alice.pk, reason="sweep"),
        )
        assert assert_consistent(alice) == profile.name


def test_two_clients_connecting_to_one_softphone_at_once_get_one_session():
    from devices.models import ClientSession, Extension
    from profiles.errors import InUse
    from profiles.events import connect_client

    alice = make_user("alice", "1000")
    bob = make_user("bob", "1001")
    shared = Extension.objects.create(number="2000", kind=Extension.Kind.SOFTPHONE)
    refused = run_together(
        lambda: connect_client(user=alice, extension=shared),
        lambda: connect_client(user=bob, extension=shared),
        allowed=(InUse,),
    )
    assert len(refused) == 1
    session = ClientSession.objects.get(extension=shared)
    holder = Selection.objects.select_related("profile").get(user=session.user)
    assert SimulatedDriver().read(["2000"])["2000"].presence == holder.profile.name


def test_a_switch_leaves_the_selection_that_is_current_when_it_writes(monkeypatch):
    """Another switch commits after this one was planned and before it
    writes: this one leaves the newer selection: that profile's exit chain
    runs, its audit row and the profile to return to follow it."""
    alice = make_user("alice", "1000")
    meeting, holiday, office = (profile_named(alice, n) for n in ("In a meeting", "On holiday", "In the office"))
    Action.objects.create(profile=holiday, phase="exit", position=0, type="set_gsm_mode", params={"on": True})
    real_plan, plans = switching._plan, []

    def plan_then_someone_else_switches(*args, **kwargs):
        planned = real_plan(*args, **kwargs)
        plans.append(1)
        if len(plans) == 1:
            run_together(lambda: select_profile(user=alice, profile=holiday))
        return planned

    monkeypatch.setattr(switching, "_plan", plan_then_someone_else_switches)
    result = select_profile(user=alice, profile=meeting)
    selection = Selection.objects.get(user=alice)
    assert selection.profile == meeting
    assert selection.previous_profile == holiday
    events = list(SwitchEvent.objects.filter(user=alice, event="select").order_by("id"))
    assert [(e.old_name, e.new_name) for e in events[-2:]] == [
        (office.name, holiday.name),
        (holiday.name, meeting.name),
    ]
    target = TargetState.objects.get(user=alice)
    assert target.version == result.target_version
    assert target.state["extensions"]["1000"]["gsm"] is True  # holiday's exit chain ran
    assert_consistent(alice)
