"""A real stream server (uvicorn running portal.asgi in a subprocess, on
127.0.0.1) against the test database, and a small Server-Sent Events client
reading it over real HTTP. Used by tests/test_live_stream.py and the
browser test of live updates."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.db import connection
from django.test import Client

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 30  # generous: the machine is shared


def test_database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextmanager
def stream_server(**env):
    """uvicorn portal.asgi on a free port; yields its base URL. The test
    binds the socket (port 0: the system's choice) and hands it to uvicorn
    (--fd), so no other program can take the port between the two."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    port = listener.getsockname()[1]
    environment = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "CONN_MAX_AGE": "0",
        "LOG_LEVEL": "WARNING",
        **{k: str(v) for k, v in env.items()},
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "portal.asgi:application", "--fd", str(listener.fileno())]
        + ["--no-access-log", "--log-level", "warning", "--timeout-graceful-shutdown", "2"],
        cwd=ROOT,
        env=environment,
        pass_fds=[listener.fileno()],
    )
    listener.close()  # the server holds its own copy
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the stream server exited with {process.returncode}")
            # The socket accepts at once (it listens already): an answer to
            # a request shows that uvicorn serves it.
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            try:
                probe.request("GET", "/live/events/")
                probe.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
            finally:
                probe.close()
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


class Stream:
    """One open stream: ``GET /live/events/`` with a session cookie."""

    def __init__(self, base: str, session: str | None, *, last_event_id=None, headers=None):
        host, port = base.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
        sent = dict(headers or {})
        if session:
            sent["Cookie"] = f"sessionid={session}"
        if last_event_id is not None:
            sent["Last-Event-ID"] = str(last_event_id)
        self.conn.request("GET", "/live/events/", headers=sent)
        self.response = self.conn.getresponse()
        self.status = self.response.status
        if self.status == 200:
            # The server subscribes this stream before it sends this line:
            # from here on nothing published is missed.
            while self.response.readline() not in (b": connected\n", b""):
                pass

    def next_event(self) -> dict | None:
        """The next event ({"id", "event", "data"}); comments are skipped.
        None when the server ended the stream."""
        event: dict = {}
        while True:
            line = self.response.readline()
            if not line:
                return None
            line = line.decode().rstrip("\n")
            if not line:
                if "event" in event:
                    return event
                event = {}
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(": ")
            if field == "data":
                event["data"] = json.loads(value)
            elif field in ("id", "event"):
                event[field] = int(value) if field == "id" else value

    def until(self, predicate) -> tuple[dict, list[dict]]:
        """Read up to the first event matching ``predicate``; returns it and
        every event before it."""
        before = []
        while True:
            event = self.next_event()
            if event is None:
                raise AssertionError(f"the stream ended before the event; got {before}")
            if predicate(event):
                return event, before
            before.append(event)

    def close(self) -> None:
        self.conn.close()
