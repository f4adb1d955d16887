"""Server-side prepared statements for the big statement a request runs every
time (the switching core's write, profiles/services/switching.py).

Django binds parameters on the client and sends every statement as text,
so PostgreSQL plans it again each time; for a statement of a dozen CTEs
that planning cost more than running it (about 2 ms of the server's CPU
per switch, measured with EXPLAIN ANALYZE). A ``Prepared`` statement is
``PREPARE``d once per database connection, on first use, and then run with
``EXECUTE name(…)`` through Django's cursor, so it is logged and counted
like any other query (the ``PREPARE`` is connection set-up, as Django's own
``SET`` statements: neither).

Prepared statements belong to the database session and outlive a rolled
back transaction; a new connection prepares again. A pooler that shares
server connections between clients in transaction mode (pgbouncer's
default before 1.21) does not keep them: such set-ups must use session
pooling. PostgreSQL only.
"""

from __future__ import annotations

import re
import weakref

# %(name)s, optionally followed by a cast that the statement already has
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


class Prepared:
    def __init__(self, name: str, sql: str, types: dict[str, str]):
        """``sql`` with ``%(name)s`` placeholders (each may occur more than
        once); ``types``: the SQL type of each."""
        order: list[str] = []

        def number(match: re.Match) -> str:
            key = match.group(1)
            if key not in order:
                order.append(key)
            return f"${order.index(key) + 1}"

        body = _PLACEHOLDER.sub(number, sql)
        missing = set(order) - set(types)
        if missing:
            raise ValueError(f"no type for {sorted(missing)}")
        self.name = name
        self.prepare_sql = f"PREPARE {name} ({', '.join(types[k] for k in order)}) AS {body}"
        # The casts make what client-side binding renders (e.g. '{1}'::int2[])
        # the declared types.
        self.execute_sql = f"EXECUTE {name} ({', '.join(f'%({k})s::{types[k]}' for k in order)})"
        self._prepared: weakref.WeakSet = weakref.WeakSet()  # the driver connections that have it

    def execute(self, cursor, params: dict) -> None:
        """Run it on ``cursor`` (a Django cursor on PostgreSQL) with ``params``."""
        raw = cursor.db.connection  # the driver's connection: a new one prepares again
        if raw not in self._prepared:
            with raw.cursor() as setup:
                setup.execute(self.prepare_sql)
            self._prepared.add(raw)
        cursor.execute(self.execute_sql, params)
