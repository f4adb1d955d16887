"""The PBX event listener (devices.listener): a handset change becomes a
mismatch (and its undoing clears it) without anyone asking, the portal's
own changes are no mismatch, line states follow the phone, events in any
order mean the same, and the listener survives being killed, a PBX restart
and a second copy of itself without losing or doubling any work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection

from devices import services
from devices.events import Effect, EventReader
from devices.listener import Listener
from devices.models import Extension, LineState, ListenerStatus, Mismatch, PbxEvent, TargetState
from devices.state import Command
from devices.tasks import MAX_RETRIES
from profiles.services import select_profile
from tests.factories import make_user, profile_named

ROOT = Path(__file__).resolve().parent.parent


def eventually(predicate, timeout: float = 10.0):
    """Wait for work another thread or process does. Not a timing
    assertion: the timeout only keeps a broken test from hanging."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"not true within {timeout} s: {predicate.__doc__ or predicate}")


class Running:
    """A listener in a thread of this process, stopped at the end."""

    def __init__(self):
        self.stop = threading.Event()
        self.listener = Listener(stop=self.stop)
        self.thread = threading.Thread(target=self.listener.run, daemon=True)

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(10)
        assert not self.thread.is_alive()


def status() -> ListenerStatus | None:
    return ListenerStatus.objects.first()


def connected():
    """the listener is connected"""
    row = status()
    return row is not None and row.state == ListenerStatus.State.CONNECTED


def mismatches(user) -> list[tuple[str, str]]:
    return sorted(Mismatch.objects.filter(user=user).values_list("extension", "op"))


def event_logins(pbx) -> int:
    return sum(1 for a in pbx.actions("Login") if a.get("Events") == "on")


# --- what events mean (pure) -------------------------------------------------------------


def test_events_name_the_extensions_to_read_again_and_the_line_states():
    effect = EventReader().read_all(
        [
            {"Event": "DeviceStateChange", "Device": "Custom:DND1000", "State": "BUSY"},
            {"Event": "DeviceStateChange", "Device": "Custom:CF1001", "State": "BUSY"},
            {"Event": "PresenceStateChange", "Presentity": "CustomPresence:1002", "Status": "away"},
            {"Event": "QueueMemberPause", "Queue": "sales", "Interface": "Local/1003@from-queue/n", "Paused": "1"},
            {"Event": "QueueMemberAdded", "Queue": "sales", "Interface": "Local/1004@from-queue/n"},
            {"Event": "ExtensionStatus", "Exten": "1005", "Context": "ext-local", "Status": "0"},
            {"Event": "DeviceStateChange", "Device": "PJSIP/1006", "State": "RINGING"},
            {"Event": "DeviceStateChange", "Device": "Queue:sales_avail", "State": "INUSE"},
            {"Event": "VarSet", "Variable": "x"},
        ]
    )
    assert effect.numbers == {"1000", "1001", "1002", "1003", "1004", "1005"}
    assert effect.lines == {"1006": "ringing"}
    assert effect.pbx_back is False


def test_events_in_any_order_ask_for_the_same_reads():
    events = [
        {"Event": "PresenceStateChange", "Presentity": "CustomPresence:1000", "Status": "dnd"},
        {"Event": "DeviceStateChange", "Device": "Custom:DND1000", "State": "BUSY"},
        {"Event": "QueueMemberRemoved", "Queue": "sales", "Interface": "Local/1001@from-queue/n"},
    ]
    forward, backward = EventReader().read_all(events), EventReader().read_all(events[::-1])
    assert forward.numbers == backward.numbers == {"1000", "1001"}


def test_the_latest_line_state_of_a_device_wins_and_a_boot_means_the_pbx_is_back():
    effect = EventReader().read_all(
        [
            {"Event": "DeviceStateChange", "Device": "PJSIP/1000", "State": "RINGING"},
            {"Event": "DeviceStateChange", "Device": "pjsip/1000", "State": "INUSE"},
            {"Event": "FullyBooted", "Status": "Fully Booted"},
        ]
    )
    assert effect == Effect(numbers=set(), lines={"1000": "on_call"}, pbx_back=True)


def test_event_conventions_come_from_settings(settings):
    settings.AMI_LINE_DEVICE = "SIP/phone-{ext}"
    settings.AMI_DND_DEVICE = "Custom:DoNotDisturb{ext}"
    effect = EventReader().read_all(
        [
            {"Event": "DeviceStateChange", "Device": "SIP/phone-1000", "State": "ONHOLD"},
            {"Event": "DeviceStateChange", "Device": "Custom:DoNotDisturb1001", "State": "BUSY"},
            {"Event": "DeviceStateChange", "Device": "PJSIP/1002", "State": "INUSE"},
        ]
    )
    assert (effect.lines, effect.numbers) == ({"1000": "on_hold"}, {"1001"})


