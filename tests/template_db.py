"""The migrated test database an xdist run's workers copy (tests/conftest.py).

Under xdist the controlling process starts ``python -m tests.template_db
FOLDER`` the moment the run starts, holding the lock of each database alias
for it: the one migrate of the run (about 5 CPU-seconds) then overlaps the
workers' own start and collection (about 5 s each) instead of following
them. It makes the template of each alias (PostgreSQL: a database, SQLite: a
file) with Django's create_test_db, as a worker would have, and leaves the
mark naming it; a worker copies the template. If this process fails, no
mark is written and the first worker to get the lock migrates as before."""

from __future__ import annotations

import sys
from pathlib import Path

_MARK = "test-db-template-{alias}"


def template_of(shared: Path, alias: str) -> Path:
    """The mark (vendor and template name) of ``alias``'s template."""
    return shared / _MARK.format(alias=alias)


def lock_of(shared: Path, alias: str) -> Path:
    return shared / f"{_MARK.format(alias=alias)}.lock"


def make_templates(shared: Path) -> None:
    import django

    django.setup()
    from django.db import connections

    for alias in connections:
        connection = connections[alias]
        creation = connection.creation
        name = creation._get_test_db_name()
        if (
            connection.settings_dict["TEST"].get("MIRROR")
            or connection.vendor not in ("postgresql", "sqlite")
            or name.startswith((":memory:", "file:memorydb"))
        ):
            continue
        template = f"{name}_template"
        connection.settings_dict["TEST"]["NAME"] = template
        creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        connection.close()  # PostgreSQL copies only a database nobody is connected to
        template_of(shared, alias).write_text(f"{connection.vendor}\n{template}\n")


if __name__ == "__main__":
    make_templates(Path(sys.argv[1]))
