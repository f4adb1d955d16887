"""Session triggers: switch when the last client disconnects or expires,
return when one connects again; the user's choice over the client
profile's default; sticky and meetings respected (same precedence as a
meeting)."""

import datetime as dt

import pytest

from devices.models import ClientSession, Extension
from profiles import events
from profiles.automation import tasks
from profiles.models import ClientProfile, PresenceProfile, Selection
from profiles.services import select_profile
from tests.api_support import ApiClient
from tests.factories import make_user, profile_named

pytestmark = pytest.mark.django_db(transaction=True)
NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def alice(time_machine):
    time_machine.move_to(NOW, tick=False)
    user = make_user("alice", "1000")
    Extension.objects.create(number="2000", kind=Extension.Kind.SOFTPHONE, owner=user)
    Extension.objects.create(number="2001", kind=Extension.Kind.SOFTPHONE, owner=user)
    return user


def connect(api, extension="2000", client_id="app-1"):
    response = api.post("/api/v1/sessions", {"extension": extension, "client_id": client_id})
    assert response.status_code == 201, response.content
    return response.json()


def current(user) -> str:
    return Selection.objects.select_related("profile").get(user=user).profile.name


def test_dnd_when_the_app_logs_out_and_back_when_it_logs_in(alice):
    api = ApiClient(alice)
    dnd = profile_named(alice, "In a meeting")
    response = api.put("/api/v1/me/session-trigger", {"profile_id": dnd.pk, "return_on_connect": True})
    assert response.status_code == 200
    assert response.json()["effective_profile_id"] == dnd.pk
    first = connect(api)
    second = connect(api, "2001", "app-2")
    api.delete(f"/api/v1/sessions/{first['id']}")
    assert current(alice) == "In the office"  # another client is still connected
    api.delete(f"/api/v1/sessions/{second['id']}")
    assert current(alice) == "In a meeting"
    assert Selection.objects.get(user=alice).source == "session_end"
    connect(api)
    assert current(alice) == "In the office"
    assert Selection.objects.get(user=alice).source == "session_back"


def test_an_expired_session_triggers_like_a_disconnect(alice, time_machine):
    api = ApiClient(alice)
    api.put("/api/v1/me/session-trigger", {"profile_id": profile_named(alice, "On holiday").pk})
    connect(api)
    time_machine.move_to(NOW + dt.timedelta(seconds=120), tick=False)
    tasks.due_scan()
    assert not ClientSession.objects.exists()
    assert current(alice) == "On holiday"


def test_no_return_when_the_user_chose_another_profile_meanwhile(alice):
    api = ApiClient(alice)
    api.put(
        "/api/v1/me/session-trigger", {"profile_id": profile_named(alice, "In a meeting").pk, "return_on_connect": True}
    )
    session = connect(api)
    api.delete(f"/api/v1/sessions/{session['id']}")
    select_profile(user=alice, profile=profile_named(alice, "On holiday"))
    connect(api)
    assert current(alice) == "On holiday"


def test_a_sticky_profile_is_not_left(alice):
    office = profile_named(alice, "In the office")
    office.sticky = True
    office.save()
    api = ApiClient(alice)
    api.put("/api/v1/me/session-trigger", {"profile_id": profile_named(alice, "In a meeting").pk})
    session = connect(api)
    api.delete(f"/api/v1/sessions/{session['id']}")
    assert current(alice) == "In the office"


def test_the_client_profiles_default_applies_unless_the_user_chose(alice):
    unavailable = PresenceProfile.objects.get(kind="system", name="Unavailable")
    ClientProfile.objects.filter(accounts__user=alice).update(session_end_profile=unavailable)
    api = ApiClient(alice)
    body = api.get("/api/v1/me/session-trigger").json()
    assert body == {
        "profile_id": None,
        "return_on_connect": False,
        "effective_profile_id": unavailable.pk,
        "effective_return_on_connect": False,
    }
    session = connect(api)
    events.disconnect_client(user=alice, extension=Extension.objects.get(number="2000"))  # e.g. the phone page
    assert current(alice) == "Unavailable"
    assert session["id"]


def test_bobs_profile_cannot_be_my_session_trigger(alice):
    bob = make_user("bob", "1001")
    response = ApiClient(alice).put("/api/v1/me/session-trigger", {"profile_id": profile_named(bob, "On holiday").pk})
    assert response.status_code == 404


@pytest.mark.django_db
def test_users_without_a_session_trigger_cost_nothing_per_user(time_machine):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from profiles.automation import sessions

    time_machine.move_to(NOW, tick=False)
    counts = []
    for n, base in ((2, 3000), (7, 4000)):
        ids = [make_user(f"u{base + i}", str(base + i)).pk for i in range(n)]
        with CaptureQueriesContext(connection) as ctx:
            assert sessions.clients_changed(ids, False) == {}
        counts.append(len(ctx.captured_queries))
    assert counts == [1, 1]
