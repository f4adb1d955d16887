"""The example client (examples/client.py) against a real gunicorn on the
PostgreSQL test database, with a real Celery worker: it connects its
softphone, heartbeats, switches with a prompt value and follows colleagues;
killed without disconnecting, its softphone is released after the window."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from api import tokens
from devices.drivers.simulated import SimulatedDriver
from devices.models import ClientSession, Extension
from profiles.automation import tasks
from profiles.models import Selection, SwitchEvent
from tests.factories import make_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
WINDOW = 6  # seconds; the heartbeat interval is a third of it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check, timeout: float = 90.0):
    # Generous: on a loaded CI machine gunicorn's workers take a while to
    # import Django before the first answer.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout} s")


@pytest.fixture
def gunicorn(tmp_path, celery_worker):
    """gunicorn (2 workers) on the test database, sending its tasks to the
    broker the test's worker reads."""
    db = connection.settings_dict
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CACHE_URL": f"file://{tmp_path / 'cache'}",
        "CLIENT_SESSION_WINDOW_SECONDS": str(WINDOW),
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "SECRET_KEY": "x" * 60,
        "DEBUG": "0",
    }
    broker = os.environ.get("TEST_BROKER_URL", "")
    if broker:
        env["CELERY_BROKER_URL"] = broker
    else:  # the worker's filesystem broker lives in tmp_path (tests/integration/conftest.py)
        (tmp_path / "var").mkdir()
        (tmp_path / "var" / "broker").symlink_to(tmp_path)
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.fail("this test runs gunicorn on PostgreSQL; set DATABASE_URL")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "2",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return server.poll() is not None and pytest.fail("gunicorn exited")

    wait_for("gunicorn listening", up)
    yield url
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=20)


def softphone_state():
    return SimulatedDriver().read(["2000"])["2000"]


def test_example_client_connects_switches_follows_and_its_death_releases_the_softphone(gunicorn, tmp_path):
    alice = make_user("alice", "1000")
    make_user("bob", "1001")
    Extension.objects.create(number="2000", kind=Extension.Kind.SOFTPHONE, owner=alice)
    raw = tokens.create_token(user=alice, name="integration").raw
    log = (tmp_path / "client.log").open("w")
    client = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "examples" / "client.py"),
            *("--url", gunicorn, "--token", raw, "--softphone", "2000", "--client-id", "it-1"),
            *("--switch", "Working from home", "--prompt", "forward=+4930123456", "--follow", "600", "--poll", "1"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for("the switch", lambda: Selection.objects.filter(user=alice, profile__name="Working from home").exists())
        assert Selection.objects.get(user=alice).prompt_values == {"forward": "+4930123456"}
        wait_for("the softphone to take the profile", lambda: softphone_state().presence == "Working from home")
        assert softphone_state().forward == "+4930123456"
        session = ClientSession.objects.get(user=alice)
        assert session.client_name == "examples/client.py"
        first_beat = session.expires_at
        wait_for("a heartbeat", lambda: ClientSession.objects.get(pk=session.pk).expires_at > first_beat)
        wait_for("the colleagues poll", lambda: "colleagues:" in (tmp_path / "client.log").read_text())
    except AssertionError as failure:
        log.flush()
        said = (tmp_path / "client.log").read_text()[-4000:]
        raise AssertionError(f"{failure}\n--- examples/client.py said:\n{said}") from None
    finally:
        client.kill()  # no disconnect: the client just dies
        client.wait(timeout=10)
        log.close()
    assert ClientSession.objects.filter(user=alice).exists()
    expires = ClientSession.objects.get(user=alice).expires_at
    wait_for("the window to pass", lambda: time.time() > expires.timestamp() + 0.5, timeout=WINDOW + 5)
    tasks.due_scan()  # the Beat entry: hands the expired session to the worker
    wait_for("the session to end", lambda: not ClientSession.objects.filter(user=alice).exists())
    wait_for("the softphone to be released", lambda: softphone_state().presence == "")
    released = softphone_state()
    assert (released.dnd, released.forward) == (False, "")
    assert SimulatedDriver().read(["1000"])["1000"].presence == "Working from home"  # the primary keeps it
    assert SwitchEvent.objects.filter(user=alice, event="session_expired").count() == 1
    assert settings.CLIENT_SESSION_WINDOW_SECONDS == 90  # the test process keeps the default
