"""A fake Asterisk Manager Interface peer for the Asterisk driver's tests.

A real TCP server on 127.0.0.1 (random port, one thread per connection)
speaking the wire format recorded from Asterisk 22 in
shared/reference/asterisk-ami/session.txt: the banner, ``Key: Value`` lines
ending in CRLF, a blank line after each message, list responses
(``EventList: start`` … ``…Complete``), and the recorded answers, field for
field (tests/test_asterisk_driver.py replays the recording against it).

State is kept in memory the way Asterisk keeps it: AstDB as a dict of
``/Family/Key`` paths, with custom device states under ``CustomDevstate``,
custom presence under ``CustomPresence`` and persistent queue members under
``Queue/PersistentMembers``, as the real modules store them; queues with
their members.

Knobs for tests: ``login_delay`` (a failed login answers this late; the
real server takes about 1 s), ``chatty`` (send unsolicited events before
answers and inside lists even though the client asked for ``Events: off``),
``drop_on`` (close the connection, unanswered, on these actions),
``hang_on`` (keep the connection open and never answer these actions),
``shutting_down`` (answer every action, login included, ``Asterisk is
shutting down``, as a stopping or gracefully restarting Asterisk does),
``denied`` (answer these actions ``Permission denied``).
``received`` records every action as sent.

Events: a session logged in with ``Events: on`` receives every state
change (device state, presence, queue members) made by any session, and
those a person makes at a handset (``handset_dnd``, ``handset_forward``,
``line``: FreePBX's feature codes and a real phone's device state).
``restart()`` drops every connection and comes back with ``FullyBooted``,
keeping AstDB and persistent queue members as the real server does.

Answers the recording does not show (marked "not recorded" below) follow
Asterisk's source as closely as we know it; the driver does not depend on
their exact text.
"""

from __future__ import annotations

import base64
import re
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field

BANNER = "Asterisk Call Manager/11.0.0"
Fields = list[tuple[str, str]]

TRUE = {"1", "true", "yes", "on", "y", "t"}
DEVICE_STATES = {"UNKNOWN", "NOT_INUSE", "INUSE", "BUSY", "INVALID", "UNAVAILABLE", "RINGING", "RINGINUSE", "ONHOLD"}
PRESENCE_STATES = {"not_set", "unavailable", "available", "away", "xa", "chat", "dnd"}
QUEUE_PARAMS: Fields = [
    ("Max", "0"),
    ("Strategy", "ringall"),
    ("Calls", "0"),
    ("Holdtime", "0"),
    ("TalkTime", "0"),
    ("Completed", "0"),
    ("Abandoned", "0"),
    ("ServiceLevel", "0"),
    ("ServicelevelPerf", "0.0"),
    ("ServicelevelPerf2", "0.0"),
    ("Weight", "0"),
]

# serve_forever's keyword for the tests' servers: socketserver looks for
# shutdown() every poll_interval, 0.5 s by default, so stopping a server
# (after every test that starts one) waited up to half a second.
QUICK_STOP = {"poll_interval": 0.01}


@dataclass
class Member:
    interface: str
    name: str
    state_interface: str
    penalty: int = 0
    paused: bool = False
    reason: str = ""
    login_time: int = field(default_factory=lambda: int(time.time()))
    last_pause: int = 0


class Request:
    """One action as received: ordered fields, case-insensitive lookup."""

    def __init__(self, fields: Fields):
        self.fields = fields

    def get(self, key: str, default: str = "") -> str:
        return next((v for k, v in self.fields if k.lower() == key.lower()), default)

    @property
    def action(self) -> str:
        return self.get("Action")

    def as_dict(self) -> dict[str, str]:
        """The fields without ActionID, for assertions on wire traffic."""
        return {k: v for k, v in self.fields if k.lower() != "actionid"}


