"""The simulated PBX: actual device state kept in the database.

The embedded default driver. Its state starts from the configuration (all
destinations active, not logged in to any team) and changes only through
commands: the portal's (apply) or a person's at the "handset"
(devices.services.manual_change), so docs/rules.md#rule-4 to #rule-7 can be seen working.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F
from django.db.models.expressions import RawSQL
from django.utils import timezone

from devices.drivers.base import StepResult
from devices.models import Destination, Extension, SimulatedDevice, Team
from devices.state import Command, ExtensionState, apply_command, evolve, idle_extension, overlay
from portal import bulk


def configured_states(numbers: list[str]) -> dict[str, tuple[int, ExtensionState]]:
    """Each extension's id with its simulated actual state, read as plain
    rows (3 queries, no model instances: a batch converge reads hundreds)."""
    return {number: (ext.id, ext.state) for number, ext in _read(numbers).items()}


@dataclass(frozen=True)
class _Stored:
    id: int
    state: ExtensionState
    has_row: bool  # a SimulatedDevice row exists
    fault: str
    fault_count: int
    source: tuple = ()  # what ``state`` was made of: the stored value, destination and team ids
    row_version: str | None = None  # PostgreSQL's xmin of the SimulatedDevice row (None: no row, or SQLite)


def _read(numbers: list[str], *, lock: bool = False, known: dict[str, _Stored] | None = None) -> dict[str, _Stored]:
    """The extensions' stored state and faults (3 queries). ``lock``: the
    extension rows are locked in the same read, in id order. ``known``: an
    earlier read of these extensions, whose state values are reused where
    the stored value and the configuration read now are the same."""
    extensions = Extension.objects.filter(bulk.any_of("number", numbers))
    if lock:
        extensions = extensions.select_for_update(of=("self",)).order_by("pk")
    fields = [
        "pk",
        "number",
        "simulated__state",
        "simulated__extension_id",
        "simulated__fault",
        "simulated__fault_count",
    ]
    if connection.vendor == "postgresql":
        # The row's version (xmin: every UPDATE makes a new one), so the
        # apply can tell under its lock that nothing changed since.
        extensions = extensions.annotate(row_version=RawSQL(f"{_SIMULATED}.xmin::text", ()))
        fields.append("row_version")
    rows = [(*row, None)[:7] for row in extensions.values_list(*fields)]  # no row_version on SQLite: None
    ids = [row[0] for row in rows]
    destinations: dict[int, list[int]] = {}
    for ext_id, pk in (
        Destination.objects.filter(bulk.any_of("extension_id", ids))
        .order_by("extension_id", "position", "id")
        .values_list("extension_id", "pk")
    ):
        destinations.setdefault(ext_id, []).append(pk)
    teams: dict[int, list[int]] = {}
    for ext_id, pk in (
        Team.members.through.objects.filter(bulk.any_of("extension_id", ids))
        .order_by("team__name", "team_id")
        .values_list("extension_id", "team_id")
    ):
        teams.setdefault(ext_id, []).append(pk)
    result = {}
    known = known or {}
    for ext_id, number, stored, row_id, fault, fault_count, row_version in rows:
        source = (ext_id, stored, tuple(destinations.get(ext_id, ())), tuple(teams.get(ext_id, ())))
        earlier = known.get(number)
        if earlier is not None and earlier.source == source:
            result[number] = _Stored(
                ext_id, earlier.state, row_id is not None, fault or "", fault_count or 0, source, row_version
            )
            continue
        base = idle_extension(source[2], source[3])
        if stored:
            saved = ExtensionState.from_json(stored)
            # Only keys the configuration still has: a removed destination is gone.
            saved = evolve(
                saved,
                destinations={k: v for k, v in saved.destinations.items() if k in base.destinations},
                teams={k: v for k, v in saved.teams.items() if k in base.teams},
            )
            base = overlay(base, saved)
        result[number] = _Stored(ext_id, base, row_id is not None, fault or "", fault_count or 0, source, row_version)
    return result


_SIMULATED = SimulatedDevice._meta.db_table

# The apply's check under the lock (PostgreSQL): each extension's id, its
# simulated row's version (its state, faults and line), its destination and team ids in
# _read's order, with the extension rows locked in id order as _read locks them.
_UNCHANGED_SQL = f"""
SELECT e.id, e.number, s.xmin::text,
    ARRAY(SELECT d.id FROM {Destination._meta.db_table} d WHERE d.extension_id = e.id ORDER BY d.position, d.id),
    ARRAY(SELECT m.team_id FROM {Team.members.through._meta.db_table} m
          JOIN {Team._meta.db_table} t ON t.id = m.team_id WHERE m.extension_id = e.id ORDER BY t.name, t.id)
