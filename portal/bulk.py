"""A faster bulk_update for batches of hundreds of rows.

Django's QuerySet.bulk_update builds one CASE WHEN expression per row and
field in Python; for 500 rows × 7 fields that took seconds of CPU in the
trigger bench. On PostgreSQL one ``UPDATE … FROM unnest(<arrays>)`` does the
same with one array parameter per column (no per-row placeholders for the
driver to split and bind); other databases (SQLite, the embedded default)
keep Django's bulk_update.

The arrays go in binary (``execute``): Django binds parameters on the client
(psycopg's ClientCursor), which writes every array into the SQL text as a
literal, escaping each string with a regular expression (in a cProfile of
one trigger batch, a third of the worker's time). Server-side binding with
binary arrays costs under a thirtieth of that.

The arrays are cast to each column's type *without* a length: an explicit
``::varchar(n)`` cast would cut a longer value to n characters without a
word, while the assignment to the varchar(n) column raises "value too long",
as ``save()`` does. (Django's own bulk_update on PostgreSQL casts its CASE
to varchar(n) and does cut: tests/test_bulk.py shows both.)
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re

from django.db import connection
from django.db.models import F, IntegerField, Lookup

# varchar(200), char(8), numeric(10,2) ... -> the type without the modifier
_MODIFIER = re.compile(r"\((\d+)(,\s*\d+)?\)$")


def execute(sql: str, params, *, prepare: bool = False) -> list[tuple]:
    """Run one PostgreSQL statement with the parameters bound by the server:
    ``%b`` placeholders (arrays of hundreds of values) are sent in binary,
    ``%s`` ones as text. Returns the rows (none for a statement without
    result). Goes through Django's cursor wrapper, so the query is counted
    and logged like any other (django_assert_num_queries, connection.queries).

    ``prepare``: a statement run on every request: the driver prepares it
    on the server once per connection (and per parameter types), so
    PostgreSQL plans it once, not each time. Prepared statements belong to
    the database session: a pooler in front of PostgreSQL must keep a client
    on one server connection (pgbouncer's session mode)."""
    import psycopg  # only with PostgreSQL

    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = (_preparing_cursor() if prepare else psycopg.Cursor)(connection.connection)
    connection.validate_thread_sharing()
    wrap = connection.make_debug_cursor if connection.queries_logged else connection.make_cursor
    with wrap(raw) as cursor:
        cursor.execute(sql, params)
        if prepare and connection.queries_logged and connection.queries_log[-1]["sql"] is None:
            # The driver keeps no text of a prepared statement's run for Django's log.
            connection.queries_log[-1]["sql"] = sql
        return cursor.fetchall() if cursor.description is not None else []


@functools.cache
def _preparing_cursor():
    import psycopg  # only with PostgreSQL

    class Preparing(psycopg.Cursor):
        """A server-binding cursor whose statements are prepared (Django's
        cursor wrapper passes no ``prepare``)."""

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True, binary=binary)

    return Preparing


def bulk_update(model, objs: list, fields: list[str]) -> None:
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, fields)
        return
    meta = model._meta
    pk = meta.pk
    columns = [meta.get_field(name) for name in fields]
    params = [[pk.get_db_prep_value(pk.value_from_object(obj), connection) for obj in objs]]
    params += [[field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in objs] for field in columns]
    _update(meta, pk, columns, params)


def _update(meta, pk, columns, params) -> None:
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    arrays = ", ".join(f"%b::{_MODIFIER.sub('', field.db_type(connection))}[]" for field in [pk, *columns])
    names = ", ".join(quote(f"v_{field.column}") for field in [pk, *columns])
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f'v_{f.column}')}" for f in columns)
    sql = (
        f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v({names})"
        f" WHERE {table}.{quote(pk.column)} = v.{quote(f'v_{pk.column}')}"
    )
    execute(sql, params)