class FakeAsterisk:
    def __init__(
        self,
        *,
        username: str = "portal",
        secret: str = "portalsecret",
        login_delay: float = 1.0,
        queues: tuple[str, ...] = ("support", "sales"),
        chatty: bool = False,
    ):
        self.username, self.secret = username, secret
        self.login_delay = login_delay
        self.chatty = chatty
        self.drop_on: set[str] = set()
        self.hang_on: set[str] = set()
        self.denied: set[str] = set()
        self.shutting_down = False
        self.sessions: set[Session] = set()
        self.devices: dict[str, str] = {}  # real devices' states, e.g. PJSIP/1000 -> INUSE
        self.astdb: dict[str, str] = {}
        self.queues: dict[str, dict[str, Member]] = {q: {} for q in queues}
        self.received: list[Request] = []
        self.lock = threading.RLock()
        self._server: socketserver.ThreadingTCPServer | None = None

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> FakeAsterisk:
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            disable_nagle_algorithm = True

            def handle(self):
                Session(fake, self.rfile, self.wfile, self.request).run()

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs=QUICK_STOP, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.hang_up_all()

    def hang_up_all(self) -> None:
        """Close every open manager connection, as a stopping Asterisk does."""
        with self.lock:
            sessions = list(self.sessions)
        for session in sessions:
            session.close()

    def restart(self) -> None:
        """Asterisk restarted: every connection drops; AstDB and persistent
        queue members survive; new logins get FullyBooted."""
        self.shutting_down = False
        self.hang_up_all()

    # -- events ------------------------------------------------------------------
    def broadcast(self, *fields: tuple[str, str], origin: Session | None = None) -> None:
        """Send an event to every session that asked for events (and to a
        chatty origin), as Asterisk's manager does."""
        message = [fields[0], ("Privilege", "call,all"), *fields[1:]]
        with self.lock:
            targets = [s for s in self.sessions if s.events or (s is origin and self.chatty)]
        for session in targets:
            session.send(message)

    def set_custom_device(self, device: str, state: str, origin: Session | None = None) -> None:
        self.astdb[f"/CustomDevstate/{device[7:]}"] = state
        self.broadcast(("Event", "DeviceStateChange"), ("Device", device), ("State", state), origin=origin)

    def handset_dnd(self, ext: str, on: bool) -> None:
        """*76/*78/*79 on a FreePBX phone: AstDB (no event) and the lamp (an event)."""
        if on:
            self.astdb[f"/DND/{ext}"] = "YES"
        else:
            self.astdb.pop(f"/DND/{ext}", None)
        self.set_custom_device(f"Custom:DND{ext}", "BUSY" if on else "NOT_INUSE")

    def handset_forward(self, ext: str, target: str) -> None:
        """*72/*73: AstDB CF/<ext> (no event) and the lamp Custom:CF<ext>."""
        if target:
            self.astdb[f"/CF/{ext}"] = target
        else:
            self.astdb.pop(f"/CF/{ext}", None)
        self.set_custom_device(f"Custom:CF{ext}", "BUSY" if target else "NOT_INUSE")

    def line(self, device: str, state: str) -> None:
        """A real phone's device state changes (a call rings, is answered, held, ends)."""
        self.devices[device] = state
        self.broadcast(("Event", "DeviceStateChange"), ("Device", device), ("State", state))

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    # -- helpers for tests -------------------------------------------------------
    def actions(self, *names: str) -> list[dict[str, str]]:
        """Received actions (without ActionID), optionally only these names."""
        wanted = {n.lower() for n in names}
        return [r.as_dict() for r in self.received if not wanted or r.action.lower() in wanted]

    def db(self, family: str, key: str) -> str | None:
        return self.astdb.get(f"/{family}/{key}")

    def member(self, queue: str, interface: str) -> Member | None:
        return self.queues.get(queue, {}).get(interface)

    def device_state(self, device: str) -> str:
        if device.lower().startswith("custom:"):
            return self.astdb.get(f"/CustomDevstate/{device[7:]}", "UNKNOWN")
        return self.devices.get(device, "UNAVAILABLE")

    def presence(self, provider: str) -> tuple[str, str, str] | None:
        """(state, subtype, message) of a CustomPresence provider, decoded."""
        raw = self.astdb.get(f"/CustomPresence/{provider.split(':', 1)[1]}") if ":" in provider else None
        return parse_presence(raw) if raw is not None else None

    def member_status(self, member: Member) -> int:
        # The state interface hint:<ext>@ext-local is Custom:DND<ext> (the
        # recorded hint): BUSY -> 3 (AST_DEVICE_BUSY), else 1 (NOT_INUSE).
        match = re.match(r"hint:([^@]+)@", member.state_interface)
        busy = match is not None and self.device_state(f"Custom:DND{match.group(1)}") == "BUSY"
        return 3 if busy else 1

    def save_persistent_members(self, queue: str) -> None:
        # app_queue's persistentmembers = yes: one AstDB value per queue.
        members = self.queues[queue].values()
        key = f"/Queue/PersistentMembers/{queue}"
        if not members:
            self.astdb.pop(key, None)
            return
        self.astdb[key] = "|".join(
            f"{m.interface};{m.penalty};{int(m.paused)};{m.name};{m.state_interface};{m.reason};0" for m in members
        )


