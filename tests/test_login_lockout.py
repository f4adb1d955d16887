"""Login throttling (django-axes): after LOGIN_FAILURE_LIMIT wrong
passwords the username is locked on that address, for the portal's login
and the admin's alike, with a clear message; the right password does not
get in while locked; deleting the attempt in the admin unlocks."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", "alice@example.com", "right-password-1")


def _login(client, url, password):
    return client.post(url, {"username": "alice", "password": password})


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_fifty_wrong_passwords_lock_the_login(alice, settings, url):
    client = Client()
    statuses = [_login(client, url, f"wrong-{n}").status_code for n in range(50)]
    limit = settings.AXES_FAILURE_LIMIT
    assert statuses[: limit - 1] == [200] * (limit - 1)  # the form again, with its error
    assert set(statuses[limit - 1 :]) == {429}
    locked = _login(client, url, "right-password-1")
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content
    assert "_auth_user_id" not in client.session
    assert AccessAttempt.objects.get(username="alice").failures_since_start >= limit


def test_a_lock_is_per_username_and_address(alice, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        _login(Client(REMOTE_ADDR="10.0.0.1"), "/accounts/login/", f"wrong-{n}")
    elsewhere = _login(Client(REMOTE_ADDR="10.0.0.2"), "/accounts/login/", "right-password-1")
    assert elsewhere.status_code == 302


def test_an_administrator_unlocks_by_deleting_the_attempt(alice, settings):
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "/accounts/login/", f"wrong-{n}")
    assert _login(client, "/accounts/login/", "right-password-1").status_code == 429
    root = User.objects.create_superuser("root", "root@example.com", "pw-root")
    admin_client = Client()
    admin_client.force_login(root)
    attempt = AccessAttempt.objects.get(username="alice")
    response = admin_client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert _login(client, "/accounts/login/", "right-password-1").status_code == 302


def test_authenticate_without_a_request_still_works(alice):
    """A shell or a management command has no address to throttle."""
    from django.contrib.auth import authenticate

    assert authenticate(username="alice", password="right-password-1") == alice
    assert authenticate(username="alice", password="wrong") is None
