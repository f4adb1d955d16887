"""How API requests authenticate, and the per-caller rate limit.

A personal token (``Authorization: Bearer pp_…``) or, for same-origin calls
from the portal's own pages, the browser session with Django's CSRF check
(django-ninja's SessionAuth). Every authenticated request counts against a
rate limit per token (per user for the session) in the shared cache.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django_ratelimit.core import get_usage
from ninja.security import APIKeyCookie, HttpBearer

from api import tokens


class RateLimited(Exception):
    def __init__(self, retry_after: int):
        super().__init__("rate limited")
        self.retry_after = retry_after


def _rate(group, request) -> str:
    return settings.API_RATE_LIMIT


def check_rate(request: HttpRequest, key: str) -> None:
    usage = get_usage(request, group="api", key=lambda group, request: key, rate=_rate, increment=True)
    if usage is not None and usage["should_limit"]:
        raise RateLimited(max(1, usage["time_left"]))


def client_ip(request: HttpRequest) -> str | None:
    # Behind a proxy, SecurityMiddleware-level setups pass the real address
    # in REMOTE_ADDR (e.g. gunicorn --forwarded-allow-ips); X-Forwarded-For
    # is not trusted here because clients can set it.
    return request.META.get("REMOTE_ADDR") or None


class TokenAuth(HttpBearer):
    """Authorization: Bearer <personal API token>."""

    def authenticate(self, request: HttpRequest, token: str):
        found = tokens.authenticate(token.strip(), ip=client_ip(request))
        if found is None:
            return None
        request.user = found.user
        request.api_token = found
        check_rate(request, f"token:{found.pk}")
        return found.user


class BrowserSessionAuth(APIKeyCookie):
    """The portal's login session, with the CSRF check for unsafe methods."""

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        # No session cookie: not a browser call; answer 401, not a CSRF 403.
        if self.param_name not in request.COOKIES:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None):
        user = request.user
        if not user.is_authenticated or not user.is_active:
            return None
        check_rate(request, f"user:{user.pk}")
        return user


token_auth = TokenAuth()
session_auth = BrowserSessionAuth()


class StaffPermission:
    """The staff endpoints' auth: a token or the browser session as above,
    then ``permission`` (not merely is_staff), checked before the body is
    read, so anyone without it gets 403 whatever they send."""

    def __init__(self, permission: str):
        self.permission = permission

    def __call__(self, request: HttpRequest):
        user = token_auth(request) or session_auth(request)
        if not user:
            return None
        if not (user.is_staff and user.has_perm(self.permission)):
            raise PermissionDenied
        return user
