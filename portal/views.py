"""Project-wide views: logging out with a confirmation page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.views import LogoutView
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _


class PortalLogoutView(LogoutView):
    """GET asks "Log out?" (a link or a typed URL must not log anyone out,
    and must not answer a blank 405); POST logs out and says so on the
    log-in page."""

    http_method_names = ["get", "post", "options"]

    def get(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect("login")
        return render(request, "registration/logout_confirm.html")

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.success(request, _("You are logged out."))
        return response