def update_rows(model, pks: list, values: dict[str, list]) -> None:
    """``bulk_update`` from plain data: ``pks`` and one list of values per
    field name, in the same order. No model instances on PostgreSQL."""
    if not pks:
        return
    if connection.vendor != "postgresql":
        attnames = {name: model._meta.get_field(name).attname for name in values}
        objs = [model(pk=pk, **{attnames[n]: column[i] for n, column in values.items()}) for i, pk in enumerate(pks)]
        model.objects.bulk_update(objs, list(values))
        return
    meta = model._meta
    pk = meta.pk
    columns = [meta.get_field(name) for name in values]
    params = [_column(pk, pks), *(_column(field, values[field.name]) for field in columns)]
    _update(meta, pk, columns, params)


def insert_rows(model, fields: list[str], rows: list[tuple]) -> list:
    """Insert ``rows`` (tuples of plain values for ``fields``, model field
    names) in one statement and return their primary keys in order. On
    PostgreSQL ``INSERT … SELECT FROM unnest(<one array per column>)``: no
    model instances and no per-row placeholders. Elsewhere Django's
    bulk_create (SQLite returns the keys too)."""
    if not rows:
        return []
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    if connection.vendor != "postgresql":
        attnames = [field.attname for field in columns]
        objs = model.objects.bulk_create([model(**dict(zip(attnames, row, strict=True))) for row in rows])
        return [obj.pk for obj in objs]
    params = [_column(field, [row[i] for row in rows]) for i, field in enumerate(columns)]
    quote = connection.ops.quote_name
    names = ", ".join(quote(field.column) for field in columns)
    arrays = ", ".join(f"%b::{_MODIFIER.sub('', field.db_type(connection))}[]" for field in columns)
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({names}) SELECT * FROM unnest({arrays}) RETURNING {quote(meta.pk.column)}"
    )
    # PostgreSQL returns the rows of INSERT … SELECT in the order the SELECT
    # produced them, and unnest keeps the arrays' order (Django's
    # bulk_create relies on the same for its multi-row VALUES).
    return [row[0] for row in execute(sql, params)]


# Columns whose Python values psycopg sends as they are: no per-value
# get_db_prep_save (thousands of calls per batch).
_PLAIN = {
    "AutoField",
    "BigAutoField",
    "BigIntegerField",
    "BooleanField",
    "CharField",
    "ForeignKey",
    "IntegerField",
    "OneToOneField",
    "PositiveBigIntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "SmallIntegerField",
    "TextField",
}


def _column(field, values: list) -> list:
    """One column's values as psycopg sends them, with get_db_prep_save only
    where a value needs it."""
    kind = field.get_internal_type()
    if kind in _PLAIN and all(v is None or type(v) in (int, bool) or isinstance(v, str) for v in values):
        return values  # str subclasses too: a TextChoices member is its value
    if kind == "DateTimeField" and all(v is None or (type(v) is dt.datetime and v.tzinfo) for v in values):
        return values  # aware datetimes: get_db_prep_save only warns about naive ones
    if kind == "JSONField":
        # JSON text for a ``::jsonb[]`` array (get_db_prep_save would wrap
        # each value for psycopg, which then encodes it the same way); None
        # is SQL NULL, as get_db_prep_save makes it.
        return [None if v is None else json.dumps(v, cls=field.encoder) for v in values]
    return [field.get_db_prep_save(v, connection) for v in values]


class _AnyOf(Lookup):
    """``column = ANY(<one array>)`` on PostgreSQL, ``IN (…)`` elsewhere."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        field = self.lhs.output_field
        if isinstance(field, IntegerField):
            # A number beyond the column's range matches nothing (as in
            # Django's own lookups); sent, it is an error of the database.
            low, high = connection.ops.integer_field_range(field.get_internal_type())
            values = [v for v in values if (low is None or v >= low) and (high is None or v <= high)]
        if connection.vendor == "postgresql":
            db_type = _MODIFIER.sub("", self.lhs.output_field.db_type(connection))
            return f"{lhs} = ANY(%s::{db_type}[])", [*lhs_params, values]
        if not values:
            return "1 = 0", list(lhs_params)
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


def any_of(field: str, values) -> Lookup:
    """A filter for ``field__in=values`` with hundreds of plain values (ids,
    numbers): on PostgreSQL one array parameter instead of one placeholder
    per value, which psycopg would split and bind one by one on every batch
    (``Model.objects.filter(bulk.any_of("user_id", ids))``)."""
    return _AnyOf(F(field), list(values))
