"""The Asterisk driver against a fake AMI peer (tests/ami_server.py) that
speaks the wire format recorded from Asterisk 22 (tests/ami_recordings)."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from django.db import transaction

from devices.converge import converge
from devices.drivers import PermanentDriverError, TransientDriverError, get_driver
from devices.drivers.ami import AMIConnection
from devices.drivers.asterisk import AsteriskDriver
from devices.models import ApplyRun, Team
from devices.services import store_target
from devices.state import Command, DestinationState, ExtensionState, TeamState, UserState, diff, idle_extension
from profiles.services import select_profile
from tests.ami_server import FakeAsterisk
from tests.factories import make_user, profile_named

RECORDINGS = Path(__file__).parent / "ami_recordings"
# Values that change from run to run in the recording.
VOLATILE = {"Timestamp", "LastPause", "LoginTime"}
WRITES = ("DBPut", "DBDel", "Setvar", "QueueAdd", "QueueRemove", "QueuePause")
MEMBER = "Local/1000@from-queue/n"


@pytest.fixture
def pbx():
    fake = FakeAsterisk(login_delay=0.05, chatty=True).start()
    yield fake
    fake.stop()


@pytest.fixture
def asterisk(settings, pbx):
    settings.PBX_DRIVER = "asterisk"
    settings.AMI_HOST = "127.0.0.1"
    settings.AMI_PORT = pbx.port
    settings.AMI_USERNAME = "portal"
    settings.AMI_SECRET = "portalsecret"
    settings.AMI_TIMEOUT = 2
    return pbx


def free_port() -> int:
    """A port nothing listens on: connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the fake speaks the recorded format ----------------------------------------


def parse_block(text: str) -> list[tuple[str, str]]:
    fields = []
    for line in text.split("\n"):
        if not line.strip():
            break
        key, _, value = line.partition(":")
        fields.append((key, value.lstrip(" ")))
    return fields


def recorded_session():
    text = (RECORDINGS / "session.txt").read_text().split("######## EVENTS")[0]
    banner = re.search(r"^#### BANNER: (.*)$", text, re.M).group(1)
    steps = []
    for block in re.split(r"^#### >>> .*\n", text, flags=re.M)[1:]:
        action, *answers = block.split("<<<\n")
        steps.append((parse_block(action), [parse_block(a) for a in answers]))
    return banner, steps


