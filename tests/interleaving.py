"""The simulated PBX with a moment to act in the middle of a converge.

``InterleavingDriver.before_apply`` (set by a test) runs once, inside the
first ``apply`` that has commands to send, after the converge read the
devices and computed its commands and before they reach the devices: the
moment a user's hand switch lands in the middle of a running converge.
``fail_last`` makes that apply's last command fail with a transient error
(the commands before it are written). Every command that reaches a device
is logged in ``sent``, so a test can check each one is in an ApplyRun."""

from __future__ import annotations

from devices.drivers import StepResult
from devices.drivers.simulated import SimulatedDriver


class InterleavingDriver(SimulatedDriver):
    before_apply = None
    fail_last = False
    sent: list = []

    def apply(self, commands):
        cls = type(self)
        hook, fail_last = cls.before_apply, cls.fail_last
        if hook is not None and commands:
            cls.before_apply, cls.fail_last = None, False
            hook()
        else:
            fail_last = False
        if fail_last:
            steps = super().apply(commands[:-1]) if len(commands) > 1 else []
            cls.sent.extend(s.command for s in steps if s.ok)
            return [*steps, StepResult(commands[-1], ok=False, error="line dropped", transient=True)]
        steps = super().apply(commands)
        cls.sent.extend(s.command for s in steps if s.ok)
        return steps