FROM {Extension._meta.db_table} e LEFT JOIN {_SIMULATED} s ON s.extension_id = e.id
WHERE e.number = ANY(%s::varchar[])
ORDER BY e.id
FOR UPDATE OF e
"""


def _lock_unchanged(numbers: list[str], known: dict[str, _Stored] | None) -> dict[str, _Stored] | None:
    """Lock the extension rows and return ``known``'s values for them when
    none changed since that read: the same simulated row version (state,
    faults and line alike), the same destinations and teams. One query
    without the stored states, where _read under the lock is three and
    decodes every state again (a batch converge applies to a thousand
    extensions). None when anything differs, or off PostgreSQL: the caller
    reads under the lock."""
    if connection.vendor != "postgresql" or not known or not all(n in known for n in numbers):
        return None
    with connection.cursor() as cursor:
        cursor.execute(_UNCHANGED_SQL, [bulk.array_literal(numbers) or list(numbers)])
        rows = cursor.fetchall()
    if len(rows) != len(numbers):
        return None
    for ext_id, number, row_version, destinations, teams in rows:
        earlier = known.get(number)
        if (
            earlier is None
            or (earlier.id, earlier.row_version) != (ext_id, row_version)
            or (tuple(destinations), tuple(teams)) != earlier.source[2:]
        ):
            return None
    return {n: known[n] for n in numbers}


class SimulatedDriver:
    # The state of the extensions the last apply touched, as it wrote them
    # under the lock: a converge needs no verify read (devices.converge).
    applied_states: dict[str, ExtensionState] | None = None
    # The last read, whose state values the apply's read under the lock
    # reuses for extensions whose stored row and configuration did not change.
    _last_read: dict[str, _Stored] | None = None

    def read(self, numbers: list[str]) -> dict[str, ExtensionState]:
        self._last_read = _read(numbers)
        return {number: ext.state for number, ext in self._last_read.items()}

    def apply(self, commands: list[Command]) -> list[StepResult]:
        self.applied_states = {}
        if not commands:
            return []
        numbers = sorted({c.extension for c in commands})
        # This transaction is the simulated PBX's own storage, not the
        # portal's: a real driver talks to the PBX here with no transaction
        # open. Locking the extension rows (in a fixed order, so two applies
        # cannot deadlock) serialises writers of one device, so a handset
        # change (devices.services.manual_change) made meanwhile is not lost.
        with transaction.atomic():
            stored = _lock_unchanged(numbers, self._last_read)
            if stored is None:
                stored = _read(numbers, lock=True, known=self._last_read)
            current = {n: (ext.id, ext.state) for n, ext in stored.items()}
            results: list[StepResult] = []
            changed: dict[str, ExtensionState] = {}
            for command in commands:
                started = time.perf_counter()
                if command.extension not in current:
                    results.append(StepResult(command, ok=False, error=f"extension {command.extension} does not exist"))
                    break
                ext_id, state = current[command.extension]
                fault, fault_count = stored[command.extension].fault, stored[command.extension].fault_count
                if fault == SimulatedDevice.Fault.PERMANENT:
                    results.append(
                        StepResult(
                            command,
                            ok=False,
                            error=f"extension {command.extension} rejected the command (simulated permanent fault)",
                        )
                    )
                    break
                if fault == SimulatedDevice.Fault.TRANSIENT and fault_count > 0:
                    SimulatedDevice.objects.filter(pk=ext_id).update(fault_count=F("fault_count") - 1)
                    results.append(
                        StepResult(
                            command,
                            ok=False,
                            transient=True,
                            error=f"extension {command.extension} did not answer (simulated transient fault)",
                        )
                    )
                    break
                state = apply_command(state, command)
                current[command.extension] = (ext_id, state)
                changed[command.extension] = state
                results.append(StepResult(command, ok=True, duration_ms=int((time.perf_counter() - started) * 1000)))
            save_states(
                {current[n][0]: s for n, s in changed.items()},
                existing={ext.id for ext in stored.values() if ext.has_row},
            )
        self.applied_states = {n: state for n, (_, state) in current.items()}
        return results


def save_states(states: dict[int, ExtensionState], existing: set[int] | None = None) -> None:
    """Write simulated states (extension id -> state): one UPDATE for the
    existing rows, one INSERT for new ones, from plain values. ``existing``:
    the extensions known to have a row (read under the caller's lock)."""
    if not states:
        return
    if existing is None:
        existing = set(
            SimulatedDevice.objects.filter(bulk.any_of("extension_id", states)).values_list("extension_id", flat=True)
        )
    update = [ext_id for ext_id in states if ext_id in existing]
    bulk.update_rows(SimulatedDevice, update, {"state": [states[ext_id].to_json() for ext_id in update]})
    new = [ext_id for ext_id in states if ext_id not in existing]
    # Plain rows as bulk_create would write them: the other fields' defaults.
    defaults = [SimulatedDevice._meta.get_field(name).get_default() for name in ("fault", "fault_count", "line")]
    now = timezone.now()
    bulk.insert_rows(
        SimulatedDevice,
        ["extension", "state", "fault", "fault_count", "line", "updated_at"],
        [(ext_id, states[ext_id].to_json(), *defaults, now) for ext_id in new],
    )