class Wire:
    """A raw AMI client for replaying recorded bytes."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.file = self.sock.makefile("rb")

    def line(self) -> str:
        return self.file.readline().decode().removesuffix("\r\n")

    def send(self, fields) -> None:
        self.sock.sendall(("".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n").encode())

    def message(self) -> list[tuple[str, str]]:
        fields = []
        while (line := self.line()) or not fields:
            if line:
                key, _, value = line.partition(":")
                fields.append((key, value.lstrip(" ")))
        return fields


def masked(fields):
    return [(k, "…" if k in VOLATILE else v) for k, v in fields]


def test_fake_server_answers_the_recorded_session_field_for_field():
    banner, steps = recorded_session()
    assert len(steps) == 33
    fake = FakeAsterisk(login_delay=0.05).start()
    try:
        wire = Wire(fake.port)
        assert wire.line() == banner
        for action, answers in steps:
            wire.send(action)
            for expected in answers:
                assert masked(wire.message()) == masked(expected), dict(action)["Action"]
        assert wire.file.read() == b""  # Logoff ends the session
    finally:
        fake.stop()


def test_fake_server_fails_a_wrong_login_late_and_hangs_up():
    fake = FakeAsterisk(login_delay=0.05).start()
    try:
        wire = Wire(fake.port)
        assert wire.line() == "Asterisk Call Manager/11.0.0"
        recorded = (RECORDINGS / "login-failure.txt").read_text()
        action = parse_block(recorded.split(">>>\n")[1])
        wire.send(action)
        assert wire.message() == parse_block(recorded.split("Asterisk Call Manager/11.0.0\n")[1])
        assert wire.file.read() == b""
    finally:
        fake.stop()


# --- the client ---------------------------------------------------------------------


def test_client_skips_unsolicited_events_and_matches_answers_by_action_id(pbx):
    pbx.astdb["/CF/1000"] = "5551234"
    with AMIConnection("127.0.0.1", pbx.port, "portal", "portalsecret", timeout=2) as ami:
        ami.send("Setvar", Variable="DEVICE_STATE(Custom:DND1000)", Value="BUSY")  # answered after an event
        answer = ami.send("DBGet", Family="CF", Key="1000")
    assert [e.get("Event") for e in answer.events] == ["DBGetResponse", "DBGetComplete"]
    assert answer.items[0].get("Val") == "5551234"
    assert [a["Action"] for a in pbx.actions()] == ["Login", "Setvar", "DBGet", "Logoff"]
    assert pbx.actions("Login") == [
        {"Action": "Login", "Username": "portal", "Secret": "portalsecret", "Events": "off"}
    ]
    assert all(r.get("ActionID") for r in pbx.received)


# --- the driver ---------------------------------------------------------------------


@pytest.mark.django_db
def test_read_of_a_fresh_extension_is_idle_and_fully_specified(asterisk, django_assert_num_queries):
    alice = make_user("alice", "1000", teams=["Sales"], enable=False)
    make_user("bob", "1001", teams=["Sales", "Support"], enable=False)
    ext = alice.extensions.get()
    with django_assert_num_queries(3):  # extensions, destinations, teams: whatever the number
        state = AsteriskDriver().read(["1000", "1001", "1999"])
    assert sorted(state) == ["1000", "1001"]
    with django_assert_num_queries(3):
        state = AsteriskDriver().read(["1000", "1999"])
    assert list(state) == ["1000"]  # unknown numbers are left out
    expected = idle_extension([d.pk for d in ext.destinations.all()], [t.pk for t in ext.teams.all()])
    assert state["1000"] == expected
    sales = Team.objects.get(name="Sales")
    assert {"Action": "QueueStatus", "Queue": "sales", "Member": MEMBER} in asterisk.actions("QueueStatus")
    assert state["1000"].teams[str(sales.pk)] == TeamState(logged_in=False, paused=False, pickup=False)


def _alice_and_her_things():
    alice = make_user("alice", "1000", teams=["Sales"], enable=False)
    ext = alice.extensions.get()
    dests = {d.family: str(d.pk) for d in ext.destinations.all()}
    sales = str(Team.objects.get(name="Sales").pk)
    return alice, dests, sales


@pytest.mark.django_db
def test_apply_a_diff_and_read_back_the_desired_state(asterisk):
    _, dests, sales = _alice_and_her_things()
    driver = AsteriskDriver()
    desired = ExtensionState(
        dnd=True,
        dnd_message="Back at 3",
        forward="5551234",
        destinations={
            dests["desk"]: DestinationState(active=False),
            dests["voicemail"]: DestinationState(ring_delay=5),
        },
        teams={sales: TeamState(logged_in=True, paused=True)},
        location=2,
        gsm=True,
        presence="In a meeting",
    )
    commands = diff("1000", driver.read(["1000"])["1000"], desired)
    results = driver.apply(commands)
    assert [r.ok for r in results] == [True] * len(commands)
    assert all(r.duration_ms >= 0 for r in results)

    after = driver.read(["1000"])["1000"]
    assert diff("1000", after, desired) == []
    assert (after.dnd, after.dnd_message, after.forward) == (True, "Back at 3", "5551234")
    assert after.destinations[dests["desk"]].active is False
    assert after.destinations[dests["voicemail"]] == DestinationState(active=True, ring_delay=5, ring_timeout=20)
    assert after.teams[sales] == TeamState(logged_in=True, paused=True, pickup=True)
    assert (after.location, after.gsm, after.presence) == (2, True, "In a meeting")

    # What the PBX now holds, in its own conventions.
    assert asterisk.db("DND", "1000") == "YES"
    assert asterisk.db("CF", "1000") == "5551234"
    assert asterisk.device_state("Custom:DND1000") == "BUSY"
    assert asterisk.presence("CustomPresence:1000") == ("dnd", "", "In a meeting")
    assert asterisk.db("PORTAL/1000", "dnd_message") == "Back at 3"
    assert asterisk.db("PORTAL/1000", f"dest/{dests['desk']}/active") == "0"
    assert asterisk.actions("QueueAdd") == [
        {
            "Action": "QueueAdd",
            "Queue": "sales",
            "Interface": MEMBER,
            "MemberName": "Ext 1000",
            "StateInterface": "hint:1000@ext-local",
            "Penalty": "0",
            "Paused": "false",
        }
    ]
    assert asterisk.actions("QueuePause") == [
        {"Action": "QueuePause", "Interface": MEMBER, "Queue": "sales", "Paused": "true", "Reason": "portal-pause"}
    ]
    member = asterisk.member("sales", MEMBER)
    assert member.paused and member.state_interface == "hint:1000@ext-local" and member.name == "Ext 1000"

    # Back: DND off, forward cleared, unpaused, then logged out.
    back = ExtensionState(dnd=False, forward="", teams={sales: TeamState(logged_in=True, paused=False)})
    assert all(r.ok for r in driver.apply(diff("1000", after, back)))
    assert asterisk.actions("QueuePause")[-1]["Paused"] == "false"
    out = ExtensionState(teams={sales: TeamState(logged_in=False)})
    assert all(r.ok for r in driver.apply(diff("1000", driver.read(["1000"])["1000"], out)))
    final = driver.read(["1000"])["1000"]
    assert (final.dnd, final.dnd_message, final.forward) == (False, "", "")
    assert final.teams[sales] == TeamState(logged_in=False, paused=False, pickup=False)
    assert asterisk.db("DND", "1000") is None and asterisk.db("CF", "1000") is None
    assert asterisk.device_state("Custom:DND1000") == "NOT_INUSE"
    assert asterisk.presence("CustomPresence:1000") == ("available", "", "In a meeting")
    assert asterisk.actions("QueueRemove") == [{"Action": "QueueRemove", "Queue": "sales", "Interface": MEMBER}]
    assert asterisk.member("sales", MEMBER) is None


@pytest.mark.django_db
def test_converging_twice_sends_nothing_the_second_time(asterisk):
    alice, dests, sales = _alice_and_her_things()
    desired = ExtensionState(
        dnd=True,
        forward="5551234",
        destinations={dests["mobile"]: DestinationState(active=False, ring_timeout=30)},
        teams={sales: TeamState(logged_in=True, pickup=False)},
        presence="On holiday",
    )
    with transaction.atomic():
        store_target(user_id=alice.pk, desired=UserState(extensions={"1000": desired}))
    first = converge(user_id=alice.pk)
    assert first.run.result == ApplyRun.Result.APPLIED
    writes = len(asterisk.actions(*WRITES))
    assert writes > 0

    second = converge(user_id=alice.pk)
    assert second.run.result == ApplyRun.Result.NOTHING
    assert len(asterisk.actions(*WRITES)) == writes
    assert AsteriskDriver().apply([]) == []


@pytest.mark.django_db
def test_logout_of_a_queue_it_is_not_in_succeeds(asterisk):
    _, _, sales = _alice_and_her_things()
    [result] = AsteriskDriver().apply([Command("1000", "team_logout", {"team": sales})])
    assert result.ok, result.error
    assert asterisk.actions("QueueRemove") == [{"Action": "QueueRemove", "Queue": "sales", "Interface": MEMBER}]


@pytest.mark.django_db
def test_an_error_answer_is_permanent_with_the_servers_message_and_stops_the_apply(asterisk):
    alice, _, _ = _alice_and_her_things()
    billing = Team.objects.create(name="Billing", queue="billing")  # no such queue on the PBX
    billing.members.add(alice.extensions.get())
    commands = [
        Command("1000", "set_forward", {"target": "5551234"}),
        Command("1000", "team_login", {"team": str(billing.pk)}),
        Command("1000", "set_gsm", {"on": True}),
    ]
    results = AsteriskDriver().apply(commands)
    assert [r.ok for r in results] == [True, False]
    assert results[1].transient is False
    assert results[1].error == "QueueAdd: Unable to add interface to queue: No such queue"
    assert asterisk.db("PORTAL/1000", "gsm") is None


@pytest.mark.django_db
def test_wrong_secret_is_a_permanent_error(asterisk, settings):
    make_user("alice", "1000", enable=False)
    settings.AMI_SECRET = "wrong"
    with pytest.raises(PermanentDriverError, match="Authentication failed") as caught:
        AsteriskDriver().read(["1000"])
    assert caught.value.transient is False
    with pytest.raises(PermanentDriverError, match="Authentication failed"):
        AsteriskDriver().apply([Command("1000", "set_gsm", {"on": True})])


@pytest.mark.django_db
def test_connection_closed_mid_apply_is_a_transient_failure(asterisk):
    _, _, sales = _alice_and_her_things()
    asterisk.drop_on = {"QueueAdd"}
    commands = [
        Command("1000", "set_forward", {"target": "5551234"}),
        Command("1000", "team_login", {"team": sales}),
        Command("1000", "set_gsm", {"on": True}),
    ]
    results = AsteriskDriver().apply(commands)
    assert [r.ok for r in results] == [True, False]
    assert results[1].transient is True
    assert "closed the connection" in results[1].error
    assert asterisk.db("CF", "1000") == "5551234"  # the step before it did happen
    assert asterisk.actions("Logoff") == []  # no goodbye on a dead session


@pytest.mark.django_db
def test_connection_closed_mid_read_raises_transient(asterisk):
    _alice_and_her_things()
    asterisk.drop_on = {"QueueStatus"}
    with pytest.raises(TransientDriverError, match="closed the connection"):
        AsteriskDriver().read(["1000"])


@pytest.mark.django_db
def test_an_unanswered_action_times_out_as_transient(asterisk, settings):
    make_user("alice", "1000", enable=False)
    settings.AMI_TIMEOUT = 0.2
    asterisk.hang_on = {"DBGet"}
    with pytest.raises(TransientDriverError, match="did not answer within 0.2 s"):
        AsteriskDriver().read(["1000"])


@pytest.mark.django_db
def test_refused_connection_is_transient(asterisk, settings):
    make_user("alice", "1000", enable=False)
    settings.AMI_PORT = free_port()
    with pytest.raises(TransientDriverError, match="cannot connect"):
        AsteriskDriver().read(["1000"])
    with pytest.raises(TransientDriverError, match="cannot connect"):
        AsteriskDriver().apply([Command("1000", "set_gsm", {"on": True})])


@pytest.mark.django_db
def test_a_line_break_in_a_value_is_refused_not_sent(asterisk):
    make_user("alice", "1000", enable=False)
    [result] = AsteriskDriver().apply([Command("1000", "set_forward", {"target": "1\r\nAction: Logoff"})])
    assert not result.ok and not result.transient
    assert "line break" in result.error
    assert asterisk.actions("DBPut") == []


@pytest.mark.django_db
def test_presence_text_with_a_comma_round_trips(asterisk):
    make_user("alice", "1000", enable=False)
    driver = AsteriskDriver()
    assert all(r.ok for r in driver.apply([Command("1000", "set_presence", {"text": "Out, back Monday"})]))
    assert driver.read(["1000"])["1000"].presence == "Out, back Monday"
    assert asterisk.actions("Setvar")[-1]["Value"] == "available,,T3V0LCBiYWNrIE1vbmRheQ==,e"


# --- end to end -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_selecting_in_a_meeting_converges_the_asterisk_pbx(asterisk):
    alice = make_user("alice", "1000", teams=["Sales"])
    assert isinstance(get_driver(), AsteriskDriver)
    # "In the office" was selected when the profiles were given: logged in.
    assert asterisk.member("sales", MEMBER) is not None

    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))

    assert asterisk.db("DND", "1000") == "YES"
    assert asterisk.device_state("Custom:DND1000") == "BUSY"
    assert asterisk.member("sales", MEMBER) is None
    assert asterisk.presence("CustomPresence:1000") == ("dnd", "", "In a meeting")
    voicemail = alice.extensions.get().destinations.get(family="voicemail")
    desk = alice.extensions.get().destinations.get(family="desk")
    assert asterisk.db("PORTAL/1000", f"dest/{desk.pk}/active") == "0"
    assert asterisk.db("PORTAL/1000", f"dest/{voicemail.pk}/active") in (None, "1")
    assert alice.target_state.status == "applied"
    assert ApplyRun.objects.filter(user=alice).latest("started_at").result == ApplyRun.Result.APPLIED


@pytest.mark.django_db
def test_the_dialplan_conventions_come_from_settings(asterisk, settings):
    _, _, sales = _alice_and_her_things()
    settings.AMI_DND_FAMILY = "DONOTDISTURB"
    settings.AMI_PORTAL_FAMILY = "PRESENCEPORTAL"
    settings.AMI_DND_DEVICE = "Custom:DoNotDisturb{ext}"
    settings.AMI_QUEUE_INTERFACE = "PJSIP/{ext}"
    settings.AMI_QUEUE_STATE_INTERFACE = "PJSIP/{ext}"
    settings.AMI_QUEUE_MEMBER_NAME = "Agent {ext}"
    driver = AsteriskDriver()
    desired = ExtensionState(dnd=True, dnd_message="Busy", teams={sales: TeamState(logged_in=True)})
    assert all(r.ok for r in driver.apply(diff("1000", driver.read(["1000"])["1000"], desired)))
    assert asterisk.db("DONOTDISTURB", "1000") == "YES" and asterisk.db("DND", "1000") is None
    assert asterisk.db("PRESENCEPORTAL/1000", "dnd_message") == "Busy"
    assert asterisk.device_state("Custom:DoNotDisturb1000") == "BUSY"
    member = asterisk.member("sales", "PJSIP/1000")
    assert (member.name, member.state_interface) == ("Agent 1000", "PJSIP/1000")
    assert diff("1000", driver.read(["1000"])["1000"], desired) == []
