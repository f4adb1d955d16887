"""AMI round trips against the fake peer on loopback: what one action, one
session (login + logoff) and one extension's read cost in the client
itself, without a real Asterisk.

    .venv/bin/python bench/ami_roundtrip.py [actions]

A real Asterisk adds its own processing time per action; the driver's read
of one extension is 4 actions plus 1 QueueStatus per team.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devices.drivers.ami import AMIConnection  # noqa: E402
from tests.ami_server import FakeAsterisk  # noqa: E402


def main(actions: int) -> None:
    fake = FakeAsterisk(login_delay=0.05).start()
    try:
        fake.astdb["/CF/1000"] = "5551234"
        sessions = 50
        started = time.perf_counter()
        for _ in range(sessions):
            with AMIConnection("127.0.0.1", fake.port, "portal", "portalsecret", timeout=5):
                pass
        per_session = (time.perf_counter() - started) / sessions

        with AMIConnection("127.0.0.1", fake.port, "portal", "portalsecret", timeout=5) as ami:
            started = time.perf_counter()
            for _ in range(actions):
                ami.send("DBGet", Family="CF", Key="1000")
            per_get = (time.perf_counter() - started) / actions
            started = time.perf_counter()
            for _ in range(actions):
                ami.send("QueueStatus", Queue="sales", Member="Local/1000@from-queue/n")
            per_status = (time.perf_counter() - started) / actions
    finally:
        fake.stop()
    print(f"session (connect, banner, login, logoff): {per_session * 1000:.2f} ms  ({sessions} sessions)")
    print(f"DBGet (list answer, 3 messages):          {per_get * 1000:.3f} ms  ({actions} actions)")
    print(f"QueueStatus with Member filter:           {per_status * 1000:.3f} ms  ({actions} actions)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
