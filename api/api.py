"""The client API, version 1: one NinjaAPI with its routers, its auth and its
error handlers. Mounted at /api/v1/ (portal/urls.py); the OpenAPI schema is
at /api/v1/openapi.json, the interactive docs at /api/v1/docs."""

from ninja import NinjaAPI

from api import errors
from api.auth import session_auth, token_auth
from api.endpoints import colleagues, me, mine, profiles, sessions, staff

api = NinjaAPI(
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
