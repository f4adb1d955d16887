"""Who is on the other end of a stream: checked at connect and re-checked
for every open stream at once, every LIVE_RECHECK_SECONDS.

One place for both checks, so another way of signing in (the API's tokens)
adds a kind here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user, get_user_model
from django.contrib.sessions.models import Session
from django.http import HttpRequest
from django.utils import timezone

SESSION = "session"
CHUNK = 2000  # ids per IN (…) list; SQLite allows 32,766 parameters


@dataclass(frozen=True)
class Principal:
    user_id: int
    kind: str  # SESSION (a browser's login)
    key: str  # the session key


def authenticate(*, session_key: str | None) -> Principal | None:
    """The active user signed in with this session (the page's cookie), or
    None. Django's own check (django.contrib.auth.get_user): the session
    exists, names a configured backend, and its password hash still holds.
    The stream's one way in; the API's tokens add theirs here."""
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
    expired (not logged out), and the user is still active. A constant number
    of queries per CHUNK principals."""
    now = timezone.now()
    live_sessions: set[str] = set()
    keys = sorted({p.key for p in principals if p.kind == SESSION})
    for start in range(0, len(keys), CHUNK):
        live_sessions.update(
            Session.objects.filter(session_key__in=keys[start : start + CHUNK], expire_date__gt=now).values_list(
                "session_key", flat=True
            )
        )
    active: set[int] = set()
    ids = sorted({p.user_id for p in principals})
    for start in range(0, len(ids), CHUNK):
        active.update(
            get_user_model()
            .objects.filter(pk__in=ids[start : start + CHUNK], is_active=True)
            .values_list("pk", flat=True)
        )
    return {p for p in principals if p.user_id in active and (p.kind != SESSION or p.key in live_sessions)}