# --- against the fake Asterisk --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_handset_dnd_becomes_a_mismatch_and_its_undoing_clears_it(asterisk):
    alice = make_user("alice", "1000")
    with Running():
        eventually(connected)
        asterisk.handset_dnd("1000", True)  # *78: AstDB and the lamp, no portal involved
        eventually(lambda: mismatches(alice) == [("1000", "set_dnd")])
        assert asterisk.db("DND", "1000") == "YES"  # flagged, never overwritten
        asterisk.handset_dnd("1000", False)
        eventually(lambda: mismatches(alice) == [])
    assert status().state == ListenerStatus.State.STOPPED


@pytest.mark.django_db(transaction=True)
def test_a_handset_forward_and_a_queue_change_become_mismatches(asterisk):
    alice = make_user("alice", "1000", teams=["Sales"])
    select_profile(user=alice, profile=profile_named(alice, "On holiday"))  # logged out of Sales
    with Running():
        eventually(connected)
        asterisk.handset_forward("1000", "0301234567")
        eventually(lambda: ("1000", "set_forward") in mismatches(alice))
        # Someone adds the member at the PBX's console: QueueMemberAdded.
        asterisk.queues["sales"]["Local/1000@from-queue/n"] = _member("1000")
        asterisk.broadcast(("Event", "QueueMemberAdded"), ("Queue", "sales"), ("Interface", "Local/1000@from-queue/n"))
        eventually(lambda: ("1000", "team_logout") in mismatches(alice))


def _member(number):
    from tests.ami_server import Member

    return Member(
        interface=f"Local/{number}@from-queue/n", name=f"Ext {number}", state_interface=f"hint:{number}@ext-local"
    )


@pytest.mark.django_db(transaction=True)
def test_a_change_the_portal_applied_is_no_mismatch(asterisk):
    alice = make_user("alice", "1000", teams=["Sales"])
    with Running() as running:
        eventually(connected)
        before = running.listener.processed
        select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
        select_profile(user=alice, profile=profile_named(alice, "On holiday"))
        assert TargetState.objects.get(user=alice).status == "applied"
        # The apply's own lamp, presence and queue events reach the listener …
        eventually(lambda: running.listener.processed > before)
        asterisk.line("PJSIP/1000", "NOT_INUSE")  # … and one more, to know it is past them
        eventually(lambda: LineState.objects.filter(extension__number="1000", state="idle").exists())
    assert mismatches(alice) == []


@pytest.mark.django_db(transaction=True)
def test_line_state_follows_the_phones_device_state(asterisk):
    make_user("alice", "1000")
    line = lambda: LineState.objects.filter(extension__number="1000").values_list("state", flat=True).first()  # noqa: E731
    with Running():
        eventually(connected)
        for device_state, expected in [
            ("RINGING", "ringing"),
            ("INUSE", "on_call"),
            ("ONHOLD", "on_hold"),
            ("NOT_INUSE", "idle"),
            ("UNAVAILABLE", "unavailable"),
        ]:
            asterisk.line("PJSIP/1000", device_state)
            eventually(lambda expected=expected: line() == expected)
        # The DND lamp is no line: "idle" stays "unavailable".
        asterisk.handset_dnd("1000", False)
        asterisk.line("PJSIP/1000", "UNAVAILABLE")
        time.sleep(0.3)
    assert line() == "unavailable"


@pytest.mark.django_db(transaction=True)
def test_a_pbx_restart_is_survived_and_what_changed_meanwhile_is_caught_up(asterisk):
    alice = make_user("alice", "1000")
    bob = make_user("bob", "1001")
    with Running():
        eventually(connected)
        asterisk.shutting_down = True
        asterisk.hang_up_all()  # Asterisk stops: the listener loses its session
        eventually(lambda: status().state == ListenerStatus.State.DISCONNECTED)
        assert "shutting down" in status().last_error or "closed" in status().last_error
        # Meanwhile: bob switches (fails after all retries), alice's handset
        # changes DND with nobody listening.
        select_profile(user=bob, profile=profile_named(bob, "In a meeting"))
        assert TargetState.objects.get(user=bob).status == "failed"
        asterisk.astdb["/DND/1000"] = "YES"
        asterisk.restart()  # back: the listener reconnects by itself (backoff up to 30 s)
        eventually(lambda: TargetState.objects.get(user=bob).status == "applied", timeout=40)
        eventually(lambda: mismatches(alice) == [("1000", "set_dnd")])
        eventually(connected)
    assert asterisk.db("DND", "1001") == "YES"
    assert event_logins(asterisk) >= 2


