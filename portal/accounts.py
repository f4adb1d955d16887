"""The login-related pages: Django's own, with a password reset that is
offered only when the portal can send mail, and that says so when a mail
could not be sent instead of claiming it was."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm
from django.core.mail import EmailMultiAlternatives
from django.template import loader
from django.urls import path
from django.utils.translation import gettext as _


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' check of failed logins, for logins over HTTP. A call of
    authenticate() without a request (a shell, a management command) has no
    address to count and is left to the next backend instead of raising."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class MailNotSent(Exception):
    pass


class HonestPasswordResetForm(PasswordResetForm):
    """Django's form logs a failed send and carries on; this one raises."""

    def send_mail(
        self, subject_template_name, email_template_name, context, from_email, to_email, html_email_template_name=None
    ):
        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        body = loader.render_to_string(email_template_name, context)
        message = EmailMultiAlternatives(subject, body, from_email, [to_email])
        if html_email_template_name is not None:
            message.attach_alternative(loader.render_to_string(html_email_template_name, context), "text/html")
        try:
            message.send()
        except Exception as exc:  # any transport error: SMTP, socket, TLS
            raise MailNotSent(str(exc)) from exc


class PasswordResetView(auth_views.PasswordResetView):
    form_class = HonestPasswordResetForm

    def form_valid(self, form):
        try:
            return super().form_valid(form)
        except MailNotSent:
            form.add_error(
                None, _("The portal could not send the mail just now. Try again later or ask your administrator.")
            )
            return self.form_invalid(form)


def urlpatterns() -> list:
    patterns = [
        path("login/", auth_views.LoginView.as_view(), name="login"),
        path("logout/", auth_views.LogoutView.as_view(), name="logout"),
        path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
        path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    ]
    if settings.PASSWORD_RESET_ENABLED:
        patterns += [
            path("password_reset/", PasswordResetView.as_view(), name="password_reset"),
            path("password_reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
            path(
                "reset/<uidb64>/<token>/",
                auth_views.PasswordResetConfirmView.as_view(),
                name="password_reset_confirm",
            ),
            path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
        ]
    return patterns
