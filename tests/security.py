"""Helpers of the security tests: staff users with exactly the permissions
named, and a fingerprint of every table to prove a refused request changed
nothing."""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.sessions.models import Session

User = get_user_model()


def make_staff(username: str, *perms: str, view_all: bool = True):
    """A staff user (not superuser) with the view permission of every model
    (``view_all``) plus ``perms`` ("app_label.codename")."""
    user = User.objects.create_user(username=username, password="pw-" + username, is_staff=True)
    granted = list(Permission.objects.filter(codename__startswith="view_")) if view_all else []
    for perm in perms:
        app_label, codename = perm.split(".")
        granted.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    user.user_permissions.add(*granted)
    return User.objects.get(pk=user.pk)  # a fresh object: no cached permissions


# Rows a request writes whatever it is allowed to do: the session and the
# login time (force_login), the axes access log.
_IGNORED = {Session._meta.label, "axes.AccessLog", "axes.AccessAttempt", "axes.AccessFailureLog"}


def db_fingerprint() -> dict[str, list[tuple]]:
    """Every row of every table (the test data is small), without the
    columns a login touches."""
    snapshot = {}
    for model in apps.get_models():
        if model._meta.label in _IGNORED:
            continue
        fields = [f.attname for f in model._meta.concrete_fields if f.attname != "last_login"]
        snapshot[model._meta.label] = list(model.objects.order_by("pk").values_list(*fields))
    return snapshot
