"""Timestamps read from PostgreSQL by psycopg's C loader.

Django registers its own loader for ``timestamptz`` (a subclass of psycopg's
pure-Python one that sets the time zone afterwards), so every timestamp a
query returns is parsed in Python: a quarter of a trigger batch's catalog
read and a good part of the due-scan's (bench/triggers.py). When Django's
connection runs in UTC (USE_TZ, no database TIME_ZONE: the portal's
settings), psycopg's C loader gives the same value, an aware datetime in
UTC, so each new connection gets a loader that hands the parsing to it.
Django's cursor checks the loader's ``timezone`` and keeps it.
"""

from __future__ import annotations

import datetime as dt
import functools

from django.db.backends.signals import connection_created


def install(sender, connection, **kwargs) -> None:
    """connection_created: use the C loader on a UTC PostgreSQL connection."""
    if connection.vendor != "postgresql" or connection.timezone is not dt.UTC:
        return
    raw = connection.connection
    if raw.info.parameter_status("TimeZone") != "UTC":
        return
    raw.adapters.register_loader("timestamptz", _utc_loader())


@functools.cache
def _utc_loader():
    import psycopg  # only with PostgreSQL
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader
    from psycopg.pq import Format

    fast = psycopg.adapters.get_loader(psycopg.postgres.types["timestamptz"].oid, Format.TEXT)

    class UtcLoader(BaseTzLoader):
        """Django's loader class (its ``timezone`` is UTC) parsing with
        psycopg's C loader (final: it cannot be subclassed)."""

        timezone = dt.UTC

        def __init__(self, oid, context=None):
            super().__init__(oid, context)
            self.load = fast(oid, context).load

    return UtcLoader


def connect() -> None:
    connection_created.connect(install, dispatch_uid="portal.timestamps")
