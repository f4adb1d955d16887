"""The API tokens page: create (shown once), name, see last use, revoke."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from api import tokens
from api.errors import body as error_body
from profiles.views.common import or_404


@login_required
@require_http_methods(["GET", "POST"])
def tokens_page(request: HttpRequest) -> HttpResponse:
    context = {"new_token": None, "name_error": "", "name": ""}
    status = 200
    if request.method == "POST":
        name = request.POST.get("name", "")
        try:
            # Shown on this answer only; the database keeps its hash.
            context["new_token"] = tokens.create_token(user=request.user, name=name)
        except ValidationError as exc:
            context["name_error"] = " ".join(exc.message_dict.get("name", exc.messages))
            context["name"] = name[:100]
            status = 422
    context["tokens"] = tokens.user_tokens(request.user)
    response = render(request, "api/tokens.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = or_404(tokens.get_own_token, request.user, token_id)
    if tokens.revoke_token(token=token):
        messages.success(request, _("Token “%(name)s” revoked; clients using it stop at once.") % {"name": token.name})
    return redirect("api:tokens")


def api_not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Any other address under /api/: the API's JSON 404, not the HTML page."""
    return JsonResponse(error_body("not_found", _("Not found.")), status=404)
