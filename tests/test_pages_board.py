"""The colleagues board: everyone's presence with search, team filter and
pagination; polls answer 304 while nothing changed; the first screen of a
10,000-user board costs a constant number of queries."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from devices import services
from devices.models import Team
from profiles.models import PresenceProfile, Selection
from profiles.services import select_profile, update_profile
from tests.factories import make_user, profile_named

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
User = get_user_model()


@pytest.fixture
def alice(client):
    user = make_user("alice", "1000", teams=["Sales"])
    client.force_login(user)
    return user


@pytest.fixture
def bob():
    return make_user("bob", "1001", teams=["Support"])


def test_board_shows_everyones_presence(client, alice, bob):
    select_profile(user=bob, profile=profile_named(bob, "In a meeting"))
    html = client.get(reverse("profiles:colleagues")).content.decode()
    assert 'data-user="bob"' in html and "In a meeting" in html and "1001" in html
    assert 'data-user="alice"' in html and "You" in html


def test_board_hides_the_icon_where_the_profile_hides_it(client, alice, bob):
    meeting = profile_named(bob, "In a meeting")
    update_profile(user=bob, profile=meeting, icon_visible=False)
    select_profile(user=bob, profile=meeting)
    html = client.get(reverse("profiles:colleagues"), **HX).content.decode()
    bob_card = html.split('data-user="bob"')[1].split("</li>")[0]
    assert "<svg" not in bob_card
    alice_card = html.split('data-user="alice"')[1].split("</li>")[0]
    assert "<svg" in alice_card


def test_board_search_and_team_filter(client, alice, bob):
    html = client.get(reverse("profiles:colleagues"), {"q": "bo"}, **HX).content.decode()
    assert 'data-user="bob"' in html and 'data-user="alice"' not in html
    sales = Team.objects.get(name="Sales")
    html = client.get(reverse("profiles:colleagues"), {"team": sales.pk}, **HX).content.decode()
    assert 'data-user="alice"' in html and 'data-user="bob"' not in html


def test_board_poll_answers_304_when_nothing_changed(client, alice, bob):
    first = client.get(reverse("profiles:colleagues"), **HX)
    etag = first["ETag"]
    with CaptureQueriesContext(connection) as queries:
        again = client.get(reverse("profiles:colleagues"), HTTP_IF_NONE_MATCH=etag, **HX)
    assert again.status_code == 304 and again.content == b""
    # Session, user, account and the two aggregates of the fingerprint: nothing rendered.
    assert len(queries) <= 5
    select_profile(user=bob, profile=profile_named(bob, "In a meeting"))
    changed = client.get(reverse("profiles:colleagues"), HTTP_IF_NONE_MATCH=etag, **HX)
    assert changed.status_code == 200 and "In a meeting" in changed.content.decode()


def test_board_poll_sees_a_profile_rename(client, alice, bob):
    etag = client.get(reverse("profiles:colleagues"), **HX)["ETag"]
    update_profile(user=bob, profile=profile_named(bob, "In the office"), name="At my desk")
    response = client.get(reverse("profiles:colleagues"), HTTP_IF_NONE_MATCH=etag, **HX)
    assert response.status_code == 200 and "At my desk" in response.content.decode()


def test_board_of_10000_users_first_screen_at_constant_queries(client, alice, django_assert_max_num_queries):
    system = PresenceProfile.objects.filter(kind=PresenceProfile.Kind.SYSTEM).first()
    users = User.objects.bulk_create(User(username=f"user{i:05d}", first_name=f"User {i:05d}") for i in range(10_000))
    now = timezone.now()
    Selection.objects.bulk_create(Selection(user=u, profile=system, since=now) for u in users)
    # Session, user, account, fingerprint (2), teams, count, the page.
    with django_assert_max_num_queries(8):
        response = client.get(reverse("profiles:colleagues"))
    html = response.content.decode()
    assert "10001 colleagues" in html
    assert "Page 1 of" in html
    assert html.count("data-user=") == 60


def test_board_escapes_names(client, alice, bob):
    bob.first_name = "<img src=x onerror=alert(1)>"
    bob.save()
    update_profile(user=bob, profile=profile_named(bob, "In the office"), name="<script>alert(1)</script>")
    html = client.get(reverse("profiles:colleagues")).content.decode()
    assert "<script>alert(1)</script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_board_shows_a_colleagues_line_state_with_icon_and_text(client, alice, bob):
    services.record_line_states({"1001": "on_call"})
    html = client.get(reverse("profiles:colleagues"), **HX).content.decode()
    bob_card = html.split('data-user="bob"')[1].split("</li>")[0]
    assert "on a call" in bob_card and "lucide-phone-call" in bob_card
    alice_card = html.split('data-user="alice"')[1].split("</li>")[0]
    assert "person-line" not in alice_card  # nothing known about her line yet


def test_board_poll_sees_a_line_state_change(client, alice, bob):
    services.record_line_states({"1001": "idle"})
    etag = client.get(reverse("profiles:colleagues"), **HX)["ETag"]
    assert client.get(reverse("profiles:colleagues"), HTTP_IF_NONE_MATCH=etag, **HX).status_code == 304
    services.record_line_states({"1001": "ringing"})
    response = client.get(reverse("profiles:colleagues"), HTTP_IF_NONE_MATCH=etag, **HX)
    assert response.status_code == 200 and "ringing" in response.content.decode()
