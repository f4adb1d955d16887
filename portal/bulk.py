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

Rows of the column kinds the portal writes in batches (numbers, text,
booleans, aware datetimes, JSON) go as one JSON document instead, an array
of rows read with ``jsonb_array_elements``: one ``json.dumps`` in C where
the binary arrays cost psycopg a Python call per value. For the 3,000
ApplyStep rows of a batch converge of 1,000 users: 11 ms of the worker's
CPU instead of 31-34 ms, the same for PostgreSQL (bench/profile_burst.py).
Other column kinds keep the arrays.

The values are cast to each column's type *without* a length: an explicit
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

    ``prepare``: a Statement's run (below): PostgreSQL's own ``$1, $2, …``
    with ``params`` a sequence, prepared on the server once per connection."""
    import psycopg  # only with PostgreSQL

    connection.ensure_connection()
    with connection.wrap_database_errors:
        driver_cursor = (_preparing_cursor() if prepare else psycopg.Cursor)(connection.connection)
    connection.validate_thread_sharing()
    wrap = connection.make_debug_cursor if connection.queries_logged else connection.make_cursor
    with wrap(driver_cursor) as cursor:
        cursor.execute(sql, params)
        if prepare and connection.queries_logged and connection.queries_log[-1]["sql"] is None:
            # The driver keeps no text of a prepared statement's run for Django's log.
            connection.queries_log[-1]["sql"] = sql
        # Whether rows came back, read off the result's status: the cursor's
        # description builds a Column object per column (about 10 µs a run).
        result = cursor.pgresult
        return cursor.fetchall() if result is not None and result.status == psycopg.pq.ExecStatus.TUPLES_OK else []


class Statement:
    """A statement run on every request (the switch's write), written with
    ``%(name)s`` placeholders and run as PostgreSQL's own ``$1, $2, …``:

    - prepared on the server once per connection (and per parameter
      types), so PostgreSQL plans it once, not each time: planning a dozen
      CTEs cost the server more than running them (about 2 ms of its CPU
      per switch). Prepared statements belong to the database session: a
      pooler in front of PostgreSQL must keep a client on one server
      connection (pgbouncer's session mode);
    - sent as is (psycopg's raw cursor): the driver parses a ``%(name)s``
      statement again on every run once it is longer than 4,096 bytes
      (MAX_CACHED_STATEMENT_LENGTH), the switch's is 5 KB with its comments.
    """

    def __init__(self, sql: str):
        names: list[str] = []

        def number(match: re.Match) -> str:
            if match[1] not in names:
                names.append(match[1])
            return f"${names.index(match[1]) + 1}"

        self.sql = _PLACEHOLDER.sub(number, sql).replace("%%", "%")
        if "%(" in self.sql or "%s" in self.sql or "%b" in self.sql:
            raise ValueError("a Statement takes %(name)s placeholders only")
        self.names = tuple(names)

    def run(self, params: dict) -> list[tuple]:
        """The rows (none for a statement without result); ``params`` by name."""
        return execute(self.sql, [params[name] for name in self.names], prepare=True)


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@functools.cache
def _preparing_cursor():
    import psycopg  # only with PostgreSQL

    class Preparing(psycopg.RawCursor):
        """A raw cursor (``$1, $2, …``, sent as is) whose statements are
        prepared (Django's cursor wrapper passes no ``prepare``)."""

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True, binary=binary)

    return Preparing


def bulk_update(model, objs: list, fields: list[str]) -> None:
    """Django's ``bulk_update(objs, fields)``, in one statement on PostgreSQL."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, fields)
        return
    attnames = {name: model._meta.get_field(name).attname for name in fields}
    update_rows(
        model, [obj.pk for obj in objs], {name: [getattr(obj, attnames[name]) for obj in objs] for name in fields}
    )


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
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    names = ", ".join(quote(f"v_{field.column}") for field in [pk, *columns])
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f'v_{f.column}')}" for f in columns)
    source, params = _source([pk, *columns], [pks, *(values[field.name] for field in columns)])
    sql = (
        f"UPDATE {table} SET {assignments} FROM {source} AS v({names})"
        f" WHERE {table}.{quote(pk.column)} = v.{quote(f'v_{pk.column}')}"
    )
    execute(sql, params)


def insert_rows(model, fields: list[str], rows: list[tuple]) -> list:
    """Insert ``rows`` (tuples of plain values for ``fields``, model field
    names) in one statement and return their primary keys in order. On
    PostgreSQL ``INSERT … SELECT`` from one JSON document of rows (or one
    array per column): no model instances and no per-row placeholders.
    Elsewhere Django's bulk_create (SQLite returns the keys too)."""
    if not rows:
        return []
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    if connection.vendor != "postgresql":
        attnames = [field.attname for field in columns]
        objs = model.objects.bulk_create([model(**dict(zip(attnames, row, strict=True))) for row in rows])
        return [obj.pk for obj in objs]
    quote = connection.ops.quote_name
    names = ", ".join(quote(field.column) for field in columns)
    source, params = _source(columns, [[row[i] for row in rows] for i in range(len(columns))])
    sql = f"INSERT INTO {quote(meta.db_table)} ({names}) SELECT * FROM {source} AS v RETURNING {quote(meta.pk.column)}"
    # PostgreSQL returns the rows of INSERT … SELECT in the order the SELECT
    # produced them, and unnest and jsonb_array_elements keep the rows'
    # order (Django's bulk_create relies on the same for its multi-row VALUES).
    return [row[0] for row in execute(sql, params)]


def _source(fields: list, columns: list[list]) -> tuple[str, list]:
    """Rows given as one list of values per field, as a FROM item and its
    parameters: one JSON document (an array of rows) when every field and
    value travels as JSON (_json_column), else one binary array per field."""
    prepared = [_json_column(field, values) for field, values in zip(fields, columns, strict=True)]
    if all(p is not None for p in prepared):
        casts = ", ".join(
            f"NULLIF(r -> {i}, 'null'::jsonb)"
            if field.get_internal_type() == "JSONField"
            else f"(r ->> {i})::{_db_type(field)}"
            for i, field in enumerate(fields)
        )
        return f"(SELECT {casts} FROM jsonb_array_elements(%s::jsonb) AS r)", [
            json.dumps(list(zip(*prepared, strict=True)))
        ]
    arrays = ", ".join(f"%b::{_db_type(field)}[]" for field in fields)
    return f"unnest({arrays})", [_column(field, values) for field, values in zip(fields, columns, strict=True)]


def _db_type(field) -> str:
    return _MODIFIER.sub("", field.db_type(connection))


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


def _plain(values: list) -> bool:
    return all(v is None or type(v) in (int, bool) or isinstance(v, str) for v in values)


def _aware(values: list) -> bool:
    return all(v is None or (type(v) is dt.datetime and v.tzinfo) for v in values)


def _json_column(field, values: list) -> list | None:
    """One column's values as the JSON document carries them, or None when
    they do not go as JSON: plain numbers, text and booleans as they are
    (str subclasses too: a TextChoices member is its value), aware
    datetimes as ISO text (PostgreSQL reads the offset), a JSONField's
    values nested (None is SQL NULL, as get_db_prep_save makes it; a value
    JSON cannot encode fails as it does with Django)."""
    kind = field.get_internal_type()
    if kind in _PLAIN and _plain(values):
        return values
    if kind == "DateTimeField" and _aware(values):
        return [None if v is None else v.isoformat() for v in values]
    if kind == "JSONField" and field.encoder is None:
        return values
    return None


def _column(field, values: list) -> list:
    """One column's values as psycopg sends them in an array, with
    get_db_prep_save only where a value needs it."""
    kind = field.get_internal_type()
    if kind in _PLAIN and _plain(values):
        return values
    if kind == "DateTimeField" and _aware(values):
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
            literal = array_literal(values)
            return f"{lhs} = ANY(%s::{db_type}[])", [*lhs_params, values if literal is None else literal]
        if not values:
            return "1 = 0", list(lhs_params)
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


def array_literal(values: list) -> str | None:
    """PostgreSQL's text form of an array of whole numbers and text
    (``{1,2}``, ``{"a b","c\\"d"}``), or None for any other value. Django
    binds parameters on the client (psycopg's ClientCursor), which writes
    a list into the SQL through one Python dumper call per value: 1.5 ms
    of CPU for 1,000 ids, where this text takes 0.3 ms to build and psycopg
    quotes it in 0.02 ms (the server reads it with the array's input
    function). A batch converge sends a dozen such lists."""
    kinds = set(map(type, values))
    if kinds <= {int}:
        return "{" + ",".join(map(str, values)) + "}"
    if kinds == {str}:
        joined = "\x00".join(values)  # NUL: not in PostgreSQL text, so a safe separator
        if joined.count("\x00") != len(values) - 1:
            return None  # a value holds a NUL: psycopg's error, as before
        escaped = joined.replace("\\", "\\\\").replace('"', '\\"')
        return '{"' + escaped.replace("\x00", '","') + '"}'
    return None  # None, bool, a str subclass, several kinds: psycopg's own dumpers


def any_of(field: str, values) -> Lookup:
    """A filter for ``field__in=values`` with hundreds of plain values (ids,
    numbers): on PostgreSQL one array parameter instead of one placeholder
    per value, which psycopg would split and bind one by one on every batch
    (``Model.objects.filter(bulk.any_of("user_id", ids))``)."""
    return _AnyOf(F(field), list(values))
