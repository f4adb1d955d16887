import pytest

from devices.drivers.simulated import SimulatedDriver
from profiles.services import select_profile
from tests.factories import make_user, profile_named

# The converge runs on commit: each step below commits as in production.
pytestmark = pytest.mark.django_db


def test_switch_to_in_a_meeting_leaves_only_voicemail_active(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        alice = make_user("alice", "1000", teams=["Sales"])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    assert callbacks  # the converge ran on commit
    state = SimulatedDriver().read(["1000"])["1000"]
    families = {d.family: d.id for d in alice.extensions.get().destinations.all()}
    assert state.dnd is True
    assert state.presence == "In a meeting"
    assert state.destinations[str(families["voicemail"])].active is True
    assert state.destinations[str(families["desk"])].active is False
    assert all(not t.logged_in and not t.pickup for t in state.teams.values())
