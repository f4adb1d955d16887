"""The simulated PBX: actual device state kept in the database.

The embedded default driver. Its state starts from the configuration (all
destinations active, not logged in to any team) and changes only through
commands: the portal's (apply) or a person's at the "handset"
(devices.services.manual_change), so docs/rules.md#rule-4 to #rule-7 can be seen working.
"""

from __future__ import annotations

import time

from django.db import transaction
from django.db.models import F

from devices.drivers.base import StepResult
from devices.models import Extension, SimulatedDevice
from devices.state import Command, ExtensionState, apply_command, idle_extension, overlay
from portal import bulk


def configured_states(numbers: list[str]) -> dict[str, tuple[Extension, ExtensionState]]:
    """Each extension with its simulated actual state (4 queries)."""
    extensions = list(
        Extension.objects.filter(number__in=numbers)
        .select_related("simulated")
        .prefetch_related("destinations", "teams")
    )
    result = {}
    for ext in extensions:
        base = idle_extension([d.pk for d in ext.destinations.all()], [t.pk for t in ext.teams.all()])
        stored = getattr(ext, "simulated", None)
        if stored is not None and stored.state:
            saved = ExtensionState.from_json(stored.state)
            # Only keys the configuration still has: a removed destination is gone.
            saved = ExtensionState(
                **{
                    **{f: getattr(saved, f) for f in ("dnd", "dnd_message", "forward", "location", "gsm", "presence")},
                    "destinations": {k: v for k, v in saved.destinations.items() if k in base.destinations},
                    "teams": {k: v for k, v in saved.teams.items() if k in base.teams},
                }
            )
            base = overlay(base, saved)
        result[ext.number] = (ext, base)
    return result


class SimulatedDriver:
    def read(self, numbers: list[str]) -> dict[str, ExtensionState]:
        return {number: state for number, (_, state) in configured_states(numbers).items()}

    def apply(self, commands: list[Command]) -> list[StepResult]:
        if not commands:
            return []
        numbers = sorted({c.extension for c in commands})
        # This transaction is the simulated PBX's own storage, not the
        # portal's: a real driver talks to the PBX here with no transaction
        # open. Locking the extension rows (in a fixed order, so two applies
        # cannot deadlock) serialises writers of one device, so a handset
        # change (devices.services.manual_change) made meanwhile is not lost.
        with transaction.atomic():
            list(Extension.objects.select_for_update().filter(number__in=numbers).order_by("pk").values_list("pk"))
            current = configured_states(numbers)
            faults = {d.extension_id: d for d in SimulatedDevice.objects.filter(extension__number__in=numbers)}
            results: list[StepResult] = []
            changed: dict[str, ExtensionState] = {}
            for command in commands:
                started = time.perf_counter()
                if command.extension not in current:
                    results.append(StepResult(command, ok=False, error=f"extension {command.extension} does not exist"))
                    break
                ext, state = current[command.extension]
                device = faults.get(ext.pk)
                if device is not None and device.fault == SimulatedDevice.Fault.PERMANENT:
                    results.append(
                        StepResult(
                            command,
                            ok=False,
                            error=f"extension {ext.number} rejected the command (simulated permanent fault)",
                        )
                    )
                    break
                if device is not None and device.fault == SimulatedDevice.Fault.TRANSIENT and device.fault_count > 0:
                    SimulatedDevice.objects.filter(pk=device.pk).update(fault_count=F("fault_count") - 1)
                    results.append(
                        StepResult(
                            command,
                            ok=False,
                            transient=True,
                            error=f"extension {ext.number} did not answer (simulated transient fault)",
                        )
                    )
                    break
                state = apply_command(state, command)
                current[command.extension] = (ext, state)
                changed[command.extension] = state
                results.append(StepResult(command, ok=True, duration_ms=int((time.perf_counter() - started) * 1000)))
            save_states({current[n][0]: s for n, s in changed.items()})
        return results


def save_states(states: dict[Extension, ExtensionState]) -> None:
    """Write simulated states: one query for existing rows, one insert for new ones."""
    if not states:
        return
    existing = {d.extension_id: d for d in SimulatedDevice.objects.filter(extension__in=list(states))}
    to_update, to_create = [], []
    for ext, state in states.items():
        row = existing.get(ext.pk)
        if row is None:
            to_create.append(SimulatedDevice(extension=ext, state=state.to_json()))
        else:
            row.state = state.to_json()
            to_update.append(row)
    if to_update:
        bulk.bulk_update(SimulatedDevice, to_update, ["state"])  # fast path for batch converges
    if to_create:
        SimulatedDevice.objects.bulk_create(to_create)
