"""Refuse hostile bytes before any view, form or query sees them.

PostgreSQL cannot store NUL, Python refuses to convert integers of more
than 4,300 digits, and a database integer column overflows long before
that; left to the views, each of these is a server error somewhere deep in
Django or a library. One early check answers them all with 400 and a clear
message instead. Form and service validation (devices.validators) still
refuse other control characters with a message at the field.
"""

from __future__ import annotations

import re

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

# Control characters no text field of the portal accepts (tab, line feed
# and carriage return are text). NUL is the one that breaks storage; the
# others are refused here too, so every page behaves the same.
from devices.validators import CONTROL_CHARACTERS

# A value that is only a (signed) number with more digits than any id,
# position or phone number has (E.164 numbers have at most 15 digits).
OVERSIZED_NUMBER = re.compile(r"^\s*[-+]?\d{31,}\s*$")
# Admin changelist selections are primary keys; every admin model's is an integer.
ADMIN_SELECTION_KEYS = ("_selected_action",)
SELECTION_ID = re.compile(r"^\d{1,18}$")


def refusal(request: HttpRequest, message: str, *, status: int = 400, field: str = "") -> HttpResponse:
    """A 4xx answer with ``message``: JSON for machine clients, a page otherwise.
    The client API's shape (README "Errors") under /api/, naming ``field``."""
    if request.path.startswith("/api/"):
        errors = [{"field": field, "message": message}] if field else []
        return JsonResponse({"code": "bad_request", "message": message, "errors": errors, "prompts": []}, status=status)
    if request.path.startswith("/hooks/") or request.content_type == "application/json":
        return JsonResponse({"error": message}, status=status)
    body = render_to_string("400.html", {"message": message, "status": status})
    return HttpResponse(body, status=status)


class HostileInputMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem, field = self.problem(request)
        if problem:
            return refusal(request, problem, field=field)
        return self.get_response(request)

    def problem(self, request: HttpRequest) -> tuple[str, str]:
        """(what is wrong, the field it is in) or ("", "")."""
        if CONTROL_CHARACTERS.search(request.path):
            return _("The address contains control characters; remove them and try again."), ""
        sources = [request.GET]
        if request.method == "POST" and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            try:
                sources.append(request.POST)
            except (RequestDataTooBig, TooManyFieldsSent):
                return _("The request is too large."), ""
        for data in sources:
            for key, values in data.lists():
                for value in [key, *values]:
                    if CONTROL_CHARACTERS.search(value):
                        message = _("The text contains control characters (such as NUL); remove them and try again.")
                        return message, key if value is not key else ""
                    if OVERSIZED_NUMBER.match(value):
                        return _("A number in this request is too long."), key if value is not key else ""
                if request.path.startswith("/admin/") and key in ADMIN_SELECTION_KEYS:
                    if not all(SELECTION_ID.match(value) for value in values):
                        return _("The selection is not valid; reload the list and select again."), key
        return "", ""


# Browser features the portal never uses, refused for it and for anything
# it might embed.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
    )
)


class PermissionsPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response
