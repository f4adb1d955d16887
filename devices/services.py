"""Desired state: storing a user's target and enqueueing its converge
(devices.converge drives the devices to it); mismatch detection, the
pending-apply sweep, the preview, and the simulated PBX's "handset".

Talking to the PBX never happens inside a database transaction.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _t

from devices import hooks
from devices.converge import failed_retry_delay, replace_mismatches
from devices.drivers import get_driver
from devices.drivers.simulated import configured_states, save_states
from devices.models import ClientSession, Extension, LineState, Mismatch, PbxEvent, SimulatedDevice, TargetState
from devices.state import Command, ExtensionState, UserState, apply_command, diff_user
from devices.validators import normalise_number, validate_plain_text
from live import publish as live
from portal import broker, bulk

log = logging.getLogger(__name__)

# How many users one batch task handles (sweep, reconcile, re-apply).
BATCH_SIZE = 500


# --- the target -------------------------------------------------------------------


def merged_target(previous: TargetState | None, desired: UserState) -> dict:
    """The JSON stored as the new target: ``desired``, plus the extensions of
    a previous target that was never applied in full and that ``desired``
    leaves out. So a softphone released by a disconnect is still cleared
    when the user switches again before the disconnect was applied."""
    state = desired.to_json()
    if previous is not None and previous.status != TargetState.Status.APPLIED and previous.state:
        for number, value in (previous.state.get("extensions") or {}).items():
            state["extensions"].setdefault(number, value)
    return state


def store_targets(desired_by_user: dict[int, UserState]) -> dict[int, int]:
    """Store each user's desired state as their newest target version, in two
    queries whatever the number of users; returns user id -> version. Must
    run inside the caller's transaction, which holds the users' account
    locks (the selection and its target commit together)."""
    if not desired_by_user:
        return {}
    now = timezone.now()
    existing = {
        t.user_id: t
        for t in TargetState.objects.select_for_update().filter(user_id__in=list(desired_by_user)).order_by("pk")
    }
    to_update, to_create, versions = [], [], {}
    for user_id, desired in desired_by_user.items():
        target = existing.get(user_id)
        if target is None:
            target = TargetState(user_id=user_id, version=1, state=merged_target(None, desired), updated_at=now)
            to_create.append(target)
        else:
            target.state = merged_target(target, desired)
            target.version += 1
            target.status = TargetState.Status.PENDING
            target.error = ""
            target.error_permanent = False
            target.retry_count = 0
            target.retry_at = None
            target.updated_at = now
            to_update.append(target)
        versions[user_id] = target.version
    if to_update:
        # portal.bulk: one UPDATE … FROM (VALUES …) on PostgreSQL; Django's
        # bulk_update spent seconds of CPU on 500 targets (bench/triggers.py).
        bulk.bulk_update(
            TargetState,
            to_update,
            ["version", "state", "status", "error", "error_permanent", "retry_count", "retry_at", "updated_at"],
        )
    if to_create:
        TargetState.objects.bulk_create(to_create)
    return versions


def store_target(*, user_id: int, desired: UserState) -> int:
    """store_targets for one user; returns the new version."""
    return store_targets({user_id: desired})[user_id]


# --- enqueueing ---------------------------------------------------------------------


def publish(send, what: str) -> None:
    """Send a task; a broker that is down must not turn a committed switch
    into an error page: the target stays pending and the sweep (Beat)
    enqueues it again once the broker is back."""
    try:
        send()
    except broker.ERRORS as exc:
        lost(what)(exc)


def lost(what: str):
    """What to do when ``what`` could not be enqueued: say so (the sweep retries)."""
    return lambda exc: log.warning("could not enqueue %s (%s); the pending-apply sweep will retry", what, exc)


def enqueue_converge(user_id: int, *, reason: str = "") -> None:
    """Converge the user's devices after the current transaction commits."""
    from devices.tasks import converge_user

    collected = getattr(_collecting, "user_ids", None)
    if collected is not None:
        transaction.on_commit(lambda: collected.append(user_id))
        return
    transaction.on_commit(lambda: broker.send(converge_user, user_id, reason, on_error=lost(f"converge of {user_id}")))


