"""A small blocking client for the Asterisk Manager Interface (AMI).

The wire format (recorded from Asterisk 22, shared/reference/asterisk-ami):
a banner line ``Asterisk Call Manager/<version>``, then messages of
``Key: Value`` lines ending in ``\\r\\n`` and closed by a blank line. Every
action carries an ``ActionID``; its response is found by that id. List
actions answer ``EventList: start`` and then events with the same id up to
one whose ``EventList`` is ``Complete``. Anything else on the wire (events
of other origins, whose order differs between runs) is skipped.

Failures map onto the driver's two kinds: network trouble (refused,
timeout, connection closed) is transient, and so is the answer Asterisk
gives to every action, login included, while it stops or waits for a
graceful restart (``Asterisk is shutting down``); any other answer
``Response: Error`` is permanent and carries the server's message.
"""

from __future__ import annotations

import collections
import itertools
import socket
import time
from dataclasses import dataclass, field

from devices.drivers.base import PermanentDriverError, TransientDriverError

BANNER_PREFIX = "Asterisk Call Manager/"
# Answers that mean "not now" rather than "no": the same action succeeds
# once Asterisk is back (shared/reference/asterisk-ami/README.md).
TRANSIENT_MESSAGES = frozenset({"Asterisk is shutting down"})


class AMIError(PermanentDriverError):
    """The server answered an action with ``Response: Error``. Permanent,
    unless the message is one of TRANSIENT_MESSAGES."""

    def __init__(self, action: str, message: str):
        super().__init__(f"{action}: {message}")
        self.action = action
        self.message = message
        self.transient = message in TRANSIENT_MESSAGES


@dataclass
class Message:
    """One AMI message. Fields keep their order and may repeat (the
    PresenceState response has two ``Message`` lines); ``get`` returns the
    first. ``events`` holds a list response's events, the closing one last."""

    fields: list[tuple[str, str]]
    events: list[Message] = field(default_factory=list)

    def get(self, key: str, default: str = "") -> str:
        return next((v for k, v in self.fields if k.lower() == key.lower()), default)

    @property
    def items(self) -> list[Message]:
        """A list response's item events, without the closing ``…Complete``."""
        return [e for e in self.events if e.get("EventList").lower() != "complete"]


class AMIConnection:
    """One logged-in manager session. Use as a context manager: it logs in
    on entry and logs off and closes on exit."""

    def __init__(self, host: str, port: int, username: str, secret: str, *, timeout: float, events: bool = False):
        self.host, self.port = host, port
        self.username, self.secret = username, secret
        self.timeout = timeout
        self.events = events
        self._ids = itertools.count(1)
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._broken = False
        self._held: collections.deque[Message] = collections.deque()

    # -- session -------------------------------------------------------------
    def __enter__(self) -> AMIConnection:
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            # One small write per action, each waiting for its answer: without
            # this, Nagle and delayed ACKs cost about 40 ms per action.
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            raise TransientDriverError(f"cannot connect to Asterisk AMI at {self.host}:{self.port}: {exc}") from exc
        try:
            banner = self._read_line()
            if not banner.startswith(BANNER_PREFIX):
                raise PermanentDriverError(f"{self.host}:{self.port} is not an Asterisk manager (got {banner[:60]!r})")
            try:
                # Events off for a session that only asks and reads answers;
                # on for the event listener (devices.listener).
                self.send("Login", Username=self.username, Secret=self.secret, Events="on" if self.events else "off")
            except AMIError as exc:
                text = f"Asterisk AMI login as {self.username!r} failed: {exc.message}"
                if exc.transient:
                    raise TransientDriverError(text) from None
                raise PermanentDriverError(text) from None
        except BaseException:
            self._close_socket()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            if not self._broken:
                self.send("Logoff")
        except (TransientDriverError, AMIError):
            pass  # the work is done; a lost goodbye changes nothing
        finally:
            self._close_socket()

    def _close_socket(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- actions -------------------------------------------------------------
    def send(self, action: str, **fields: str) -> Message:
        """Send one action and return its response (with its events for a
        list action). Raises AMIError on ``Response: Error``."""
        action_id = f"portal-{next(self._ids)}"
        lines = [("Action", action), ("ActionID", action_id), *fields.items()]
        for key, value in lines:
            # A line break inside a value would end the field and let the
            # rest be read as more fields (or another action).
            if "\r" in str(value) or "\n" in str(value):
                raise PermanentDriverError(f"{action}: the value of {key} contains a line break")
        payload = "".join(f"{k}: {v}\r\n" for k, v in lines) + "\r\n"
        self._send_bytes(payload.encode())

        response = self._read_until(lambda m: m.get("Response") and m.get("ActionID") == action_id)
        if response.get("Response").lower() == "error":
            raise AMIError(action, response.get("Message"))
        if response.get("EventList").lower() == "start":
            while True:
                event = self._read_until(lambda m: m.get("Event") and m.get("ActionID") == action_id)
                response.events.append(event)
                if event.get("EventList").lower() == "complete":
                    break
        return response

    def poll_event(self, wait: float) -> Message | None:
        """The next event, or None when none came within ``wait`` seconds
        (the session stays usable). Raises TransientDriverError when the
        connection is lost."""
        deadline = time.monotonic() + wait
        while True:
            if self._held:
                return self._held.popleft()
            while not self._message_buffered():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._sock.settimeout(remaining)
                try:
                    chunk = self._sock.recv(65536)
                except TimeoutError:
                    return None
                except OSError as exc:
                    raise self._lost(exc) from exc
                finally:
                    if self._sock is not None:
                        self._sock.settimeout(self.timeout)
                if not chunk:
                    self._broken = True
                    raise TransientDriverError(f"Asterisk AMI at {self.host}:{self.port} closed the connection")
                self._buffer += chunk
            message = self._read_message()
            if message.get("Event"):
                return message
            # An answer nobody waits for: skip it.

    def _message_buffered(self) -> bool:
        return b"\r\n\r\n" in self._buffer.lstrip(b"\r\n")

    # -- wire ----------------------------------------------------------------
    def _send_bytes(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise self._lost(exc) from exc

    def _read_until(self, wanted) -> Message:
        while True:
            message = self._read_message()
            if wanted(message):
                return message
            # Otherwise an unsolicited event (or an answer to nobody): an
            # events session keeps events for poll_event(), any other skips.
            if self.events and message.get("Event"):
                self._held.append(message)

    def _read_message(self) -> Message:
        fields: list[tuple[str, str]] = []
        while True:
            line = self._read_line()
            if line == "":
                if fields:
                    return Message(fields)
                continue
            key, _, value = line.partition(":")
            # Asterisk skips the blanks after the colon and keeps the rest.
            fields.append((key.strip(), value.lstrip(" ")))

    def _read_line(self) -> str:
        while b"\r\n" not in self._buffer:
            try:
                chunk = self._sock.recv(65536)
            except OSError as exc:
                raise self._lost(exc) from exc
            if not chunk:
                self._broken = True
                raise TransientDriverError(f"Asterisk AMI at {self.host}:{self.port} closed the connection")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line.decode("utf-8", errors="replace")

    def _lost(self, exc: OSError) -> TransientDriverError:
        self._broken = True
        if isinstance(exc, TimeoutError):
            return TransientDriverError(
                f"Asterisk AMI at {self.host}:{self.port} did not answer within {self.timeout:g} s"
            )
        return TransientDriverError(f"connection to Asterisk AMI at {self.host}:{self.port} failed: {exc}")
