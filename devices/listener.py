"""The PBX event listener: a long-running process (``manage.py pbx_listen``)
that hears the phone system change and tells the portal at once.

- One per PBX: it first takes a lock (a PostgreSQL advisory lock held by a
  connection of its own; on SQLite, the embedded default, an exclusive
  ``flock`` on a file under PORTAL_VAR_DIR). A second copy waits for the
  lock instead of processing the same events twice, and takes over when the
  first one stops or dies (the lock goes with its connection / process).
- It connects to the PBX (Asterisk: a manager session with events on; the
  simulated PBX: its event table) and reconnects with capped backoff.
- Each (re)connect is "the PBX may have changed while nobody listened": it
  converges every user whose target is not applied and reconciles everyone.
  So does a ``FullyBooted`` (Asterisk restarted).
- Events are read in small batches (devices.events); the extensions they
  touch are read again and their owners' mismatches recorded or cleared
  (devices.services.reconcile_users, which never writes to a device and
  skips users whose apply is still running: the portal's own change is no
  mismatch). Line states are stored as they come.
- State changes (connected, lost, waiting for the lock) are logged once and
  written to ListenerStatus for the admin.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from devices import services
from devices.drivers import DriverError
from devices.drivers.ami import AMIConnection
from devices.events import Effect, EventReader, describe
from devices.models import ListenerStatus, PbxEvent

log = logging.getLogger(__name__)

# Seconds between reconnect attempts: capped exponential backoff.
RECONNECT_DELAYS = (1, 2, 5, 10, 30)
# How long one read waits for events; also how often the stop flag and the
# heartbeat are looked at.
POLL_SECONDS = 0.5
# Events arriving this close together are handled as one batch.
BATCH_WINDOW = 0.05
# An idle manager session is pinged this often (a dead TCP peer is noticed).
KEEPALIVE_SECONDS = 20
HEARTBEAT_SECONDS = 10


def pbx_name() -> str:
    if settings.PBX_DRIVER == "asterisk":
        return f"asterisk {settings.AMI_HOST}:{settings.AMI_PORT}"
    return "simulated"


# --- the lock: one listener per PBX --------------------------------------------------------


class ListenerLock:
    """Held while this process is the PBX's listener."""

    def __init__(self, name: str):
        self.name = name
        self._conn = None
        self._file = None

    def try_acquire(self) -> bool:
        if connection.vendor == "postgresql":
            return self._try_advisory()
        return self._try_flock()

    def _try_advisory(self) -> bool:
        # A connection of its own: Django may close or recycle the default
        # one, and a session-level advisory lock dies with its connection.
        if self._conn is None:
            self._conn = connection.get_new_connection(connection.get_connection_params())
            self._conn.autocommit = True
        key = int.from_bytes(hashlib.sha256(f"pbx-listener:{self.name}".encode()).digest()[:8], "big", signed=True)
        with self._conn.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            return bool(cursor.fetchone()[0])

    def _try_flock(self) -> bool:
        if self._file is None:
            folder = Path(settings.VAR_DIR)
            folder.mkdir(parents=True, exist_ok=True)
            slug = hashlib.sha256(self.name.encode()).hexdigest()[:12]
            self._file = open(folder / f"pbx-listener-{slug}.lock", "a+")  # noqa: SIM115 (held for the process's life)
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._file is not None:
            self._file.close()  # closing drops the flock
            self._file = None


# --- sources: where events come from -------------------------------------------------------


class AsteriskSource:
    """A manager session logged in with events on."""

    def __init__(self):
        self.ami: AMIConnection | None = None
        self._last_traffic = 0.0

    def connect(self) -> None:
        ami = AMIConnection(
            settings.AMI_HOST,
            settings.AMI_PORT,
            settings.AMI_USERNAME,
            settings.AMI_SECRET,
            timeout=float(settings.AMI_TIMEOUT),
            events=True,
        )
        ami.__enter__()
        self.ami = ami
        self._last_traffic = time.monotonic()

    def read(self, wait: float) -> list[dict[str, str]]:
        first = self.ami.poll_event(wait)
        if first is None:
            if time.monotonic() - self._last_traffic > KEEPALIVE_SECONDS:
                self.ami.send("Ping")  # raises when the PBX is gone
                self._last_traffic = time.monotonic()
            return []
        batch = [first]
        deadline = time.monotonic() + BATCH_WINDOW
        while (remaining := deadline - time.monotonic()) > 0:
            more = self.ami.poll_event(remaining)
            if more is None:
                break
            batch.append(more)
        self._last_traffic = time.monotonic()
        # Asterisk greets every new manager session with FullyBooted; a
        # restart ends the session, and the reconnect catches up anyway.
        return [dict(m.fields) for m in batch if m.get("Event").lower() != "fullybooted"]

    def done(self) -> None:
        pass  # the manager does not replay: nothing to acknowledge

    def close(self) -> None:
        if self.ami is not None:
            self.ami._close_socket()
            self.ami = None