def enqueue_converge_many(user_ids: Iterable[int], *, reason: str = "") -> None:
    """Converge many users after commit: one task per batch of ids."""
    from devices.tasks import converge_users

    ids = list(user_ids)
    collected = getattr(_collecting, "user_ids", None)
    if collected is not None:
        transaction.on_commit(lambda: collected.extend(ids))
        return
    for start in range(0, len(ids), BATCH_SIZE):
        chunk = ids[start : start + BATCH_SIZE]
        transaction.on_commit(
            lambda chunk=chunk: broker.send(
                converge_users, chunk, reason, on_error=lost(f"converge of {len(chunk)} users")
            )
        )


_collecting = threading.local()


@contextmanager
def collect_converges():
    """Inside this block enqueue_converge collects user ids (once their
    transaction commits) instead of sending one task each; the caller, a
    batch task, converges them itself. 10,000 users switched by triggers
    at one minute then cost ~20 tasks, not 10,000."""
    previous = getattr(_collecting, "user_ids", None)
    _collecting.user_ids = collected = []
    try:
        yield collected
    finally:
        _collecting.user_ids = previous


# --- mismatches (docs/rules.md#rule-5) ----------------------------------------------------------------


def reconcile_users(user_ids: Iterable[int]) -> int:
    """Compare the devices' actual state with the last applied target of
    each user whose target is applied (nothing pending), and store what
    differs as mismatches. Never writes to a device (docs/rules.md#rule-4). A constant
    number of queries per batch plus one driver read. Returns the number
    of users with a mismatch."""
    ids = list(user_ids)
    targets = {
        t["user_id"]: t
        for t in TargetState.objects.filter(user_id__in=ids, status=TargetState.Status.APPLIED).values(
            "user_id", "version", "applied_version", "applied_state"
        )
        if t["version"] == t["applied_version"]
    }
    if not targets:
        return 0
    in_use = _numbers_in_use(list(targets))
    applied = {}
    for user_id, t in targets.items():
        state = UserState.from_json(t["applied_state"])
        applied[user_id] = UserState(
            extensions={n: s for n, s in state.extensions.items() if n in in_use.get(user_id, ())}
        )
    numbers = sorted({n for s in applied.values() for n in s.extensions})
    actual = get_driver().read(numbers) if numbers else {}  # device I/O, no transaction open
    found = {
        user_id: diff_user(
            UserState(extensions={n: actual[n] for n in state.extensions if n in actual}),
            state,
        )
        for user_id, state in applied.items()
    }
    with transaction.atomic():
        # Only users whose target did not move meanwhile: a switch that
        # committed during the read has its own converge and verification.
        unchanged = set(
            TargetState.objects.select_for_update()
            .filter(user_id__in=list(found), status=TargetState.Status.APPLIED)
            .order_by("pk")
            .values_list("user_id", "version")
        )
        still = {uid: found[uid] for uid, version in unchanged if version == targets[uid]["version"]}
        replace_mismatches(still, timezone.now())
    return sum(1 for commands in still.values() if commands)


def _numbers_in_use(user_ids: list[int]) -> dict[int, set[str]]:
    """Each user's primary extension and the softphones their client
    sessions are connected to (two queries): a softphone released by a
    disconnect is no longer the profile's, so a change there is no mismatch."""
    numbers = hooks.profile_side().primary_numbers(user_ids)
    for user_id, number in ClientSession.objects.filter(user_id__in=user_ids).values_list(
        "user_id", "extension__number"
    ):
        numbers.setdefault(user_id, set()).add(number)
    return numbers


def user_ids_with_targets() -> list[int]:
    return list(TargetState.objects.order_by("pk").values_list("user_id", flat=True))


def mismatches_for(user) -> list[Mismatch]:
    """A user's mismatches with their descriptions, by extension (one query)."""
    return list(Mismatch.objects.filter(user=user).order_by("extension", "id"))


# --- the pending-apply sweep --------------------------------------------------------------


