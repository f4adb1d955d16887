"""The interface every PBX driver implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from devices.state import Command, ExtensionState


class DriverError(Exception):
    """A failure talking to the phone system. ``transient`` errors (network,
    timeouts, a busy PBX) are retried with backoff; permanent ones (bad
    credentials, an unknown extension) are recorded and shown to the user."""

    transient = False


class TransientDriverError(DriverError):
    transient = True


class PermanentDriverError(DriverError):
    transient = False


@dataclass(frozen=True)
class StepResult:
    command: Command
    ok: bool
    error: str = ""
    transient: bool = False
    duration_ms: int = 0


class Driver(Protocol):
    def read(self, numbers: list[str]) -> dict[str, ExtensionState]:
        """The actual, fully specified state of these extensions (unknown
        numbers are left out). Raises DriverError."""

    def apply(self, commands: list[Command]) -> list[StepResult]:
        """Send commands in order; stop at the first failure. Returns one
        result per command attempted (the last one failed if not all ok)."""
