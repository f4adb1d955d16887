"""Personal API tokens: the one place they are created, checked and revoked.

A token is ``pp_`` and 43 URL-safe characters (256 random bits). Only its
SHA-256 is stored, under a unique index, so checking a token is one indexed
read (joined with its user, who must be active: a deactivated user's tokens
stop at once). The last-used time and address are written at most once per
``API_TOKEN_TOUCH_SECONDS``, so a busy client does not turn every read into
a write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from api.models import ApiToken

TOKEN_PREFIX = "pp_"
MAX_ACTIVE_TOKENS = 50


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    raw: str  # shown to the user once, never stored


def create_token(*, user, name: str) -> NewToken:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Give the token a name, e.g. the computer or phone it is for.")})
    if len(name) > 100:
        raise ValidationError({"name": _("A token name has at most 100 characters.")})
    if ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() >= MAX_ACTIVE_TOKENS:
        raise ValidationError({"name": _("You have too many tokens; revoke one you no longer use.")})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, key_hash=hash_token(raw), prefix=raw[:10])
    return NewToken(token=token, raw=raw)


def revoke_token(*, token: ApiToken) -> bool:
    """Revoke a token (its owner on the tokens page, or staff in the admin).
    Returns False when it was revoked already."""
    return bool(ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()))


def revoke_tokens(*, tokens) -> int:
    """Revoke many tokens at once (the admin action)."""
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


def authenticate(raw: str, *, ip: str | None) -> ApiToken | None:
    """The active token ``raw`` with its (active) user, or None."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 100:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_token(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    window = dt.timedelta(seconds=settings.API_TOKEN_TOUCH_SECONDS)
    if token.last_used_at is None or now - token.last_used_at >= window or token.last_used_ip != ip:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip)
        token.last_used_at, token.last_used_ip = now, ip
    return token


def user_tokens(user) -> list[ApiToken]:
    return list(ApiToken.objects.filter(user=user).order_by("revoked_at", "-created_at"))


def get_own_token(user, token_id) -> ApiToken:
    return ApiToken.objects.get(pk=token_id, user=user)


def stream_token(raw: str, ip: str | None) -> tuple[int, int] | None:
    """(user id, token id) of an active token: the event stream's check
    (registered with live.auth in ApiConfig.ready)."""
    token = authenticate(raw, ip=ip)
    return (token.user_id, token.pk) if token is not None else None


def still_active(token_ids: set[int]) -> set[int]:
    """The tokens among these not revoked (one query): the stream's re-check."""
    return set(ApiToken.objects.filter(pk__in=list(token_ids), revoked_at__isnull=True).values_list("pk", flat=True))
