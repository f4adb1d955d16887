"""Password reset: mail from the environment (console in development); a
mail that cannot be sent is reported, never claimed as sent; without mail
in production the reset pages do not exist."""

import socket

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import get_resolver

from portal import accounts
from tests.test_settings import manage

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user("alice", "alice@example.com", "pw-alice")


def test_a_reset_mail_is_sent_and_the_user_told(client, alice):
    response = client.post("/accounts/password_reset/", {"email": "alice@example.com"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password_reset/done/"
    assert len(mail.outbox) == 1
    assert "/accounts/reset/" in mail.outbox[0].body


def test_a_mail_that_cannot_be_sent_is_reported_not_claimed(client, alice, settings):
    # A real SMTP connection to a port nobody listens on.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    response = client.post("/accounts/password_reset/", {"email": "alice@example.com"})
    assert response.status_code == 200
    assert b"could not send the mail" in response.content


def test_without_mail_the_reset_pages_do_not_exist(settings):
    settings.PASSWORD_RESET_ENABLED = False
    names = {pattern.name for pattern in accounts.urlpatterns()}
    assert "login" in names
    assert not names & {"password_reset", "password_reset_done", "password_reset_confirm", "password_reset_complete"}
    settings.PASSWORD_RESET_ENABLED = True
    assert "password_reset" in {pattern.name for pattern in accounts.urlpatterns()}
    assert "password_reset" in get_resolver().reverse_dict  # development: console mail, pages on


@pytest.mark.parametrize(("email_host", "enabled"), [("", "False"), ("smtp.example.com", "True")])
def test_production_offers_reset_only_with_a_mail_server(tmp_path, email_host, enabled):
    result = manage(
        tmp_path,
        "shell",
        "-c",
        "from django.conf import settings; print(settings.PASSWORD_RESET_ENABLED)",
        PORTAL_MODE="production",
        SECRET_KEY="x" * 60,
        ALLOWED_HOSTS="portal.example.com",
        EMAIL_HOST=email_host,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == enabled
