"""The Asterisk driver: a user's device state over the Manager Interface.

Where each field lives on the PBX (names are settings, FreePBX-style
defaults; README "Asterisk driver"):

* DND: AstDB ``DND/<ext>`` = ``YES``, plus the lamp, custom device state
  ``Custom:DND<ext>`` (BUSY on, NOT_INUSE off).
* forward: AstDB ``CF/<ext>`` = target.
* teams: queue membership of ``Local/<ext>@from-queue/n`` in the team's
  queue (QueueAdd / QueueRemove / QueuePause), read with QueueStatus.
* presence: ``CustomPresence:<ext>``, status ``dnd`` while DND is on, else
  ``available``; the message is the profile name.
* what Asterisk has no standard place for (DND message, destination
  activity and FollowMe timing, group pickup per team, location, GSM mode):
  the portal's own AstDB family, ``PORTAL/<ext>/<field>``, for the dialplan
  to use. Kept there, read() returns a fully specified state and a second
  converge sends nothing.

One AMI session per read() or apply(). The Team and Destination rows are
read from the database before the session opens, never inside a
transaction.
"""

from __future__ import annotations

import base64
import time

from django.conf import settings

from devices.drivers.ami import AMIConnection, AMIError
from devices.drivers.base import DriverError, PermanentDriverError, StepResult
from devices.models import Extension, Team
from devices.state import NO_LOCATION, OPS, Command, DestinationState, ExtensionState, TeamState

# DBDel of a key that is not there. The key's absence is what was asked
# for, so this answer is success.
DB_KEY_ABSENT = "Database entry could not be deleted"


def _conn(*, events: bool = False, timeout: float | None = None) -> AMIConnection:
    return AMIConnection(
        settings.AMI_HOST,
        settings.AMI_PORT,
        settings.AMI_USERNAME,
        settings.AMI_SECRET,
        timeout=float(settings.AMI_TIMEOUT) if timeout is None else timeout,
        events=events,
    )


def _name(template: str, ext: str) -> str:
    # replace, not format: a member name may hold other braces.
    return template.replace("{ext}", ext)


def presence_value(text: str, dnd: bool) -> str:
    """The PRESENCE_STATE value for a presence text. The plain form
    ``status,,message`` cannot carry a comma or a line break in the message;
    such texts go base64-encoded with the ``e`` option."""
    status = "dnd" if dnd else "available"
    if any(c in text for c in ",\r\n"):
        return f"{status},,{base64.b64encode(text.encode()).decode()},e"
    return f"{status},,{text}"


def db_get(ami: AMIConnection, family: str, key: str) -> str | None:
    try:
        response = ami.send("DBGet", Family=family, Key=key)
    except AMIError as exc:
        if exc.message == "Database entry not found":
            return None
        raise
    return next((e.get("Val") for e in response.items), None)


def portal_fields(ami: AMIConnection, number: str) -> dict[str, str]:
    """The extension's keys in the portal's AstDB family, e.g. {"gsm": "1"}."""
    family = f"{settings.AMI_PORTAL_FAMILY}/{number}"
    # An empty or missing family answers an empty list (ListItems: 0).
    tree = ami.send("DBGetTree", Family=family)
    prefix = f"/{family}/"
    return {e.get("Key").removeprefix(prefix): e.get("Val") for e in tree.items}


def presence_text(ami: AMIConnection, number: str) -> str:
    try:
        response = ami.send("PresenceState", Provider=_name(settings.AMI_PRESENCE_PROVIDER, number))
    except AMIError as exc:
        if exc.transient:
            raise
        # Any other error reads as no presence (a provider that does not
        # exist, say).
        return ""
    # A CustomPresence never set answers State: not_set without a message.
    return response.get("PresenceMessage")


