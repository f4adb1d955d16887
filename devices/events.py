"""What a PBX event means for the portal: pure functions over an event's
fields (the AMI's names; the simulated PBX writes the same ones).

An event never carries the whole truth (AstDB writes raise no event, and
the order of events differs between runs), so it only says *whose* devices
to read again: ``Effect.numbers``. The listener then re-reads those
extensions and records or clears mismatches, so the order in which events
arrive does not matter. Line states are the exception: a real device's
``DeviceStateChange`` carries the state itself, and a newer event for the
same device replaces an older one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.conf import settings

# Asterisk device states -> the portal's line states (devices.models.LineState).
LINE_STATES = {
    "NOT_INUSE": "idle",
    "RINGING": "ringing",
    "RINGINUSE": "ringing",
    "INUSE": "on_call",
    "BUSY": "on_call",
    "ONHOLD": "on_hold",
    "UNAVAILABLE": "unavailable",
    "INVALID": "unavailable",
    "UNKNOWN": "unavailable",
}

# Events after which every device may differ from what the portal knows:
# the PBX (re)started or reloaded.
PBX_BACK_EVENTS = {"fullybooted", "reload"}
QUEUE_EVENTS = {"queuememberadded", "queuememberremoved", "queuememberpause", "queuememberpaused"}


@dataclass
class Effect:
    """What a set of events asks for."""

    numbers: set[str] = field(default_factory=set)  # extensions to read again
    lines: dict[str, str] = field(default_factory=dict)  # extension -> line state, the latest wins
    pbx_back: bool = False

    def __bool__(self) -> bool:
        return bool(self.numbers or self.lines or self.pbx_back)

    def add(self, other: Effect) -> None:
        self.numbers |= other.numbers
        self.lines.update(other.lines)
        self.pbx_back = self.pbx_back or other.pbx_back


def template_pattern(template: str) -> re.Pattern:
    """A device-name template such as ``Custom:DND{ext}`` as a regular
    expression that captures the extension (Asterisk compares device names
    case-insensitively)."""
    parts = [re.escape(p) for p in template.split("{ext}")]
    return re.compile(r"(?P<ext>[0-9A-Za-z*#+]+)".join(parts), re.IGNORECASE)


class EventReader:
    """Reads events with the dialplan conventions of the settings."""

    def __init__(self):
        self.state_devices = [
            template_pattern(settings.AMI_DND_DEVICE),
            template_pattern(settings.AMI_CF_DEVICE),
        ]
        self.line_device = template_pattern(settings.AMI_LINE_DEVICE)
        self.presence = template_pattern(settings.AMI_PRESENCE_PROVIDER)
        self.queue_interfaces = [
            template_pattern(settings.AMI_QUEUE_INTERFACE),
            template_pattern(settings.AMI_QUEUE_STATE_INTERFACE),
        ]

    @staticmethod
    def _match(patterns: list[re.Pattern], value: str) -> str | None:
        for pattern in patterns:
            match = pattern.fullmatch(value)
            if match:
                return match.group("ext")
        return None

    def read(self, event: dict[str, str]) -> Effect:
        """The effect of one event, given as its fields (keys as sent)."""
        get = {k.lower(): v for k, v in event.items()}.get
        name = (get("event") or "").lower()
        effect = Effect()
        if name in PBX_BACK_EVENTS:
            effect.pbx_back = True
        elif name == "devicestatechange":
            device, state = get("device") or "", (get("state") or "").upper()
            number = self._match(self.state_devices, device)
            if number:
                effect.numbers.add(number)
            else:
                number = self._match([self.line_device], device)
                if number and state in LINE_STATES:
                    effect.lines[number] = LINE_STATES[state]
        elif name == "extensionstatus":
            if get("exten"):
                effect.numbers.add(get("exten"))
        elif name == "presencestatechange":
            number = self._match([self.presence], get("presentity") or "")
            if number:
                effect.numbers.add(number)
        elif name in QUEUE_EVENTS:
            for key in ("interface", "location", "stateinterface"):
                number = self._match(self.queue_interfaces, get(key) or "")
                if number:
                    effect.numbers.add(number)
        return effect

    def read_all(self, events) -> Effect:
        total = Effect()
        for event in events:
            total.add(self.read(event))
        return total


def describe(event: dict[str, str]) -> str:
    """One line for the listener's status: the event and its subject."""
    get = {k.lower(): v for k, v in event.items()}.get
    subject = next(
        (get(k) for k in ("device", "presentity", "interface", "exten", "status") if get(k)),
        "",
    )
    state = get("state") or ""
    return " ".join(p for p in (get("event") or "?", subject, state) if p)[:200]
