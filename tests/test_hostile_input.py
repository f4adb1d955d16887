"""Hostile bytes get a clear 400 or a form error, never a 500, and change
nothing: NUL and other control characters, numbers too long for any field,
non-numeric ids in admin selections and autocomplete fields."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from devices.drivers.simulated import SimulatedDriver
from profiles.models import Action
from tests.factories import profile_named
from tests.security import db_fingerprint
from tests.test_admin import populate

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(db):
    return populate("alice", "1000", "2000")


@pytest.fixture
def alice_client(alice):
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    return client


@pytest.fixture
def root_client(alice):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = Client(raise_request_exception=False)
    client.force_login(root)
    return client


@pytest.mark.parametrize(
    "url",
    ["/colleagues/?q=%00", "/colleagues/?q=a%01b", "/phone/%00/", "/history/?page=" + "9" * 5000],
)
def test_user_pages_refuse_control_characters_and_huge_numbers(alice_client, url):
    before = db_fingerprint()
    response = alice_client.get(url)
    assert response.status_code == 400
    assert b"Nothing was changed" in response.content
    assert db_fingerprint() == before


def test_a_dnd_prompt_with_nul_is_refused_before_storage(alice, alice_client):
    profile = profile_named(alice, "In a meeting")
    Action.objects.filter(profile=profile, type="set_dnd").update(params={"on": True, "prompt": True, "message": ""})
    before = db_fingerprint()
    response = alice_client.post(f"/presence/select/{profile.pk}/", {"prompted": "1", "dnd_message": "a\x00b"})
    assert response.status_code == 400
    assert b"control characters" in response.content
    assert db_fingerprint() == before


def test_the_handset_refuses_a_dnd_message_with_control_characters(alice_client):
    for message in ("a\x00b", "a\x1bb"):
        response = alice_client.post("/phone/1000/", {"action": "dnd_on", "message": message})
        assert response.status_code == 400
        assert b"control characters" in response.content
    assert SimulatedDriver().read(["1000"])["1000"].dnd is False


def test_the_dnd_message_service_refuses_control_characters():
    from django.core.exceptions import ValidationError

    from profiles.actions import validate_params

    with pytest.raises(ValidationError) as refused:
        validate_params("set_dnd", {"on": True, "message": "bell\x07"})
    assert "control characters" in str(refused.value)


@pytest.mark.parametrize(
    ("method", "url", "data"),
    [
        ("post", "/admin/profiles/action/add/", {"profile": "abc", "phase": "enter", "position": "0", "type": "dnd"}),
        ("post", "/admin/profiles/recentvalue/add/", {"user": "abc", "kind": "forward", "value": "1"}),
        ("post", "/admin/devices/team/add/", {"name": "x", "queue": "x", "members": ["abc", "9" * 25]}),
        ("post", "/admin/devices/extension/add/", {"number": "1234", "kind": "dee_main", "owner": "9" * 25}),
        ("post", "/admin/profiles/account/add/", {"user": "x1", "primary_extension": "-1"}),
    ],
)
def test_admin_autocomplete_fields_answer_bad_ids_with_a_form_error(root_client, method, url, data):
    before = db_fingerprint()
    response = getattr(root_client, method)(url, data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert db_fingerprint() == before


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("/admin/devices/targetstate/", {"action": "reapply_users", "_selected_action": ["abc"]}),
        ("/admin/devices/extension/", {"action": "hot_desk_login", "_selected_action": ["1", "9" * 40]}),
        ("/admin/devices/extension/?q=%00", None),
        ("/admin/autocomplete/?app_label=profiles&model_name=action&field_name=profile&term=%00", None),
        ("/admin/profiles/presenceprofile/add/", {"name": "x", "position": "9" * 5000}),
    ],
)
def test_admin_refuses_hostile_values_early(root_client, url, data):
    before = db_fingerprint()
    response = root_client.post(url, data) if data else root_client.get(url)
    assert response.status_code == 400
    assert db_fingerprint() == before