class AsteriskDriver:
    # -- read ------------------------------------------------------------------
    def read(self, numbers: list[str]) -> dict[str, ExtensionState]:
        extensions = list(
            Extension.objects.filter(number__in=numbers).prefetch_related("destinations", "teams").order_by("number")
        )
        if not extensions:
            return {}
        with _conn() as ami:
            return {ext.number: self._read_one(ami, ext) for ext in extensions}

    def _read_one(self, ami: AMIConnection, ext: Extension) -> ExtensionState:
        number = ext.number
        portal = portal_fields(ami, number)
        dnd = db_get(ami, settings.AMI_DND_FAMILY, number) is not None
        forward = db_get(ami, settings.AMI_CF_FAMILY, number) or ""

        destinations = {}
        for dest in ext.destinations.all():
            prefix = f"dest/{dest.pk}/"
            destinations[str(dest.pk)] = DestinationState(
                active=portal.get(prefix + "active", "1") == "1",
                ring_delay=int(portal.get(prefix + "ring_delay", dest.ring_delay)),
                ring_timeout=int(portal.get(prefix + "ring_timeout", dest.ring_timeout)),
            )

        interface = _name(settings.AMI_QUEUE_INTERFACE, number)
        teams = {}
        for team in ext.teams.all():
            status = ami.send("QueueStatus", Queue=team.queue, Member=interface)
            member = next(
                (e for e in status.items if e.get("Event") == "QueueMember" and e.get("Location") == interface), None
            )
            logged_in = member is not None
            teams[str(team.pk)] = TeamState(
                logged_in=logged_in,
                paused=logged_in and member.get("Paused") == "1",
                # Pickup follows login unless set on its own (docs/rules.md#rule-11).
                pickup=portal.get(f"pickup/{team.queue}", "1" if logged_in else "0") == "1",
            )

        return ExtensionState(
            dnd=dnd,
            dnd_message=portal.get("dnd_message", "") if dnd else "",
            forward=forward,
            destinations=destinations,
            teams=teams,
            location=int(portal.get("location", NO_LOCATION)),
            gsm=portal.get("gsm", "0") == "1",
            presence=presence_text(ami, number),
        )

    # -- apply -----------------------------------------------------------------
    def apply(self, commands: list[Command]) -> list[StepResult]:
        if not commands:
            return []
        team_ids = {str(c.args["team"]) for c in commands if "team" in c.args}
        queues = {str(pk): queue for pk, queue in Team.objects.filter(pk__in=team_ids).values_list("pk", "queue")}
        results: list[StepResult] = []
        with _conn() as ami:
            session = _ApplySession(ami, queues)
            for command in commands:
                started = time.perf_counter()
                try:
                    session.run(command)
                except DriverError as exc:
                    # A lost connection mid-apply is a failed, transient
                    # step: the steps before it did happen and are recorded.
                    results.append(
                        StepResult(command, ok=False, error=str(exc), transient=exc.transient, duration_ms=_ms(started))
                    )
                    break
                results.append(StepResult(command, ok=True, duration_ms=_ms(started)))
        return results


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


