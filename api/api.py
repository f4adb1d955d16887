"""The client API, version 1: one NinjaAPI with its routers, its auth and its
error handlers. Mounted at /api/v1/ (portal/urls.py); the OpenAPI schema is
at /api/v1/openapi.json, the interactive docs at /api/v1/docs."""

import copy
import functools

from django.http import Http404, JsonResponse
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe
from ninja import NinjaAPI

from api import errors
from api.auth import session_auth, token_auth
from api.endpoints import colleagues, me, mine, profiles, sessions, staff


class PortalAPI(NinjaAPI):
    """NinjaAPI whose OpenAPI schema is built once per process (per path
    prefix and language), not on every request for /api/v1/openapi.json:
    building it runs pydantic's schema generation over every operation,
    about 0.3 s of CPU each time, for a document that only changes with
    the code."""

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        if path_prefix is None:
            path_prefix = self.get_root_path(path_params or {})
        key = (path_prefix, translation.get_language())
        cache = self.__dict__.setdefault("_schemas", {})
        if key not in cache:
            cache[key] = super().get_openapi_schema(path_prefix=path_prefix)
        return copy.deepcopy(cache[key])  # callers may change theirs


api = PortalAPI(
    title="Presence Profiles API",
    version="1",
    description=(
        "The portal's API for desktop and mobile clients: presence, profiles and their action chains and "
        "triggers, colleagues, devices, history, client sessions with heartbeat, and staff operations. "
        "Authenticate with a personal API token (`Authorization: Bearer pp_…`, made on the portal's "
        "API tokens page) or, from the portal's own pages, with the browser session and the CSRF header. "
        "Errors are JSON: `code` (stable), `message` (for people), `errors` (per field)."
    ),
    urls_namespace="api-v1",
    auth=[token_auth, session_auth],
    docs_url="/docs",
    openapi_url="/openapi.json",
)
errors.install(api)
for module in (me, profiles, colleagues, mine, sessions, staff):
    api.add_router("/", module.router)


def _json_errors(view):
    """django-ninja answers a method a path does not have with a plain-text
    405, and its root address (/api/v1/) raises Http404 for Django's HTML
    page; the API answers every error as JSON with a code (README "Errors")."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            response = view(request, *args, **kwargs)
        except Http404:
            message = _("Not found. The API's documentation is at %(docs)s.") % {"docs": reverse("api-v1:openapi-view")}
            return JsonResponse(errors.body("not_found", message), status=404)
        if response.status_code == 405 and not response.get("Content-Type", "").startswith("application/json"):
            allowed = response.get("Allow", "")
            message = _("This address does not take %(method)s; it takes %(allowed)s.") % {
                "method": request.method,
                "allowed": allowed,
            }
            answer = JsonResponse(errors.body("method_not_allowed", message), status=405)
            answer["Allow"] = allowed
            return answer
        return response

    return wrapper


def urls():
    """The API's URL patterns for portal/urls.py."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        view = pattern.callback
        if pattern.name in ("openapi-json", "openapi-view", "api-root"):
            view = require_safe(view)  # django-ninja's own views answer any method
        pattern.callback = _json_errors(view)
    return patterns, app_name, namespace
