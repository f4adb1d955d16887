"""Helpers of the security tests: staff users with exactly the permissions
named, and a fingerprint of every table to prove a refused request changed
nothing."""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.sessions.models import Session
from django.db import connection

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


def db_fingerprint() -> dict[str, object]:
    """Every row of every table (the test data is small), without the
    columns a login touches. On PostgreSQL one query hashes each table."""
    models = [
        m for m in apps.get_models(include_auto_created=True) if m._meta.label not in _IGNORED and not m._meta.proxy
    ]
    if connection.vendor == "postgresql":
        parts = [
            f"SELECT %s, md5(coalesce(string_agg((to_jsonb(t) - 'last_login')::text, '|' "
            f"ORDER BY (to_jsonb(t) - 'last_login')::text), '')) FROM {connection.ops.quote_name(m._meta.db_table)} t"
            for m in models
        ]
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(parts), [m._meta.label for m in models])
            return dict(cursor.fetchall())
    snapshot = {}
    for model in models:
        fields = [f.attname for f in model._meta.concrete_fields if f.attname != "last_login"]
        snapshot[model._meta.label] = list(model.objects.order_by("pk").values_list(*fields))
    return snapshot


_IGNORED_TABLES = ("django_session", "axes_accessattempt", "axes_accesslog", "axes_accessfailurelog")


def db_writes() -> object:
    """A token that changes when any row is written. On PostgreSQL the
    transaction's own tuple counters; on SQLite a counter that temporary
    triggers on every table raise for each row inserted, updated or deleted
    (both one cheap query, and stricter than comparing contents: an UPDATE
    to the same value counts too; a write rolled back with its savepoint
    takes its count with it on SQLite, and before and after are read in
    the same one). The tables of _IGNORED_TABLES do not count."""
    if connection.vendor == "sqlite":
        return _sqlite_writes()
    if connection.vendor != "postgresql":
        return db_fingerprint()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_xact_user_tables "
            "WHERE NOT (relname = ANY(%s))",
            [list(_IGNORED_TABLES)],
        )
        return cursor.fetchone()[0]


def _sqlite_writes() -> int:
    """The fingerprint of every table cost about 60 queries per call (the
    authorization matrix: 183 s of its run on SQLite); this counter one.
    The triggers are TEMP (this connection's, gone with it or with the
    transaction that made them); they are made on the first call."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sqlite_temp_master WHERE type = 'table' AND name = 'test_row_writes'")
        if not cursor.fetchone()[0]:
            cursor.execute("CREATE TEMP TABLE test_row_writes (n integer NOT NULL)")
            cursor.execute("INSERT INTO test_row_writes VALUES (0)")
            tables = [t for t in connection.introspection.table_names(cursor) if t not in _IGNORED_TABLES]
            for number, table in enumerate(tables):
                for operation in ("INSERT", "UPDATE", "DELETE"):
                    cursor.execute(
                        f"CREATE TEMP TRIGGER test_row_writes_{number}_{operation.lower()} AFTER {operation} "
                        f"ON main.{connection.ops.quote_name(table)} "
                        "BEGIN UPDATE test_row_writes SET n = n + 1; END"
                    )
        cursor.execute("SELECT n FROM test_row_writes")
        return cursor.fetchone()[0]