class _ApplySession:
    """Runs commands on one AMI session. Remembers DND and presence text per
    extension once known, because each sets half of the presence state."""

    def __init__(self, ami: AMIConnection, queues: dict[str, str]):
        self.ami = ami
        self.queues = queues
        self.dnd: dict[str, bool] = {}
        self.presence: dict[str, str] = {}

    def run(self, command: Command) -> None:
        if command.op not in OPS:
            raise PermanentDriverError(f"the Asterisk driver cannot {command.op!r}")
        getattr(self, command.op)(command.extension, command.args)

    # DND, forward, presence
    def set_dnd(self, ext, a):
        on = bool(a["on"])
        message = a.get("message", "") if on else ""
        if on:
            self._put(settings.AMI_DND_FAMILY, ext, "YES")
        else:
            self._delete(settings.AMI_DND_FAMILY, ext)
        self._portal(ext, "dnd_message", message or None)
        self._setvar(f"DEVICE_STATE({_name(settings.AMI_DND_DEVICE, ext)})", "BUSY" if on else "NOT_INUSE")
        self.dnd[ext] = on
        self._set_presence(ext, self._known_presence(ext), on)

    def set_forward(self, ext, a):
        if a["target"]:
            self._put(settings.AMI_CF_FAMILY, ext, a["target"])
        else:
            self._delete(settings.AMI_CF_FAMILY, ext)

    def set_presence(self, ext, a):
        if ext not in self.dnd:
            self.dnd[ext] = db_get(self.ami, settings.AMI_DND_FAMILY, ext) is not None
        self._set_presence(ext, a["text"], self.dnd[ext])

    def _known_presence(self, ext: str) -> str:
        if ext not in self.presence:
            self.presence[ext] = presence_text(self.ami, ext)
        return self.presence[ext]

    def _set_presence(self, ext: str, text: str, dnd: bool) -> None:
        provider = _name(settings.AMI_PRESENCE_PROVIDER, ext)
        self._setvar(f"PRESENCE_STATE({provider})", presence_value(text, dnd))
        self.presence[ext] = text

    # teams
    def team_login(self, ext, a):
        self.ami.send(
            "QueueAdd",
            Queue=self._queue(a),
            Interface=_name(settings.AMI_QUEUE_INTERFACE, ext),
            MemberName=_name(settings.AMI_QUEUE_MEMBER_NAME, ext),
            StateInterface=_name(settings.AMI_QUEUE_STATE_INTERFACE, ext),
            Penalty="0",
            Paused="false",
        )
        self._portal(ext, f"pickup/{self._queue(a)}", "1")

    def team_logout(self, ext, a):
        try:
            self.ami.send("QueueRemove", Queue=self._queue(a), Interface=_name(settings.AMI_QUEUE_INTERFACE, ext))
        except AMIError as exc:
            # "Unable to remove interface: Not there": already logged out.
            if not exc.message.endswith("Not there"):
                raise
        self._portal(ext, f"pickup/{self._queue(a)}", "0")

    def team_pause(self, ext, a, paused=True):
        self.ami.send(
            "QueuePause",
            Interface=_name(settings.AMI_QUEUE_INTERFACE, ext),
            Queue=self._queue(a),
            Paused="true" if paused else "false",
            Reason="portal-pause" if paused else "portal-unpause",
        )

    def team_unpause(self, ext, a):
        self.team_pause(ext, a, paused=False)

    def set_pickup(self, ext, a):
        self._portal(ext, f"pickup/{self._queue(a)}", "1" if a["on"] else "0")

    # the portal's own fields
    def set_destination(self, ext, a):
        for field in ("active", "ring_delay", "ring_timeout"):
            if field in a:
                value = ("1" if a[field] else "0") if field == "active" else str(int(a[field]))
                self._portal(ext, f"dest/{a['destination']}/{field}", value)

    def set_location(self, ext, a):
        self._portal(ext, "location", str(int(a["location"])) if a["location"] != NO_LOCATION else None)

    def set_gsm(self, ext, a):
        self._portal(ext, "gsm", "1" if a["on"] else "0")

    # helpers
    def _queue(self, a) -> str:
        try:
            return self.queues[str(a["team"])]
        except KeyError:
            raise PermanentDriverError(f"team {a['team']} does not exist in the portal") from None

    def _portal(self, ext: str, key: str, value: str | None) -> None:
        family = f"{settings.AMI_PORTAL_FAMILY}/{ext}"
        if value is None:
            self._delete(family, key)
        else:
            self._put(family, key, value)

    def _put(self, family: str, key: str, value: str) -> None:
        self.ami.send("DBPut", Family=family, Key=key, Val=value)

    def _delete(self, family: str, key: str) -> None:
        try:
            self.ami.send("DBDel", Family=family, Key=key)
        except AMIError as exc:
            if exc.message != DB_KEY_ABSENT:
                raise

    def _setvar(self, variable: str, value: str) -> None:
        self.ami.send("Setvar", Variable=variable, Value=value)
