"""Events that re-apply a user's selected profile (docs/rules.md#rule-4): client
sessions connecting and disconnecting (docs/rules.md#rule-6), hot-desk login and logout
(docs/rules.md#rule-7), an administrator's re-apply, the service starting; and the
reconcile that only flags differences (docs/rules.md#rule-5).

Each function is the one place its state change happens; pages, the admin,
the API, tasks and commands call it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from devices import services as device_services
from devices.models import ClientSession, Extension
from profiles.errors import InUse, NotAllowed
from profiles.models import Account, ClientProfile, Selection
from profiles.services import reapply, reapply_many

Source = Selection.Source


# --- client sessions (docs/rules.md#rule-6) -------------------------------------------------------


@dataclass(frozen=True)
class ClientInfo:
    """What a desktop or mobile client says about itself when it connects
    through the API; its session then has to heartbeat (rule 12)."""

    client_id: str
    name: str = ""
    version: str = ""


# Called on commit with (user ids, connected) when users' first client
# connected or clients left: the session triggers (profiles.automation.
# sessions) listen here, registered in ProfilesConfig.ready, so this
# services module does not import the automation above it.
_session_listeners: list[Callable[[list[int], bool], object]] = []


def listen_to_client_sessions(listener: Callable[[list[int], bool], object]) -> None:
    if listener not in _session_listeners:
        _session_listeners.append(listener)


def _notify_on_commit(user_ids, connected: bool) -> None:
    ids = list(user_ids)
    for listener in _session_listeners:
        transaction.on_commit(lambda listener=listener: listener(ids, connected))


def session_window() -> dt.timedelta:
    return dt.timedelta(seconds=settings.CLIENT_SESSION_WINDOW_SECONDS)


def connect_client(
    *, user, extension: Extension, actor=None, source: str = Source.USER, client: ClientInfo | None = None
) -> ClientSession:
    """A desktop client of ``user`` connected to the softphone ``extension``:
    record the session and re-apply, so the softphone gets the profile's DND,
    forward and presence. Connecting again is harmless (nothing re-applied).

    ``client``: an API client, whose session expires unless it heartbeats.
    The same client connecting again within the window keeps its session;
    another client of the user is refused (InUse, 409) while the session is
    alive, and takes it over once it has expired."""
    if extension.kind != Extension.Kind.SOFTPHONE:
        raise NotAllowed(f"Extension {extension.number} is not a softphone; a client connects to a softphone.")
    if extension.owner_id not in (None, user.pk):
        raise NotAllowed(f"Softphone {extension.number} belongs to someone else.")
    now = timezone.now()
    with transaction.atomic():
        # The account lock is the per-user mutex of every switch.
        list(Account.objects.select_for_update().filter(user=user).values_list("pk", flat=True))
        # Locking the softphone serialises two clients connecting to it at once.
        list(Extension.objects.select_for_update().filter(pk=extension.pk).values_list("pk", flat=True))
        session = ClientSession.objects.filter(extension=extension).first()
        if session is not None:
            if session.user_id != user.pk:
                raise InUse(
                    _("Another user’s client is connected to softphone %(number)s.") % {"number": extension.number}
                )
            if client is None:
                return session
            alive = session.expires_at is None or session.expires_at > now
            if alive and session.client_id and session.client_id != client.client_id:
                raise InUse(
                    _("Softphone %(number)s is in use by another client (%(client)s); disconnect it first.")
                    % {"number": extension.number, "client": session.client_name or session.client_id}
                )
            _set_client(session, client, now)
            session.save(
                update_fields=["client_id", "client_name", "client_version", "last_heartbeat_at", "expires_at"]
            )
            return session
        session = ClientSession(user=user, extension=extension)
        if client is not None:
            _set_client(session, client, now)
        session.save()
        _notify_on_commit([user.pk], True)
        reapply(
            user=user,
            event="session_connect",
            source=source,
            actor=actor or user,
            source_detail=f"client connected to {extension.number}",
        )
    return session


def _set_client(session: ClientSession, client: ClientInfo, now: dt.datetime) -> None:
    session.client_id = client.client_id
    session.client_name = client.name
    session.client_version = client.version
    session.last_heartbeat_at = now
    session.expires_at = now + session_window()


def heartbeat(*, user, session_id: int) -> dt.datetime | None:
    """The client of session ``session_id`` is alive: move its expiry one
    window on. One indexed UPDATE. Returns the new expiry, or None when the
    session is not this user's or has already expired (the client connects
    again then)."""
    now = timezone.now()
    expires = now + session_window()
    updated = ClientSession.objects.filter(
        pk=session_id, user=user, expires_at__isnull=False, expires_at__gt=now
    ).update(last_heartbeat_at=now, expires_at=expires)
    return expires if updated else None


def expire_client_sessions(session_ids, *, now: dt.datetime | None = None) -> int:
    """End the sessions among ``session_ids`` whose heartbeat window has
    passed, exactly as a disconnect (rule 6): the softphones lose the
    profile's changes, which stay on the primary. Called by the due-scan's
    batch task; a session that heartbeated meanwhile, or was ended by a
    second scan, is left alone. Returns how many ended."""
    now = now or timezone.now()
    user_ids = sorted(set(ClientSession.objects.filter(pk__in=list(session_ids)).values_list("user_id", flat=True)))
    if not user_ids:
        return 0
    with transaction.atomic():
        # Accounts first, in id order, as every switch and disconnect does,
        # so a scan and a disconnect never wait on each other in a circle.
        list(Account.objects.select_for_update().filter(user_id__in=user_ids).order_by("pk").values_list("pk"))
        expired = list(
            ClientSession.objects.select_for_update()
            .filter(pk__in=list(session_ids), expires_at__isnull=False, expires_at__lte=now)
            .values_list("pk", "user_id", "extension__number")
        )
        if not expired:
            return 0
        ClientSession.objects.filter(pk__in=[pk for pk, _, _ in expired]).delete()
        _notify_on_commit(sorted({user_id for _, user_id, _ in expired}), False)
        released: dict[int, tuple[str, ...]] = {}
        for _, user_id, number in expired:
            released[user_id] = (*released.get(user_id, ()), number)
        reapply_many(
            user_ids=list(released),
            event="session_expired",
            source=Source.SYSTEM,
            source_detail="client stopped sending heartbeats",
            released=released,
        )
    return len(expired)


def due_client_sessions(now: dt.datetime, *, limit: int) -> list[int]:
    """Ids of sessions whose window has passed, oldest first, from the
    partial index on expires_at."""
    return list(
        ClientSession.objects.filter(expires_at__isnull=False, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )


def disconnect_client(*, user, extension: Extension, actor=None, source: str = Source.USER) -> bool:
    """The client on softphone ``extension`` disconnected: delete the session
    and re-apply, the target removing the profile's changes from that
    softphone (they stay on the primary). Returns False when no session of
    this user was connected there (nothing changes)."""
    with transaction.atomic():
        list(Account.objects.select_for_update().filter(user=user).values_list("pk", flat=True))
        deleted, _ = ClientSession.objects.filter(user=user, extension=extension).delete()
        if not deleted:
            return False
        _notify_on_commit([user.pk], False)
        reapply(
            user=user,
            event="session_disconnect",
            source=source,
            actor=actor or user,
            source_detail=f"client disconnected from {extension.number}",
            released=(extension.number,),
        )
    return True


# --- hot desk (docs/rules.md#rule-7) ------------------------------------------------------------------


def hot_desk_login(*, extension: Extension, actor=None, source: str = Source.USER) -> bool:
    """The hot-desk user logged in on their main device: with the client
    profile's "disable DEE & UCD when logged out" option, destinations and
    teams come back, then the profile is applied again. Returns False when
    already logged in (not an event then)."""
    return _set_hot_desk(extension, logged_in=True, actor=actor, source=source)


def hot_desk_logout(*, extension: Extension, actor=None, source: str = Source.USER) -> bool:
    """The hot-desk user logged out: with the option, the main device leaves
    its teams and its destinations go inactive. Returns False when already
    logged out."""
    return _set_hot_desk(extension, logged_in=False, actor=actor, source=source)


def _set_hot_desk(extension: Extension, *, logged_in: bool, actor, source: str) -> bool:
    if not extension.is_hot_desk:
        raise NotAllowed(f"Extension {extension.number} is not a hot-desk device.")
    with transaction.atomic():
        account = Account.objects.select_for_update().select_related("user").filter(primary_extension=extension).first()
        locked = Extension.objects.select_for_update().get(pk=extension.pk)
        if locked.hot_desk_logged_in == logged_in:
            return False
        locked.hot_desk_logged_in = logged_in
        locked.save(update_fields=["hot_desk_logged_in"])
        extension.hot_desk_logged_in = logged_in
        if account is not None:
            reapply(
                user=account.user,
                event="hot_desk_login" if logged_in else "hot_desk_logout",
                source=source,
                actor=actor,
                source_detail=f"hot desk {extension.number}",
                hot_desk_login=logged_in,
            )
    return True


# --- administrator's and service start's re-apply ------------------------------------------


def reapply_user(*, user, actor=None, event: str = "reapply") -> int | None:
    """An administrator (or the user) re-applies one user's profile now.
    Returns the new target version, None without a selection."""
    source = Source.ADMIN if actor is not None and actor.pk != user.pk else Source.USER
    return reapply(user=user, event=event, source=source, actor=actor, source_detail="re-apply")


def schedule_reapply(*, user_ids, event: str = "reapply", actor=None, detail: str = "") -> int:
    """Re-apply many users in the background: one task per batch of ids,
    each costing a constant number of queries. Returns how many users."""
    from profiles.tasks import reapply_users

    ids = list(user_ids)
    actor_id = actor.pk if actor is not None else None
    for start in range(0, len(ids), device_services.BATCH_SIZE):
        chunk = ids[start : start + device_services.BATCH_SIZE]
        transaction.on_commit(
            lambda chunk=chunk: device_services.publish(
                lambda: reapply_users.delay(chunk, event, actor_id, detail), f"re-apply of {len(chunk)} users"
            )
        )
    return len(ids)


def _presence_users():
    return Account.objects.filter(client_profile__presence_profiles_enabled=True, user__selection__isnull=False)


def reapply_client_profile(*, client_profile: ClientProfile, actor=None) -> int:
    """Re-apply every user of a client profile (administrator's action)."""
    ids = list(
        _presence_users().filter(client_profile=client_profile).order_by("user_id").values_list("user_id", flat=True)
    )
    return schedule_reapply(user_ids=ids, actor=actor, detail=f"client profile {client_profile.name}")


def reapply_everyone(*, actor=None, event: str = "reapply", detail: str = "everyone") -> int:
    """Re-apply every user with presence profiles (administrator's action, or
    the service starting: event "service_start")."""
    ids = list(_presence_users().order_by("user_id").values_list("user_id", flat=True))
    return schedule_reapply(user_ids=ids, event=event, actor=actor, detail=detail)


# --- reconcile (docs/rules.md#rule-5) ---------------------------------------------------------------------


def reconcile_user(*, user) -> list:
    """Read the user's devices now and flag (never fix) what differs from the
    applied profile. Returns the user's mismatches."""
    device_services.reconcile_users([user.pk])
    return device_services.mismatches_for(user)