def parse_presence(raw: str) -> tuple[str, str, str] | None:
    """func_presencestate's value syntax: state,subtype,message[,options];
    option ``e`` means subtype and message are base64-encoded."""
    parts = raw.split(",", 3)
    state = parts[0].lower()
    subtype = parts[1] if len(parts) > 1 else ""
    message = parts[2] if len(parts) > 2 else ""
    options = parts[3] if len(parts) > 3 else ""
    if state not in PRESENCE_STATES or (options and "e" not in options):
        return None
    if "e" in options:
        subtype = base64.b64decode(subtype).decode() if subtype else ""
        message = base64.b64decode(message).decode() if message else ""
    return state, subtype, message


class Session:
    """One manager connection."""

    def __init__(self, fake: FakeAsterisk, rfile, wfile, sock=None):
        self.fake = fake
        self.rfile, self.wfile = rfile, wfile
        self.sock = sock
        self.logged_in = False
        self.events = False
        self.write_lock = threading.Lock()  # events come from other sessions' threads

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- wire ------------------------------------------------------------------
    def run(self) -> None:
        with self.fake.lock:
            self.fake.sessions.add(self)
        try:
            self._run()
        except OSError:
            pass  # the peer or restart() closed the connection
        finally:
            with self.fake.lock:
                self.fake.sessions.discard(self)

    def _run(self) -> None:
        self.write_line(BANNER)
        while True:
            request = self.read_request()
            if request is None:
                return
            with self.fake.lock:
                self.fake.received.append(request)
            name = request.action.lower()
            if name in {n.lower() for n in self.fake.drop_on}:
                return  # StreamRequestHandler closes the socket
            if name in {n.lower() for n in self.fake.hang_on}:
                self.rfile.read()  # never answer; wait for the client to give up
                return
            if self.fake.shutting_down:
                # Every action, Login included, while Asterisk stops or
                # waits for a graceful restart.
                self.send(self.error(request, "Asterisk is shutting down"))
                continue
            if name in {n.lower() for n in self.fake.denied}:
                self.send(self.error(request, "Permission denied"))
                continue
            if name == "login":
                if not self.login(request):
                    return
                continue
            if not self.logged_in:
                self.send(self.error(request, "Authentication Required"))  # not recorded
                continue
            handler = getattr(self, "do_" + name, None)
            with self.fake.lock:
                messages = handler(request) if handler else [self.error(request, "Invalid/unknown command")]
            self.noise()
            for i, message in enumerate(messages):
                if i == len(messages) - 1 and len(messages) > 2:
                    self.noise()  # an event inside a list: the client must skip it
                self.send(message)
            if name == "logoff":
                return

    def read_request(self) -> Request | None:
        fields: Fields = []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return None
            line = raw.decode().rstrip("\r\n")
            if line == "":
                if fields:
                    return Request(fields)
                continue
            key, _, value = line.partition(":")
            fields.append((key.strip(), value.lstrip(" ")))

    def write_line(self, line: str) -> None:
        with self.write_lock:
            self.wfile.write((line + "\r\n").encode())
            self.wfile.flush()

    def send(self, fields: Fields) -> None:
        try:
            with self.write_lock:
                self.wfile.write(("".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n").encode())
                self.wfile.flush()
        except (OSError, ValueError):
            pass  # a connection closed meanwhile; its reader thread ends it

    def noise(self) -> None:
        if self.fake.chatty or self.events:
            self.send(
                [
                    ("Event", "DeviceStateChange"),
                    ("Privilege", "call,all"),
                    ("Device", "Custom:DND9999"),
                    ("State", "BUSY"),
                ]
            )

    # -- message shapes ----------------------------------------------------------
    @staticmethod
    def _id(request: Request) -> Fields:
        action_id = request.get("ActionID")
        return [("ActionID", action_id)] if action_id else []

    def ok(self, request: Request, *fields: tuple[str, str], status: str = "Success") -> Fields:
        return [("Response", status), *self._id(request), *fields]

    def error(self, request: Request, message: str) -> Fields:
        return [("Response", "Error"), *self._id(request), ("Message", message)]

    def list_ack(self, request: Request, message: str) -> Fields:
        return [("Response", "Success"), *self._id(request), ("EventList", "start"), ("Message", message)]

    def item(self, request: Request, event: str, *fields: tuple[str, str], id_first: bool = False) -> Fields:
        if id_first:
            return [("Event", event), *self._id(request), *fields]
        return [("Event", event), *fields, *self._id(request)]

    def complete(self, request: Request, event: str, count: int) -> Fields:
        return [("Event", event), *self._id(request), ("EventList", "Complete"), ("ListItems", str(count))]

    def a_list(self, request: Request, ack: str, complete: str, items: list[Fields]) -> list[Fields]:
        return [self.list_ack(request, ack), *items, self.complete(request, complete, len(items))]

    # -- login -------------------------------------------------------------------
    def login(self, request: Request) -> bool:
        if request.get("Username") != self.fake.username or request.get("Secret") != self.fake.secret:
            time.sleep(self.fake.login_delay)
            self.send(self.error(request, "Authentication failed"))
            return False  # the real server then ends the session
        self.logged_in = True
        self.events = request.get("Events", "on").lower() not in ("off", "no", "false", "0")
        self.send(self.ok(request, ("Message", "Authentication accepted")))
        if self.fake.chatty or self.events:
            self.send(
                [
                    ("Event", "FullyBooted"),
                    ("Privilege", "system,all"),
                    ("Uptime", "53"),
                    ("LastReload", "53"),
                    ("Status", "Fully Booted"),
                ]
            )
        return True

    # -- actions -------------------------------------------------------------------
    def do_ping(self, r):
        return [self.ok(r, ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}"))]

    def do_logoff(self, r):
        return [self.ok(r, ("Message", "Thanks for all the fish."), status="Goodbye")]

    def do_dbput(self, r):
        family, key = r.get("Family"), r.get("Key")
        if not family:
            return [self.error(r, "No family specified")]
        if not key:
            return [self.error(r, "No key specified")]
        self.fake.astdb[f"/{family}/{key}"] = r.get("Val")
        return [self.ok(r, ("Message", "Updated database successfully"))]

    def do_dbget(self, r):
        family, key = r.get("Family"), r.get("Key")
        value = self.fake.astdb.get(f"/{family}/{key}")
        if value is None:
            return [self.error(r, "Database entry not found")]
        item = self.item(r, "DBGetResponse", ("Family", family), ("Key", key), ("Val", value))
        return self.a_list(r, "Result will follow", "DBGetComplete", [item])

    def do_dbgettree(self, r):
        prefix = "/" + "/".join(p for p in (r.get("Family"), r.get("Key")) if p)
        prefix = prefix.rstrip("/") + "/"
        # Not recorded: an empty tree. Answered as an empty list.
        items = [
            self.item(r, "DBGetTreeResponse", ("Key", k), ("Val", v))
            for k, v in sorted(self.fake.astdb.items())
            if k.startswith(prefix)
        ]
        return self.a_list(r, "Result will follow", "DBGetTreeComplete", items)

    def do_dbdel(self, r):
        path = f"/{r.get('Family')}/{r.get('Key')}"
        if self.fake.astdb.pop(path, None) is None:
            return [self.error(r, "Database entry could not be deleted")]  # not recorded
        return [self.ok(r, ("Message", "Key deleted successfully"))]

    def do_getvar(self, r):
        variable = r.get("Variable")
        match = re.fullmatch(r"(\w+)\((.*)\)", variable)
        value = ""
        if match and match.group(1) == "DEVICE_STATE":
            value = self.fake.device_state(match.group(2))
        elif match and match.group(1) == "PRESENCE_STATE":
            provider, _, what = match.group(2).partition(",")
            state = self.fake.presence(provider) or ("not_set", "", "")
            value = {"value": state[0], "subtype": state[1], "message": state[2]}.get(what.split(",")[0], "")
        elif not match:
            # A channel-less global variable: the fake keeps none.
            return [self.error(r, "Variable not set")]
        # DB(...) reads are blocked by default ("Dangerous function DB read
        # blocked"): an empty value, as recorded.
        return [self.ok(r, ("Variable", variable), ("Value", value))]

    def do_setvar(self, r):
        variable, value = r.get("Variable"), r.get("Value")
        match = re.fullmatch(r"(\w+)\((.*)\)", variable)
        if match and match.group(1) == "DEVICE_STATE":
            device = match.group(2)
            if not device.lower().startswith("custom:") or value.upper() not in DEVICE_STATES:
                return [self.error(r, "Failed to set variable")]  # not recorded
            self.fake.set_custom_device(device, value.upper(), origin=self)
        elif match and match.group(1) == "PRESENCE_STATE":
            provider = match.group(2)
            parsed = parse_presence(value)
            if not provider.startswith("CustomPresence:") or parsed is None:
                return [self.error(r, "Failed to set variable")]  # not recorded
            self.fake.astdb[f"/CustomPresence/{provider.split(':', 1)[1]}"] = value
            self.state_event(
                ("Event", "PresenceStateChange"),
                ("Presentity", provider),
                ("Status", parsed[0]),
                ("Subtype", parsed[1]),
                ("Message", parsed[2]),
            )
        return [self.ok(r, ("Message", "Variable Set"))]

    def state_event(self, *fields: tuple[str, str]) -> None:
        # To every events session; to this one before the answer, as the
        # real server may do.
        self.fake.broadcast(*fields, origin=self)

    def do_presencestate(self, r):
        provider = r.get("Provider")
        if not provider:
            return [self.error(r, "No provider specified")]
        if not provider.startswith("CustomPresence:"):
            return [self.error(r, f"Invalid provider {provider} or provider in invalid state")]  # not recorded
        # A provider never set: Success, State: not_set, no message (seen
        # on Asterisk 22.10.1).
        status, subtype, message = self.fake.presence(provider) or ("not_set", "", "")
        fields = [("Message", "Presence State"), ("State", status)]
        if subtype:
            fields.append(("Subtype", subtype))
        if message:
            fields += [("Message", message), ("PresenceMessage", message)]
        return [self.ok(r, *fields)]

    def do_presencestatelist(self, r):
        items = []
        for path in sorted(k for k in self.fake.astdb if k.startswith("/CustomPresence/")):
            provider = "CustomPresence:" + path.rsplit("/", 1)[1]
            status, subtype, message = self.fake.presence(provider) or ("invalid", "", "")
            fields = (("Presentity", provider), ("Status", status), ("Subtype", subtype), ("Message", message))
            items.append(self.item(r, "PresenceStateChange", *fields, id_first=True))
        return self.a_list(r, "Presence State Changes will follow", "PresenceStateListComplete", items)

    def do_devicestatelist(self, r):
        states = []
        for queue, members in self.fake.queues.items():
            available = any(not m.paused and self.fake.member_status(m) == 1 for m in members.values())
            states.append((f"Queue:{queue}_avail", "NOT_INUSE" if available else "INUSE"))
            for m in members.values():
                states.append((f"Queue:{queue}_pause_{m.interface}", "INUSE" if m.paused else "NOT_INUSE"))
        for path in sorted(k for k in self.fake.astdb if k.startswith("/CustomDevstate/")):
            states.append(("Custom:" + path.rsplit("/", 1)[1], self.fake.astdb[path]))
        items = [self.item(r, "DeviceStateChange", ("Device", d), ("State", s), id_first=True) for d, s in states]
        return self.a_list(r, "Device State Changes will follow", "DeviceStateListComplete", items)

    def do_extensionstate(self, r):
        exten, context = r.get("Exten"), r.get("Context")
        if context == "ext-local" and exten.isdigit():
            hint = f"Custom:DND{exten},CustomPresence:{exten}"
            busy = self.fake.device_state(f"Custom:DND{exten}") == "BUSY"
            status, text = ("2", "Busy") if busy else ("0", "Idle")
        else:
            hint, status, text = "", "-1", "Unknown"  # not recorded
        fields = [("Message", "Extension Status"), ("Exten", exten), ("Context", context)]
        return [self.ok(r, *fields, ("Hint", hint), ("Status", status), ("StatusText", text))]

    # queues
    def do_queueadd(self, r):
        queue, interface = r.get("Queue"), r.get("Interface")
        if not queue or not interface:
            return [self.error(r, "'Queue' not specified.")]  # not recorded
        if queue not in self.fake.queues:
            return [self.error(r, "Unable to add interface to queue: No such queue")]  # not recorded
        if interface in self.fake.queues[queue]:
            return [self.error(r, "Unable to add interface: Already there")]  # not recorded
        paused = r.get("Paused").lower() in TRUE
        member = Member(
            interface=interface,
            name=r.get("MemberName") or interface,
            state_interface=r.get("StateInterface") or interface,
            penalty=int(r.get("Penalty") or 0),
            paused=paused,
            reason=r.get("Reason") if paused else "",
        )
        member.last_pause = member.login_time
        self.fake.queues[queue][interface] = member
        self.fake.save_persistent_members(queue)
        self.state_event(("Event", "QueueMemberAdded"), ("Queue", queue), ("Interface", interface))
        return [self.ok(r, ("Message", "Added interface to queue"))]

    def do_queueremove(self, r):
        queue, interface = r.get("Queue"), r.get("Interface")
        if queue not in self.fake.queues:
            return [self.error(r, "Unable to remove interface from queue: No such queue")]  # not recorded
        if self.fake.queues[queue].pop(interface, None) is None:
            return [self.error(r, "Unable to remove interface: Not there")]
        self.fake.save_persistent_members(queue)
        self.state_event(("Event", "QueueMemberRemoved"), ("Queue", queue), ("Interface", interface))
        return [self.ok(r, ("Message", "Removed interface from queue"))]

    def do_queuepause(self, r):
        interface, paused_raw = r.get("Interface"), r.get("Paused")
        if not interface or not paused_raw:
            return [self.error(r, "Need 'Interface' and 'Paused' parameters.")]  # not recorded
        paused = paused_raw.lower() in TRUE
        queues = [r.get("Queue")] if r.get("Queue") else list(self.fake.queues)
        found = [self.fake.queues[q][interface] for q in queues if interface in self.fake.queues.get(q, {})]
        if not found:
            return [self.error(r, "Interface not found")]  # not recorded
        for member in found:
            member.paused = paused
            member.reason = r.get("Reason") if paused else ""
            member.last_pause = int(time.time())
        for q in queues:
            if q in self.fake.queues:
                self.fake.save_persistent_members(q)
        self.state_event(("Event", "QueueMemberPause"), ("Interface", interface), ("Paused", str(int(paused))))
        return [self.ok(r, ("Message", f"Interface {'paused' if paused else 'unpaused'} successfully"))]

    def do_queuestatus(self, r):
        queue_filter, member_filter = r.get("Queue"), r.get("Member")
        items = []
        for queue, members in self.fake.queues.items():
            if queue_filter and queue != queue_filter:
                continue
            items.append(self.item(r, "QueueParams", ("Queue", queue), *QUEUE_PARAMS))
            for m in members.values():
                if member_filter and member_filter not in (m.interface, m.name):
                    continue
                items.append(
                    self.item(
                        r,
                        "QueueMember",
                        ("Queue", queue),
                        ("Name", m.name),
                        ("Location", m.interface),
                        ("StateInterface", m.state_interface),
                        ("Membership", "dynamic"),
                        ("Penalty", str(m.penalty)),
                        ("CallsTaken", "0"),
                        ("LastCall", "0"),
                        ("LastPause", str(m.last_pause)),
                        ("LoginTime", str(m.login_time)),
                        ("InCall", "0"),
                        ("Status", str(self.fake.member_status(m))),
                        ("Paused", str(int(m.paused))),
                        ("PausedReason", m.reason),
                        ("Wrapuptime", "0"),
                    )
                )
        return self.a_list(r, "Queue status will follow", "QueueStatusComplete", items)

    def do_queuesummary(self, r):
        items = []
        for queue, members in self.fake.queues.items():
            if r.get("Queue") and queue != r.get("Queue"):
                continue
            available = sum(1 for m in members.values() if not m.paused and self.fake.member_status(m) == 1)
            items.append(
                self.item(
                    r,
                    "QueueSummary",
                    ("Queue", queue),
                    ("LoggedIn", str(len(members))),
                    ("Available", str(available)),
                    ("Callers", "0"),
                    ("HoldTime", "0"),
                    ("TalkTime", "0"),
                    ("LongestHoldTime", "0"),
                )
            )
        return self.a_list(r, "Queue summary will follow", "QueueSummaryComplete", items)
