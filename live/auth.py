"""Who is on the other end of a stream: checked at connect and re-checked
every LIVE_RECHECK_SECONDS, many streams in one call (the hub's slot of
the second: live/hub.py).

One place for both checks, so another way of signing in (the API's tokens)
adds a kind here and nowhere else."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user, get_user_model
from django.contrib.sessions.models import Session
from django.db import connection
from django.http import HttpRequest
from django.utils import timezone

SESSION = "session"
TOKEN = "token"
CHUNK = 2000  # ids per IN (…) list; SQLite allows 32,766 parameters


@dataclass(frozen=True)
class Principal:
    user_id: int
    kind: str  # SESSION (a browser's login) or TOKEN (a client's API token)
    key: str  # the session key, or the token's id


@dataclass(frozen=True)
class TokenCheck:
    """What the client API (api/apps.py) registers, so clients open the
    stream with their token; live never imports the API."""

    # (raw token, client address) -> (user id, token id) of an active token, or None
    authenticate: Callable[[str, str | None], tuple[int, int] | None]
    # token ids -> those still active (not revoked)
    still_active: Callable[[set[int]], set[int]]


_tokens: TokenCheck | None = None


def register_tokens(check: TokenCheck) -> None:
    global _tokens
    _tokens = check


def authenticate(*, session_key: str | None = None, authorization: str = "", ip: str | None = None) -> Principal | None:
    """Who opens a stream: a client's API token (``Authorization: Bearer
    …``), else the page's session cookie; None when neither holds. The
    session by Django's own check (django.contrib.auth.get_user): it exists,
    names a configured backend, its password hash still holds, the user is
    active."""
    scheme, _, raw = authorization.partition(" ")
    if scheme.lower() == "bearer" and raw.strip():
        found = _tokens.authenticate(raw.strip(), ip) if _tokens is not None else None
        return Principal(user_id=found[0], kind=TOKEN, key=str(found[1])) if found else None
    if not session_key:
        return None
    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = get_user(request)
    if not user.is_authenticated or not user.is_active:
        return None
    return Principal(user_id=user.pk, kind=SESSION, key=session_key)


def still_allowed(principals: set[Principal]) -> set[Principal]:
    """Those whose login still holds: the session exists and has not
    expired (not logged out) or the token is not revoked, and the user is
    still active. Two queries on PostgreSQL whatever the number (each an
    array parameter, answering only the keys and users that no longer
    hold); elsewhere a constant number per CHUNK principals."""
    now = timezone.now()
    keys = {p.key for p in principals if p.kind == SESSION}
    ids = {p.user_id for p in principals}
    if connection.vendor == "postgresql":
        gone_sessions, inactive = _gone_postgresql(keys, ids, now)
    else:
        gone_sessions, inactive = _gone_chunked(keys, ids, now)
    token_ids = {int(p.key) for p in principals if p.kind == TOKEN}
    live_tokens = {str(t) for t in _tokens.still_active(token_ids)} if token_ids and _tokens is not None else set()
    return {
        p
        for p in principals
        if p.user_id not in inactive
        and (p.key not in gone_sessions if p.kind == SESSION else p.kind == TOKEN and p.key in live_tokens)
    }


def _gone_postgresql(keys: set[str], ids: set[int], now) -> tuple[set[str], set[int]]:
    """(session keys that no longer exist or have expired, user ids that are
    no longer active), each in one query of an array: a re-check of 10,000
    streams costs a tenth of the CPU of 2,000 placeholders per IN list."""
    sessions = Session._meta.db_table
    user = get_user_model()._meta
    gone: set[str] = set()
    inactive: set[int] = set()
    with connection.cursor() as cursor:
        if keys:
            cursor.execute(
                f"SELECT k FROM unnest(%s::text[]) AS k WHERE NOT EXISTS"
                f" (SELECT 1 FROM {sessions} s WHERE s.session_key = k AND s.expire_date > %s)",
                [list(keys), now],
            )
            gone = {row[0] for row in cursor.fetchall()}
        if ids:
            cursor.execute(
                f"SELECT i FROM unnest(%s::bigint[]) AS i WHERE NOT EXISTS"
                f" (SELECT 1 FROM {user.db_table} u WHERE u.{user.pk.column} = i AND u.is_active)",
                [list(ids)],
            )
            inactive = {row[0] for row in cursor.fetchall()}
    return gone, inactive


def _gone_chunked(keys: set[str], ids: set[int], now) -> tuple[set[str], set[int]]:
    live_sessions: set[str] = set()
    ordered = sorted(keys)
    for start in range(0, len(ordered), CHUNK):
        live_sessions.update(
            Session.objects.filter(session_key__in=ordered[start : start + CHUNK], expire_date__gt=now).values_list(
                "session_key", flat=True
            )
        )
    active: set[int] = set()
    ordered_ids = sorted(ids)
    for start in range(0, len(ordered_ids), CHUNK):
        active.update(
            get_user_model()
            .objects.filter(pk__in=ordered_ids[start : start + CHUNK], is_active=True)
            .values_list("pk", flat=True)
        )
    return keys - live_sessions, ids - active