@pytest.mark.django_db(transaction=True)
def test_two_listeners_one_works_the_other_waits_then_takes_over(asterisk):
    alice = make_user("alice", "1000")
    first, second = Running(), Running()
    with first:
        eventually(connected)
        with second:
            eventually(lambda: second.listener._logged_state == "waiting")
            assert event_logins(asterisk) == 1
            asterisk.handset_dnd("1000", True)
            eventually(lambda: mismatches(alice) == [("1000", "set_dnd")])
            eventually(lambda: first.listener.processed >= 1)
            assert second.listener.processed == 0

            first.__exit__()  # the first one stops: the second takes the lock and connects
            eventually(lambda: event_logins(asterisk) == 2)
            asterisk.handset_dnd("1000", False)
            eventually(lambda: second.listener.processed >= 1)
            eventually(lambda: mismatches(alice) == [])


# --- the simulated PBX ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_simulated_handset_events_reach_the_listener_once():
    alice = make_user("alice", "1000")
    with Running() as running:
        eventually(connected)
        services.manual_change(extension="1000", command=Command("1000", "set_forward", {"target": "1099"}))
        services.simulated_call(extension=Extension.objects.get(number="1000"), action="call_ring")
        eventually(lambda: not PbxEvent.objects.exists())
        eventually(lambda: LineState.objects.filter(extension__number="1000", state="ringing").exists())
        assert running.listener.processed == 2
    assert mismatches(alice) == [("1000", "set_forward")]


@pytest.mark.django_db(transaction=True)
def test_simulated_fault_cleared_converges_whoever_is_not_applied():
    alice = make_user("alice", "1000")
    ext = Extension.objects.get(number="1000")
    services.set_fault(extension=ext, fault="transient", count=1 + MAX_RETRIES)
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    assert TargetState.objects.get(user=alice).status == "failed"
    with Running():
        eventually(connected)
        PbxEvent.objects.all().delete()
        services.set_fault(extension=ext, fault="transient", count=1)  # still failing, then …
        services.set_fault(extension=ext, fault="")  # … the phone is back: FullyBooted
        eventually(lambda: TargetState.objects.get(user=alice).status == "applied")


def _subprocess_env(tmp_path) -> dict[str, str]:
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    else:
        url = f"sqlite:///{db['NAME']}"
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(DATABASE_URL=url, PBX_DRIVER="simulated", PORTAL_VAR_DIR=str(tmp_path), LOG_LEVEL="INFO")
    return env


def _start(env) -> tuple[subprocess.Popen, list[str]]:
    """A listener process and the lines it has printed so far."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "pbx_listen"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True).start()
    return process, lines


@pytest.mark.django_db(transaction=True)
def test_listener_processes_killed_and_doubled_lose_and_double_nothing(tmp_path):
    """Two real `manage.py pbx_listen` processes: one works, one waits. The
    worker is killed (SIGKILL, no clean-up); events raised while nobody
    listens are handled by the second once it takes over, each once."""
    alice = make_user("alice", "1000")
    env = _subprocess_env(tmp_path)
    first, _ = _start(env)
    second, second_output = None, []
    try:
        eventually(connected, timeout=30)
        holder = status().process
        second, second_output = _start(env)
        eventually(lambda: any("another listener holds the lock; waiting" in line for line in second_output), 30)
        services.manual_change(extension="1000", command=Command("1000", "set_dnd", {"on": True, "message": ""}))
        eventually(lambda: not PbxEvent.objects.exists())
        eventually(lambda: mismatches(alice) == [("1000", "set_dnd")])
        eventually(lambda: status().events_processed == 1)
        assert status().process == holder

        first.send_signal(signal.SIGKILL)
        first.wait(10)
        services.manual_change(extension="1000", command=Command("1000", "set_dnd", {"on": False, "message": ""}))
        services.simulated_call(extension=Extension.objects.get(number="1000"), action="call_place")
        # The second process takes over and handles both events, once.
        eventually(lambda: status().process != holder and status().events_processed == 2, timeout=30)
        eventually(lambda: mismatches(alice) == [])
        assert LineState.objects.get(extension__number="1000").state == "on_call"
        assert not PbxEvent.objects.exists()
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(15)
    assert sum("holds the lock; this process is the listener" in line for line in second_output) == 1
