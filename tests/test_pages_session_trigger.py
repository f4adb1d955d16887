"""The session trigger page (/devices/session-trigger/): what applies (the
user's own choice or the client profile's default), set, clear, the
connected clients; bad input is a form error that changes nothing; the same
service as the API's /me/session-trigger; constant queries."""

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from devices.models import Extension
from profiles import events
from profiles.events import ClientInfo
from profiles.models import Account, ClientProfile, PresenceProfile, Selection
from tests.factories import make_user, profile_named

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
URL = "/devices/session-trigger/"
CLEAR = "/devices/session-trigger/clear/"


@pytest.fixture
def alice(client, time_machine):
    time_machine.move_to(NOW, tick=False)
    user = make_user("alice", "1000")
    client.force_login(user)
    return user


def account(user) -> Account:
    return Account.objects.get(user=user)


def trigger_of(user) -> tuple[str | None, bool]:
    acc = Account.objects.select_related("session_end_profile").get(user=user)
    return (acc.session_end_profile.name if acc.session_end_profile else None, acc.session_return_on_connect)


def softphone(user, number: str, client_id: str, name: str = "", version: str = ""):
    ext = Extension.objects.create(number=number, kind=Extension.Kind.SOFTPHONE, owner=user)
    return events.connect_client(user=user, extension=ext, client=ClientInfo(client_id, name, version))


def test_the_urls_are_the_documented_ones():
    assert reverse("profiles:session_trigger") == URL
    assert reverse("profiles:session_trigger_clear") == CLEAR


def test_without_a_trigger_the_page_says_nothing_changes(client, alice):
    response = client.get(URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert "No session trigger: nothing changes when your last client disconnects." in html
    assert 'id="session-trigger-clear"' not in html
    # The form offers the user's own and the system profiles, grouped.
    assert '<optgroup label="My profiles">' in html and '<optgroup label="System profiles">' in html
    assert f'<option value="{profile_named(alice, "In a meeting").pk}">In a meeting</option>' in html
    # Linked from the navigation (My devices is current) with its label.
    assert '<a href="/devices/" aria-current="page">' in html
    assert '<label for="id_profile">When my last client disconnects or expires, switch to</label>' in html


def test_set_with_return_then_change_then_clear(client, alice):
    dnd = profile_named(alice, "In a meeting")
    response = client.post(URL, {"profile": dnd.pk, "return_on_connect": "on"})
    assert response.status_code == 302 and response["Location"] == URL
    assert trigger_of(alice) == ("In a meeting", True)
    html = client.get(URL).content.decode()
    assert "Session trigger saved." in html
    assert "When your last client leaves, you switch to <strong>In a meeting</strong>." in html
    assert "When a client connects again, you switch back to the profile before." in html
    assert "Your own choice." in html
    # The form shows the current choice.
    assert f'<option value="{dnd.pk}" selected>In a meeting</option>' in html
    assert 'id="id_return_on_connect" checked>' in html
    # Changed without the return (the checkbox unticked).
    holiday = profile_named(alice, "On holiday")
    client.post(URL, {"profile": holiday.pk})
    assert trigger_of(alice) == ("On holiday", False)
    response = client.post(CLEAR)
    assert response.status_code == 302
    assert trigger_of(alice) == (None, False)
    assert "Session trigger cleared." in client.get(URL).content.decode()


def test_htmx_answers_swap_the_panel(client, alice):
    dnd = profile_named(alice, "In a meeting")
    response = client.post(URL, {"profile": dnd.pk}, **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#session-panel" and response["HX-Reswap"] == "outerHTML"
    assert html.lstrip().startswith('<div id="session-panel"')
    assert "Session trigger saved." in html  # the messages, out of band
    assert 'id="session-trigger-clear"' in html
    response = client.post(CLEAR, **HX)
    assert response["HX-Retarget"] == "#session-panel"
    assert 'id="session-trigger-clear"' not in response.content.decode()
    assert trigger_of(alice) == (None, False)
    # An htmx GET is the panel alone.
    assert client.get(URL, **HX).content.decode().lstrip().startswith('<div id="session-panel"')


def test_the_client_profiles_default_applies_until_the_user_chooses(client, alice):
    unavailable = PresenceProfile.objects.get(kind="system", name="Unavailable")
    ClientProfile.objects.filter(accounts__user=alice).update(
        session_end_profile=unavailable, session_return_on_connect=True
    )
    name = account(alice).client_profile.name
    html = client.get(URL).content.decode()
    assert "When your last client leaves, you switch to <strong>Unavailable</strong>." in html
    assert "When a client connects again, you switch back to the profile before." in html
    assert f"The default of your client profile {name}; a choice of your own replaces it." in html
    assert 'id="session-trigger-clear"' not in html  # nothing of the user's own to clear
    client.post(URL, {"profile": profile_named(alice, "In a meeting").pk})
    html = client.get(URL).content.decode()
    assert "you switch to <strong>In a meeting</strong>." in html
    assert "When a client connects again, you stay where you are." in html
    assert "Your own choice; it replaces your client profile's default (Unavailable)." in html
    assert "Clear (use the default)" in html
    client.post(CLEAR)
    assert "you switch to <strong>Unavailable</strong>." in client.get(URL).content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Choose a profile."),
        ({"profile": ""}, "Choose a profile."),
        ({"profile": "abc"}, "Choose one of your profiles or a system profile."),
        ({"profile": "999999"}, "Choose one of your profiles or a system profile."),
        ({"profile": "1", "return_on_connect": "on"}, None),  # replaced by bob's profile below
    ],
)
def test_bad_input_is_a_form_error_and_changes_nothing(client, alice, data, message):
    own = profile_named(alice, "On holiday")
    client.post(URL, {"profile": own.pk, "return_on_connect": "on"})
    if message is None:
        # Another user's profile: the same answer as an id of nothing.
        bob = make_user("bob", "1001")
        data = {**data, "profile": profile_named(bob, "In a meeting").pk}
        message = "Choose one of your profiles or a system profile."
    for headers in ({}, HX):
        response = client.post(URL, data, **headers)
        assert response.status_code == 422
        html = response.content.decode()
        assert f'<p class="field-error" id="id_profile_error" role="alert">{message}</p>' in html
        assert 'aria-invalid="true"' in html
    assert trigger_of(alice) == ("On holiday", True)


