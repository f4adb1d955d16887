"""Who is on the other end of a stream: checked at connect and re-checked
every LIVE_RECHECK_SECONDS, many streams in one call (the hub's re-check:
live/hub.py).

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

from portal import bulk

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
    still active. Two queries on PostgreSQL whatever the number (each one
    array parameter: portal.bulk.any_of); elsewhere two per CHUNK."""
    now = timezone.now()
    live_sessions: set[str] = set()
    for keys in _chunks({p.key for p in principals if p.kind == SESSION}):
        live_sessions.update(
            Session.objects.filter(bulk.any_of("session_key", keys), expire_date__gt=now).values_list(
                "session_key", flat=True
            )
        )
    active: set[int] = set()
    for ids in _chunks({p.user_id for p in principals}):
        active.update(
            get_user_model().objects.filter(bulk.any_of("pk", ids), is_active=True).values_list("pk", flat=True)
        )
    token_ids = {int(p.key) for p in principals if p.kind == TOKEN}
    live_tokens = {str(t) for t in _tokens.still_active(token_ids)} if token_ids and _tokens is not None else set()
    held = {SESSION: live_sessions, TOKEN: live_tokens}
    return {p for p in principals if p.user_id in active and p.key in held.get(p.kind, ())}


def _chunks(values: set) -> list[list]:
    """All in one array on PostgreSQL (10,000 streams: 31 ms of CPU, against
    118 ms with 2,000 placeholders per IN list); CHUNK per list elsewhere."""
    ordered = sorted(values)
    size = max(len(ordered), 1) if connection.vendor == "postgresql" else CHUNK
    return [ordered[start : start + size] for start in range(0, len(ordered), size)]
