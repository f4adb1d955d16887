"""What a newcomer meets around the pages: ./run's port, the broker's quiet
start, logging out (GET asks, POST confirms), an administrator told where
to go, system profiles without a Delete button, the action form's phase."""

import logging
import os
import socket
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from kombu import Connection

from profiles.models import Action, PresenceProfile
from tests.factories import make_user, profile_named

ROOT = Path(__file__).resolve().parent.parent


def test_run_refuses_a_taken_port_before_starting_anything(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "PORT": str(port), "PORTAL_VAR_DIR": str(tmp_path / "var")}
        result = subprocess.run(["./run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "PORT=8010 ./run" in result.stderr
    assert "migrat" not in result.stdout.lower()  # nothing was started or migrated
    assert not (tmp_path / "var").exists()


def test_run_refuses_a_taken_stream_port_and_gives_the_stream_the_next_port(tmp_path):
    with socket.socket() as free, socket.socket() as busy:
        free.bind(("127.0.0.1", 0))
        web_port = free.getsockname()[1]
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        stream_port = busy.getsockname()[1]
        free.close()
        env = {**os.environ, "PORT": str(web_port), "STREAM_PORT": str(stream_port)}
        env["PORTAL_VAR_DIR"] = str(tmp_path / "var")
        result = subprocess.run(["./run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"port {stream_port} on 127.0.0.1 is already in use" in result.stderr
    assert not (tmp_path / "var").exists()
    run = (ROOT / "run").read_text()
    assert 'STREAM_PORT="${STREAM_PORT:-$((PORT + 1))}"' in run and "$STREAM_PORT/live/events/" in run


def test_run_refuses_a_port_that_is_not_a_number():
    result = subprocess.run(
        ["./run"], cwd=ROOT, env={**os.environ, "PORT": "eighty"}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "PORT must be a number" in result.stderr


def test_web_process_listens_on_port_and_readme_documents_it():
    assert "runserver 127.0.0.1:$PORT" in (ROOT / "Procfile.dev").read_text()
    assert "PORT=8010 ./run" in (ROOT / "README.md").read_text()
    assert "--port ${STREAM_PORT:-8001}" in (ROOT / "Procfile.dev").read_text()


def test_default_broker_starts_without_the_no_hostname_warning(caplog):
    assert settings.CELERY_BROKER_URL.startswith("filesystem://localhost")
    options = {"data_folder_in": "/nonexistent", "data_folder_out": "/nonexistent"}
    with caplog.at_level(logging.WARNING, logger="kombu.connection"):
        Connection("filesystem://localhost/", transport_options=options)._info()
    assert "No hostname" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="kombu.connection"):
        Connection("filesystem://", transport_options=options)._info()
    assert "No hostname" in caplog.text  # the check can see the warning


@pytest.mark.django_db
def test_get_logout_asks_and_post_logs_out_with_a_confirmation(client):
    alice = make_user("alice", "1000")
    client.force_login(alice)
    page = client.get("/accounts/logout/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Log out?" in html and 'method="post"' in html
    assert client.get(reverse("profiles:presence")).status_code == 200  # still logged in
    response = client.post("/accounts/logout/", follow=True)
    assert response.redirect_chain[-1][0] == reverse("login")
    assert "You are logged out." in response.content.decode()
    assert client.get(reverse("profiles:presence")).status_code == 302


@pytest.mark.django_db
def test_administrator_is_told_what_to_do_in_the_admin(client):
    admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(admin)
    html = client.get(reverse("profiles:presence")).content.decode()
    assert "You are an administrator" in html
    assert f'href="{reverse("admin:index")}"' in html
    assert "not enabled for you. Ask your administrator" not in html
    # Nothing to switch, no apply status, no time zone: only the way to the admin.
    assert "Switch to" not in html and "No device changes yet" not in html and "Your time zone" not in html


@pytest.mark.django_db
def test_system_profiles_offer_no_delete(client):
    alice = make_user("alice", "1000")
    client.force_login(alice)
    html = client.get(reverse("profiles:profiles")).content.decode()
    system = html.split('id="system-title"')[1]
    assert "Available" in system
    for profile in PresenceProfile.objects.filter(kind=PresenceProfile.Kind.SYSTEM):
        assert reverse("profiles:profile_delete", args=[profile.pk]) not in html
    own = profile_named(alice, "On holiday")
    assert reverse("profiles:profile_delete", args=[own.pk]) in html


@pytest.mark.django_db
def test_add_inside_a_chain_does_not_ask_the_phase_and_defaults_are_valid(client):
    alice = make_user("alice", "1000")
    client.force_login(alice)
    office = profile_named(alice, "In the office")
    url = reverse("profiles:action_new", args=[office.pk])
    form = client.get(url, {"type": "change_destinations", "phase": "exit"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'name="action-phase"' not in form  # no "Run: On entering / On leaving"
    assert '<input type="hidden" name="phase" value="exit">' in form
    assert '<option value="true" selected>' in form  # "Active" by default, which the service accepts
    response = client.post(
        url,
        {"type": "change_destinations", "phase": "exit", "action-family": "all", "action-active": "true"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert Action.objects.filter(profile=office, phase="exit", type="change_destinations").count() == 1


def test_run_prints_the_demo_logins_once():
    """seed_demo prints them (from the demo data); ./run adds only the URLs."""
    script = (ROOT / "run").read_text()
    assert "portal-demo" not in script and "portal-admin" not in script
    assert "python manage.py seed_demo" in script


@pytest.mark.django_db
def test_handset_page_has_styled_inputs_and_reloads_while_the_profile_is_applied(client):
    from devices.models import TargetState

    alice = make_user("alice", "1000")
    client.force_login(alice)
    url = reverse("devices:phone", args=["1000"])
    TargetState.objects.filter(user=alice).update(status=TargetState.Status.PENDING)
    html = client.get(url).content.decode()
    assert '<input type="text" name="message"' in html and '<input type="tel" name="target"' in html
    assert 'hx-trigger="load delay:1s"' in html  # shows the new state without a manual reload
    assert "Applying the profile to this phone" in html
    TargetState.objects.filter(user=alice).update(status=TargetState.Status.APPLIED)
    assert 'hx-trigger="load delay:1s"' not in client.get(url).content.decode()
    devices_page = client.get(reverse("profiles:devices")).content.decode()
    assert f'href="{url}"' in devices_page  # linked from My devices while the PBX is simulated


def test_favicon_is_the_portal_icon_not_a_404(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"].endswith("/static/icons/circle-check.svg")