class SimulatedSource:
    """The simulated PBX's event table. Rows are deleted once handled, so a
    listener that dies mid-batch handles the rest after its restart (at
    worst one batch twice: reading again is harmless)."""

    def __init__(self):
        self._ids: list[int] = []

    def connect(self) -> None:
        PbxEvent.objects.exists()  # the database is the simulated PBX

    def read(self, wait: float) -> list[dict[str, str]]:
        deadline = time.monotonic() + wait
        while True:
            rows = list(PbxEvent.objects.order_by("id").values_list("id", "fields")[:500])
            if rows:
                self._ids = [pk for pk, _ in rows]
                return [fields for _, fields in rows]
            if time.monotonic() >= deadline:
                return []
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def done(self) -> None:
        if self._ids:
            PbxEvent.objects.filter(id__in=self._ids).delete()
            self._ids = []

    def close(self) -> None:
        pass


def make_source():
    return AsteriskSource() if settings.PBX_DRIVER == "asterisk" else SimulatedSource()


# --- the listener ----------------------------------------------------------------------------


class Listener:
    def __init__(self, *, stop: threading.Event | None = None, source_factory: Callable = make_source):
        self.name = pbx_name()
        self.stop = stop or threading.Event()
        self.source_factory = source_factory
        self.reader = EventReader()
        self.process_name = f"{socket.gethostname()}:{os.getpid()}"
        self._logged_state = ""
        self._heartbeat = 0.0
        self.processed = 0

    # -- status: logged once per change, written for the admin ------------------------------
    def _state(self, state: str, message: str, level=logging.INFO) -> None:
        if (state, message) != (self._logged_state, getattr(self, "_logged_message", "")):
            log.log(level, "PBX listener (%s): %s", self.name, message)
            self._logged_state, self._logged_message = state, message

    def _status(self, **fields) -> None:
        fields.setdefault("heartbeat_at", timezone.now())
        try:
            ListenerStatus.objects.update_or_create(pbx=self.name, defaults={"process": self.process_name, **fields})
        except DatabaseError as exc:
            log.warning("PBX listener (%s): cannot write its status: %s", self.name, exc)

    # -- the loop -------------------------------------------------------------------------------
    def run(self) -> None:
        lock = ListenerLock(self.name)
        try:
            if not self._wait_for_lock(lock):
                return
            self._serve()
        finally:
            if lock._conn is not None or lock._file is not None:
                self._status(state=ListenerStatus.State.STOPPED, connected_since=None)
                self._state("stopped", "stopped")
            lock.release()
            connection.close()

    def _wait_for_lock(self, lock: ListenerLock) -> bool:
        while not self.stop.is_set():
            try:
                if lock.try_acquire():
                    self._state("locked", "holds the lock; this process is the listener")
                    return True
            except DatabaseError as exc:
                self._state("lock-error", f"cannot take the lock: {exc}", logging.WARNING)
                lock.release()
            self._state("waiting", "another listener holds the lock; waiting")
            self.stop.wait(1.0)
        return False

    def _serve(self) -> None:
        attempt = 0
        while not self.stop.is_set():
            close_old_connections()
            source = self.source_factory()
            try:
                source.connect()
            except (DriverError, DatabaseError) as exc:
                delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
                attempt += 1
                self._state("down", f"cannot connect ({exc}); retrying with backoff", logging.WARNING)
                self._status(
                    state=ListenerStatus.State.DISCONNECTED,
                    connected_since=None,
                    last_error=str(exc)[:1000],
                    last_error_at=timezone.now(),
                )
                source.close()
                self.stop.wait(delay)
                continue
            attempt = 0
            self._state("up", "connected")
            self._status(state=ListenerStatus.State.CONNECTED, connected_since=timezone.now())
            try:
                self._catch_up()
                self._listen(source)
            except (DriverError, DatabaseError) as exc:
                self._state("down", f"connection lost ({exc}); reconnecting", logging.WARNING)
                self._status(
                    state=ListenerStatus.State.DISCONNECTED,
                    connected_since=None,
                    last_error=str(exc)[:1000],
                    last_error_at=timezone.now(),
                )
                self.stop.wait(RECONNECT_DELAYS[0])
            finally:
                source.close()

    def _catch_up(self) -> None:
        """Connected (again): whatever happened while nobody listened."""
        converged = services.converge_unapplied()
        flagged = services.reconcile_everyone()
        if converged or flagged:
            log.info(
                "PBX listener (%s): caught up: %d user(s) to converge, %d with a mismatch",
                self.name,
                len(converged),
                flagged,
            )

    def _listen(self, source) -> None:
        while not self.stop.is_set():
            events = source.read(POLL_SECONDS)
            if events:
                self.handle(self.reader.read_all(events))
                source.done()
                self.processed += len(events)
                self._status(
                    last_event_at=timezone.now(),
                    last_event=describe(events[-1]),
                    events_processed=self.processed,
                )
            elif time.monotonic() - self._heartbeat > HEARTBEAT_SECONDS:
                self._heartbeat = time.monotonic()
                self._status()

    def handle(self, effect: Effect) -> None:
        if effect.lines:
            changed = services.record_line_states(effect.lines)
            if changed:
                services.line_states_changed(changed)
        if effect.pbx_back:
            log.info("PBX listener (%s): the PBX (re)started", self.name)
            self._catch_up()
        elif effect.numbers:
            services.reconcile_users(services.users_of_numbers(effect.numbers))