def test_a_profile_the_service_refuses_is_a_form_error(client, alice, monkeypatch):
    """Offered when the page loaded, gone by the time of the POST: the
    service's rule answers (NotAllowed), on the form."""
    from profiles.automation import sessions
    from profiles.errors import NotAllowed

    def refuse(**kwargs):
        raise NotAllowed("That profile is not available to you.")

    monkeypatch.setattr(sessions, "set_session_trigger", refuse)
    response = client.post(URL, {"profile": profile_named(alice, "In a meeting").pk})
    assert response.status_code == 422
    assert "That profile is not available to you." in response.content.decode()
    assert trigger_of(alice) == (None, False)


def test_the_connected_clients_are_listed(client, alice, time_machine):
    html = client.get(URL).content.decode()
    assert "No client is connected." in html
    softphone(alice, "2000", "desk-1", "Phone Manager", "7.2")
    time_machine.move_to(NOW + dt.timedelta(seconds=30), tick=False)
    softphone(alice, "2001", "mobile-1", "pascom Mobile", "1.4")
    html = client.get(URL).content.decode()
    assert "Softphone 2000 · Phone Manager 7.2" in html
    assert "Softphone 2001 · pascom Mobile 1.4" in html
    assert "last heartbeat 10:00:00" in html and "last heartbeat 10:00:30" in html  # Berlin


def test_set_on_the_page_switches_when_the_last_client_leaves_and_back(
    client, alice, django_capture_on_commit_callbacks
):
    """The page sets what the API sets: the service's rule does the rest
    (after the disconnect and the connect commit)."""
    first = softphone(alice, "2000", "desk-1")
    client.post(URL, {"profile": profile_named(alice, "In a meeting").pk, "return_on_connect": "on"})
    with django_capture_on_commit_callbacks(execute=True):
        events.disconnect_client(user=alice, extension=first.extension)
    selection = Selection.objects.select_related("profile").get(user=alice)
    assert (selection.profile.name, selection.source) == ("In a meeting", "session_end")
    with django_capture_on_commit_callbacks(execute=True):
        softphone(alice, "2001", "desk-2")
    selection = Selection.objects.select_related("profile").get(user=alice)
    assert (selection.profile.name, selection.source) == ("In the office", "session_back")