def sweep_pending(*, now=None, limit: int = 10 * BATCH_SIZE) -> list[int]:
    """Claim targets left pending longer than PENDING_APPLY_SWEEP_SECONDS
    (the broker was down when the switch committed, or a worker died with
    the filesystem broker) and enqueue their converge after commit. The
    claim moves ``updated_at`` on, so the next sweep waits again and two
    sweeps never claim the same row (SKIP LOCKED). Then retry_failed.
    Returns the user ids of both."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.PENDING_APPLY_SWEEP_SECONDS)
    with transaction.atomic():
        ids = list(
            TargetState.objects.select_for_update(skip_locked=True)
            .filter(status=TargetState.Status.PENDING, updated_at__lt=cutoff)
            .order_by("updated_at")
            .values_list("user_id", flat=True)[:limit]
        )
        if ids:
            TargetState.objects.filter(user_id__in=ids).update(updated_at=now)
            enqueue_converge_many(ids, reason="sweep")
    return ids + retry_failed(now=now, limit=limit)


def retry_failed(*, now=None, limit: int = 10 * BATCH_SIZE) -> list[int]:
    """Claim transiently failed targets whose retry_at has come and try each
    once more (one attempt: the backoff is this schedule's, not the task's).
    The claim counts the retry and moves retry_at to the next step, so a
    second sweep does not claim the row again; a failure of the attempt
    sets retry_at from the same count. Permanent failures are left alone."""
    now = now or timezone.now()
    with transaction.atomic():
        rows = list(
            TargetState.objects.select_for_update(skip_locked=True)
            .filter(status=TargetState.Status.FAILED, error_permanent=False, retry_at__lte=now)
            .order_by("retry_at")
            .values_list("user_id", "retry_count")[:limit]
        )
        if not rows:
            return []
        claimed = [
            TargetState(user_id=uid, retry_count=count + 1, retry_at=now + failed_retry_delay(count + 1))
            for uid, count in rows
        ]
        bulk.bulk_update(TargetState, claimed, ["retry_count", "retry_at"])
        ids = [uid for uid, _ in rows]
        _enqueue_final(ids, reason="retry")
    return ids


def converge_unapplied() -> list[int]:
    """The PBX is back (the event listener saw it reconnect or boot):
    converge every user whose target is pending or failed transiently, now.
    Permanent failures wait for an administrator."""
    with transaction.atomic():
        ids = list(
            TargetState.objects.filter(
                Q(status=TargetState.Status.PENDING) | Q(status=TargetState.Status.FAILED, error_permanent=False)
            )
            .order_by("pk")
            .values_list("user_id", flat=True)
        )
        if ids:
            enqueue_converge_many(ids, reason="pbx back")
    return ids


def _enqueue_final(user_ids: list[int], *, reason: str) -> None:
    from devices.tasks import converge_users

    for start in range(0, len(user_ids), BATCH_SIZE):
        chunk = user_ids[start : start + BATCH_SIZE]
        transaction.on_commit(
            lambda chunk=chunk: publish(
                lambda: converge_users.delay(chunk, reason, final=True), f"retry of {len(chunk)} users"
            )
        )


# --- preview (item 7) ------------------------------------------------------------------------


def preview_commands(*, user_id: int, desired: UserState) -> list[Command]:
    """The exact commands converging to ``desired`` would send now: the same
    target merge and diff as a real switch, sent nowhere. Raises
    DriverError when the phone system cannot be read."""
    previous = TargetState.objects.filter(user_id=user_id).first()
    target = UserState.from_json(merged_target(previous, desired))
    if not target.extensions:
        return []
    actual = UserState(extensions=get_driver().read(sorted(target.extensions)))
    return diff_user(actual, target)


# --- the simulated PBX's handset (item 5) ------------------------------------------------------

HANDSET_OPS = ("set_dnd", "set_forward", "team_login", "team_logout", "team_pause", "team_unpause", "set_gsm")


@dataclass(frozen=True)
class HandsetResult:
    extension: str
    state: ExtensionState
    owner_id: int | None


def manual_change(*, extension: str, command: Command) -> HandsetResult:
    """Change a simulated device as a person at the handset would (press
    DND, set a forward, log in or out of a team). Not an event (docs/rules.md#rule-4):
    the profile is not applied; the owner's devices are reconciled after
    commit so the portal flags the difference (docs/rules.md#rule-5) without undoing it.

    Raises ValidationError on bad input and changes nothing then.
    """
    if command.op not in HANDSET_OPS:
        raise ValidationError({"op": "A handset cannot do that."})
    command = _clean_handset_command(extension, command)
    with transaction.atomic():
        # The simulated PBX's own storage: lock the extension so a converge
        # writing the same device at this moment does not lose the change.
        ext = Extension.objects.select_for_update().filter(number=extension).first()
        if ext is None:
            raise ValidationError({"extension": _t("There is no extension %(number)s.") % {"number": extension}})
        ext_id, state = configured_states([extension])[extension]
        if command.op.startswith("team_") and str(command.args["team"]) not in state.teams:
            raise ValidationError({"team": f"Extension {extension} is not a member of that team."})
        state = apply_command(state, command)
        save_states({ext_id: state})
        emit_simulated_events(handset_events(extension, command))
        owner_id = owner_of(ext)
        if owner_id is not None:
            transaction.on_commit(lambda: publish(lambda: _reconcile_later(owner_id), "reconcile"))
    return HandsetResult(extension=extension, state=state, owner_id=owner_id)


def handset_events(number: str, command: Command) -> list[dict[str, str]]:
    """The AMI events a FreePBX-style Asterisk sends for this handset change:
    the DND and call-forward lamps (*76, *72) and queue membership change
    device state; a key with no lamp (GSM mode) shows in the hint."""
    if command.op == "set_dnd":
        state = "BUSY" if command.args["on"] else "NOT_INUSE"
        return [{"Event": "DeviceStateChange", "Device": _name(settings.AMI_DND_DEVICE, number), "State": state}]
    if command.op == "set_forward":
        state = "BUSY" if command.args["target"] else "NOT_INUSE"
        return [{"Event": "DeviceStateChange", "Device": _name(settings.AMI_CF_DEVICE, number), "State": state}]
    interface = _name(settings.AMI_QUEUE_INTERFACE, number)
    if command.op in ("team_login", "team_logout"):
        event = "QueueMemberAdded" if command.op == "team_login" else "QueueMemberRemoved"
        return [{"Event": event, "Queue": str(command.args["team"]), "Interface": interface}]
    if command.op in ("team_pause", "team_unpause"):
        paused = "1" if command.op == "team_pause" else "0"
        return [
            {"Event": "QueueMemberPause", "Queue": str(command.args["team"]), "Interface": interface, "Paused": paused}
        ]
    return [{"Event": "ExtensionStatus", "Exten": number, "Context": "ext-local", "Status": "0"}]


def _name(template: str, number: str) -> str:
    return template.replace("{ext}", number)


def emit_simulated_events(events: list[dict[str, str]]) -> None:
    """The simulated PBX's manager: events for its listener (devices.listener),
    committed with the change that raised them."""
    if settings.PBX_DRIVER == "simulated" and events:
        PbxEvent.objects.bulk_create(PbxEvent(fields=e) for e in events)


# A call on the simulated handset: which buttons move the line to which
# device state, and from which states they may be pressed.
CALL_ACTIONS = {
    "call_place": ({"NOT_INUSE"}, "INUSE"),
    "call_ring": ({"NOT_INUSE"}, "RINGING"),
    "call_answer": ({"RINGING"}, "INUSE"),
    "call_hold": ({"INUSE"}, "ONHOLD"),
    "call_resume": ({"ONHOLD"}, "INUSE"),
    "call_end": ({"RINGING", "INUSE", "ONHOLD"}, "NOT_INUSE"),
    "phone_offline": ({"NOT_INUSE", "RINGING", "INUSE", "ONHOLD"}, "UNAVAILABLE"),
    "phone_online": ({"UNAVAILABLE"}, "NOT_INUSE"),
}


def simulated_call(*, extension: Extension, action: str) -> str:
    """Place, ring, answer, hold, resume or end a call on a simulated phone
    (or take it off- and online); raises ValidationError when the phone is
    not in a state where that button works. Emits the device's
    DeviceStateChange, as a real phone's channel does. Returns the new
    device state."""
    if action not in CALL_ACTIONS:
        raise ValidationError({"action": _t("Unknown button.")})
    allowed, new = CALL_ACTIONS[action]
    with transaction.atomic():
        device, _ = SimulatedDevice.objects.select_for_update().get_or_create(extension=extension)
        if device.line not in allowed:
            raise ValidationError({"action": _t("The phone cannot do that now.")})
        device.line = new
        device.save(update_fields=["line", "updated_at"])
        emit_simulated_events(
            [{"Event": "DeviceStateChange", "Device": _name(settings.AMI_LINE_DEVICE, extension.number), "State": new}]
        )
    return new


def _reconcile_later(user_id: int) -> None:
    from devices.tasks import reconcile_users as task

    task.delay([user_id])


def _clean_handset_command(extension: str, command: Command) -> Command:
    a = dict(command.args)
    if command.op == "set_dnd":
        message = str(a.get("message") or "").strip()[:100]
        try:
            validate_plain_text(message)
        except ValidationError as exc:
            raise ValidationError({"message": exc.messages[0]}) from None
        return Command(extension, "set_dnd", {"on": bool(a.get("on")), "message": message if a.get("on") else ""})
    if command.op == "set_forward":
        target = str(a.get("target") or "").strip()
        if target:
            try:
                target = normalise_number(target)
            except ValidationError as exc:
                raise ValidationError({"target": exc.messages[0]}) from None
        return Command(extension, "set_forward", {"target": target})
    if command.op == "set_gsm":
        return Command(extension, "set_gsm", {"on": bool(a.get("on"))})
    try:
        team = str(int(a.get("team")))
    except (TypeError, ValueError):
        raise ValidationError({"team": _t("Choose a team.")}) from None
    return Command(extension, command.op, {"team": team})


def owner_of(ext: Extension) -> int | None:
    """Whose profile applies to this extension: the user whose primary
    extension it is, or the user whose client session is connected to it."""
    user = hooks.profile_side().primary_user(ext)
    user_id = user.pk if user is not None else None
    if user_id is None:
        user_id = ClientSession.objects.filter(extension=ext).values_list("user_id", flat=True).first()
    return user_id


def set_fault(*, extension: Extension, fault: str, count: int = 1) -> SimulatedDevice:
    """Make the simulated PBX fail writes to ``extension``: "transient" fails
    the next ``count`` writes with a retryable error, "permanent" fails
    every write until cleared with fault="" ."""
    if fault not in SimulatedDevice.Fault.values:
        raise ValidationError({"fault": _t("Choose none, transient or permanent.")})
    if count < 0 or count > 100:
        raise ValidationError({"count": _t("Choose a count from 0 to 100.")})
    with transaction.atomic():
        device, _ = SimulatedDevice.objects.select_for_update().get_or_create(extension=extension)
        device.fault = fault
        device.fault_count = count if fault == SimulatedDevice.Fault.TRANSIENT else 0
        device.save(update_fields=["fault", "fault_count", "updated_at"])
        if fault == SimulatedDevice.Fault.NONE:
            # The phone answers again: to the listener this is the PBX
            # coming back, as Asterisk's FullyBooted after a restart.
            emit_simulated_events([{"Event": "FullyBooted", "Status": "Fully Booted"}])
    return device


# --- PBX events (the listener, devices.listener) -----------------------------------------------


def users_of_numbers(numbers: Iterable[str]) -> list[int]:
    """The users whose target covers any of these extensions (one query): the
    people whose devices an event on these extensions concerns."""
    numbers = sorted(set(numbers))
    if not numbers:
        return []
    condition = Q()
    for number in numbers:
        condition |= Q(state__extensions__has_key=number)
    return list(TargetState.objects.filter(condition).order_by("pk").values_list("user_id", flat=True))


def record_line_states(lines: dict[str, str], *, now=None) -> dict[str, str]:
    """Store the line state of these extensions (number -> LineState value);
    returns the ones that changed. Three queries at most whatever the number."""
    if not lines:
        return {}
    now = now or timezone.now()
    extensions = dict(Extension.objects.filter(number__in=list(lines)).values_list("number", "pk"))
    existing = {row.extension_id: row for row in LineState.objects.filter(extension_id__in=list(extensions.values()))}
    changed, to_update, to_create = {}, [], []
    for number, pk in extensions.items():
        state = lines[number]
        row = existing.get(pk)
        if row is None:
            to_create.append(LineState(extension_id=pk, state=state, changed_at=now))
        elif row.state != state:
            row.state, row.changed_at = state, now
            to_update.append(row)
        else:
            continue
        changed[number] = state
    if to_update:
        LineState.objects.bulk_update(to_update, ["state", "changed_at"])
    if to_create:
        LineState.objects.bulk_create(to_create)
    live.publish([(live.LINE, None, {"extension": number, "state": state}) for number, state in changed.items()])
    return changed


def reconcile_everyone() -> int:
    """Reconcile every user with a target, batch by batch, here and now (the
    listener after a (re)connect: changes made while nobody listened)."""
    ids = user_ids_with_targets()
    flagged = 0
    for start in range(0, len(ids), BATCH_SIZE):
        flagged += reconcile_users(ids[start : start + BATCH_SIZE])
    return flagged


def line_states_changed(changed: dict[str, str]) -> None:
    """Tell the profile side (devices/hooks.py) which lines changed."""
    handler = hooks.profile_side().line_states_changed
    if handler is not None and changed:
        handler(changed)
