"""Every error the API answers is JSON with a stable ``code`` and a
``message`` for people; validation errors name each field."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from ninja import Schema
from ninja.errors import AuthenticationError, AuthorizationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from api.auth import RateLimited
from profiles.errors import InUse, NotAllowed, PortalError, PresenceDisabled, PromptRequired


class FieldError(Schema):
    field: str
    message: str


class PromptOut(Schema):
    kind: str
    recent: list[str]


class ErrorOut(Schema):
    code: str
    message: str
    errors: list[FieldError] = []
    prompts: list[PromptOut] = []


class ApiError(Exception):
    """An answer with a code, for the endpoints' own refusals."""

    def __init__(self, status: int, code: str, message: str, errors: list[dict] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.errors = status, code, message, errors or []


def body(code: str, message: str, errors=None, prompts=None) -> dict:
    return {"code": code, "message": message, "errors": errors or [], "prompts": prompts or []}


PORTAL_CODES = {PromptRequired: "prompt_required", InUse: "conflict", PresenceDisabled: "presence_disabled"}


def _portal_code(exc: PortalError) -> str:
    for kind, code in PORTAL_CODES.items():
        if isinstance(exc, kind):
            return code
    return "not_allowed" if isinstance(exc, NotAllowed) else "refused"


def _field_name(loc) -> str:
    parts = [str(p) for p in loc]
    # ninja's locations are ("body", "<parameter>", field, …) or ("query", field).
    if parts and parts[0] == "body":
        parts = parts[2:]  # a missing body is reported as "body" itself
    elif parts and parts[0] in ("query", "path", "header", "cookie", "form"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def django_field_errors(exc: DjangoValidationError) -> list[dict]:
    if hasattr(exc, "error_dict"):
        return [
            {"field": "body" if name == "__all__" else name, "message": str(message)}
            for name, errors in exc.message_dict.items()
            for message in errors
        ]
    return [{"field": "body", "message": str(m)} for m in exc.messages]


def install(api) -> None:
    """Register the handlers on the NinjaAPI ``api``."""

    def respond(request, status: int, data: dict, headers: dict | None = None):
        response = api.create_response(request, data, status=status)
        for key, value in (headers or {}).items():
            response[key] = value
        return response

    @api.exception_handler(NinjaValidationError)
    def validation(request, exc):
        errors = [{"field": _field_name(e.get("loc", ())), "message": str(e.get("msg", ""))} for e in exc.errors]
        return respond(request, 422, body("validation_error", _("Some fields are not valid."), errors))

    @api.exception_handler(DjangoValidationError)
    def model_validation(request, exc):
        return respond(
            request, 422, body("validation_error", _("Some fields are not valid."), django_field_errors(exc))
        )

    @api.exception_handler(PortalError)
    def portal_error(request, exc):
        prompts = []
        status = exc.status
        if isinstance(exc, PromptRequired):
            from profiles import selectors

            status = 422
            prompts = [{"kind": k, "recent": selectors.recent_values(request.user, k)} for k in sorted(exc.needed)]
        return respond(request, status, body(_portal_code(exc), exc.message, prompts=prompts))

    @api.exception_handler(ApiError)
    def api_error(request, exc):
        return respond(request, exc.status, body(exc.code, exc.message, exc.errors))

    @api.exception_handler(AuthenticationError)
    def unauthenticated(request, exc):
        return respond(
            request,
            401,
            body("not_authenticated", _("Send a valid API token (Authorization: Bearer …) or sign in.")),
            {"WWW-Authenticate": "Bearer"},
        )

    @api.exception_handler(AuthorizationError)
    @api.exception_handler(PermissionDenied)
    def forbidden(request, exc):
        return respond(request, 403, body("forbidden", _("You do not have permission to do this.")))

    @api.exception_handler(Http404)
    @api.exception_handler(ObjectDoesNotExist)
    def not_found(request, exc):
        return respond(request, 404, body("not_found", _("Not found.")))

    @api.exception_handler(RateLimited)
    def rate_limited(request, exc):
        return respond(
            request,
            429,
            body("rate_limited", _("Too many requests; try again in %(seconds)s s.") % {"seconds": exc.retry_after}),
            {"Retry-After": str(exc.retry_after)},
        )

    @api.exception_handler(HttpError)
    def http_error(request, exc):
        status = exc.status_code
        if status == 403:
            return respond(request, 403, body("csrf_failed", _("The CSRF check failed; send the X-CSRFToken header.")))
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(status, "error")
        return respond(request, status, body(code, str(exc)))