def test_the_page_and_the_api_agree(client, alice):
    client.post(URL, {"profile": profile_named(alice, "On holiday").pk, "return_on_connect": "on"})
    body = client.get("/api/v1/me/session-trigger").json()
    assert body["profile_id"] == profile_named(alice, "On holiday").pk and body["return_on_connect"] is True


def test_a_user_without_presence_profiles_is_told_and_nothing_changes(client, db):
    staff = User.objects.create_user("staff", password="pw-staff", is_staff=True)
    client.force_login(staff)
    html = client.get(URL).content.decode()
    assert "Presence profiles are not set up for you; ask your administrator." in html
    assert 'id="session-trigger-save"' not in html
    response = client.post(CLEAR)
    assert response.status_code == 302
    assert "Presence profiles are not set up for this user." in client.get(URL).content.decode()
    response = client.post(CLEAR, **HX)
    assert response.status_code == 409 and response["HX-Retarget"] == "#messages"


def test_anonymous_is_sent_to_the_login(client, db):
    for response in (client.get(URL), client.post(URL, {"profile": "1"}), client.post(CLEAR)):
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_my_devices_and_the_triggers_page_link_to_it(client, alice):
    softphone(alice, "2000", "desk-1")
    assert f'href="{URL}"' in client.get("/devices/").content.decode()
    office = profile_named(alice, "In the office")
    assert f'href="{URL}"' in client.get(reverse("profiles:triggers", args=[office.pk])).content.decode()


def test_the_page_reads_in_german(client, alice):
    unavailable = PresenceProfile.objects.get(kind="system", name="Unavailable")
    ClientProfile.objects.filter(accounts__user=alice).update(session_end_profile=unavailable)
    client.post(URL, {"profile": profile_named(alice, "In a meeting").pk, "return_on_connect": "on"})
    softphone(alice, "2000", "desk-1", "Phone Manager", "7.2")
    html = client.get(URL, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert '<html lang="de" ' in html
    assert "<h1>Sitzungsauslöser</h1>" in html
    assert "Wenn Ihr letzter Client geht, wechseln Sie zu <strong>In einer Besprechung</strong>." in html
    assert "Ihre eigene Wahl; sie ersetzt den Standard Ihres Client-Profils" in html
    assert "Wenn mein letzter Client getrennt wird oder abläuft, wechseln zu" in html
    assert "Zurückwechseln, wenn sich wieder ein Client verbindet" in html
    assert "Entfernen (Standard verwenden)" in html
    assert "Verbundene Clients" in html
    response = client.post(URL, {"profile": ""}, HTTP_ACCEPT_LANGUAGE="de")
    assert "Wählen Sie ein Profil." in response.content.decode()


# --- constant queries -----------------------------------------------------------------------


def grow(user, n: int, base: int) -> None:
    """n more profiles of the user's and n more connected clients."""
    from profiles.services import create_profile

    for i in range(n):
        create_profile(user=user, name=f"Extra {base}-{i}")
        softphone(user, str(base + i), f"app-{base}-{i}", "App", "1.0")


def requests(alice):
    dnd = profile_named(alice, "In a meeting")
    return [
        ("page", "get", URL, {}, {}),
        ("panel", "get", URL, {}, HX),
        ("save", "post", URL, {"profile": dnd.pk, "return_on_connect": "on"}, HX),
        ("save, no htmx", "post", URL, {"profile": dnd.pk}, {}),
        ("form error", "post", URL, {"profile": "abc"}, HX),
        ("clear", "post", CLEAR, {}, HX),
    ]


def test_constant_queries_at_two_data_sizes(client, alice, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    grow(alice, 1, 3000)
    small = {}
    for name, method, url, data, headers in requests(alice):
        with CaptureQueriesContext(connection) as captured:
            getattr(client, method)(url, data, **headers)
        small[name] = len(captured.captured_queries)
    grow(alice, 6, 4000)
    for name, method, url, data, headers in requests(alice):
        with django_assert_num_queries(small[name], info=name):
            getattr(client, method)(url, data, **headers)
    # The page reads the account once (with what the trigger needs): 5.
    assert small["page"] <= 5 and max(small.values()) <= 10, small
