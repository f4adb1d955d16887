import fcntl
import shutil
from pathlib import Path

import pytest
from django.core.management.commands import flush as flush_command
from django.db import connections
from django.db.backends.base.creation import BaseDatabaseCreation
from django.db.backends.postgresql.operations import DatabaseOperations as PostgresOperations

from devices.drivers import DRIVERS
from portal.translations import compile_catalogues
from tests.interleaving import InterleavingDriver

# The fake AMI peer fixtures (pbx, asterisk), for every module that needs them.
pytest_plugins = ["tests.ami_fixtures"]


def pytest_configure(config):
    """The tests read the German catalogue as compiled from the .po now, so
    a stale or missing .mo cannot make them pass or fail. Under xdist only
    the controlling process compiles, before it starts the workers: two
    processes writing the same .mo.tmp could hand a worker half a file."""
    if not hasattr(config, "workerinput"):
        compile_catalogues()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """``./run test`` runs the suite in two processes (pytest-xdist,
    ``--dist loadgroup``). The tests with a real Celery worker all read and
    purge the one queue of TEST_BROKER_URL, so they run in one process, one
    after the other, as without xdist (tryfirst: xdist reads the group when
    it collects). Modules whose servers are module-scoped carry a group of
    their own (tests/test_live_stream.py, tests/test_caldav.py)."""
    for item in items:
        if {"celery_worker", "celery_worker_two_threads"} & set(item.fixturenames):
            item.add_marker(pytest.mark.xdist_group("broker"))


def _delete_instead_of_truncate(self, style, tables, *, reset_sequences=False, allow_cascade=False):
    """A transactional test ends with Django's flush, which on PostgreSQL is
    one TRUNCATE of all 52 tables: a new file for every table and index,
    about 0.3 s on an idle machine and 1-2 s on a busy one, after each of the
    suite's 220 transactional tests. A DELETE per table empties the same
    tables in milliseconds (the few rows a test leaves). The foreign keys are
    all DEFERRABLE INITIALLY DEFERRED, so the order does not matter inside
    flush's transaction; the catalog's statement triggers fire on DELETE as
    on TRUNCATE, so the version still changes."""
    if reset_sequences or not tables:
        return _postgres_sql_flush(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
    return [
        f"{style.SQL_KEYWORD('DELETE FROM')} {style.SQL_FIELD(self.quote_name(table))};"
        for table in tables
        if table not in _KEPT
    ]


# What migrate made and flush's post_migrate would make again, row for row
# (no test writes these): kept, post_migrate then only reads them (0.1 s
# less per transactional test).
_KEPT = {"django_content_type", "auth_permission"}


_postgres_sql_flush = PostgresOperations.sql_flush

# The kept tables as migrate left them (per database alias; django_db_setup).
_MIGRATED: dict[str, tuple] = {}
_KEPT_ROWS_SQL = (
    "SELECT (SELECT count(*) FROM django_content_type), (SELECT max(id) FROM django_content_type), "
    "(SELECT count(*) FROM auth_permission), (SELECT max(id) FROM auth_permission)"
)


def _kept_rows(connection) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(_KEPT_ROWS_SQL)
        return cursor.fetchone()


_emit_post_migrate_signal = flush_command.emit_post_migrate_signal


def _post_migrate_unless_kept(verbosity, interactive, db, **kwargs):
    """After a flush, post_migrate makes the content types and permissions
    again (its other receiver, the catalog's triggers, is SQLite's). The
    DELETE flush above keeps both tables: when they are as migrate left
    them (as many rows, none newer) there is nothing to make, and its 40-odd
    queries (0.03 CPU-s and 0.09 s per transactional test, 220 of them) are
    left out. Otherwise (SQLite, a flush that truncated) it runs as ever."""
    connection = connections[db]
    if connection.vendor == "postgresql" and db in _MIGRATED and _kept_rows(connection) == _MIGRATED[db]:
        return
    _emit_post_migrate_signal(verbosity, interactive, db, **kwargs)


@pytest.fixture(scope="session", autouse=True)
def _fast_flush():
    PostgresOperations.sql_flush = _delete_instead_of_truncate
    flush_command.emit_post_migrate_signal = _post_migrate_unless_kept
    yield
    PostgresOperations.sql_flush = _postgres_sql_flush
    flush_command.emit_post_migrate_signal = _emit_post_migrate_signal


@pytest.fixture(scope="session", autouse=True)
def _own_var_dir(tmp_path_factory):
    """What the portal keeps under var/ while it runs (the PBX listener's
    lock file on SQLite, the live wake file) is this test process's own:
    two xdist workers never take each other's listener lock. (The SQLite
    test database is per worker already: pytest-django names it
    test.sqlite3_gw0, _gw1, ...)"""
    from django.conf import settings

    var = tmp_path_factory.mktemp("var")
    saved = settings.VAR_DIR, settings.LIVE_TRANSPORT_URL
    settings.VAR_DIR = var
    if settings.LIVE_TRANSPORT_URL.startswith("file://"):
        settings.LIVE_TRANSPORT_URL = f"file://{var / 'live.wake'}"
    yield
    settings.VAR_DIR, settings.LIVE_TRANSPORT_URL = saved


# --- one migration per run, not one per xdist worker -----------------------------------
# Under xdist each worker made its test database by running every migration
# (77 of them, about 11 CPU-seconds, most of it Django rebuilding its model
# states, not SQL). Now the first worker to get the lock migrates as before
# and keeps a copy of the result as a template; the others copy that
# template (PostgreSQL: CREATE DATABASE ... TEMPLATE; SQLite: the file),
# which is what migrate would have produced: post_migrate (content types,
# permissions, the catalog's SQLite triggers) wrote only to the database.
# Without xdist (PYTEST_WORKERS=0, -p no:xdist) nothing changes.

_create_test_db = BaseDatabaseCreation.create_test_db
_TEMPLATE_MARK = "test-db-template-{alias}"


def _template_of(shared: Path, alias: str) -> Path:
    return shared / _TEMPLATE_MARK.format(alias=alias)


def _copy_database(creation, source: str, target: str) -> None:
    if creation.connection.vendor == "postgresql":
        quote = creation.connection.ops.quote_name
        with creation._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {quote(target)}")
            cursor.execute(f"CREATE DATABASE {quote(target)} TEMPLATE {quote(source)}")
    else:  # SQLite: a file (the connection is closed, so no journal is pending)
        shutil.copyfile(source, target)


def _drop_template(vendor: str, alias: str, name: str) -> None:
    if vendor == "postgresql":
        creation = connections[alias].creation
        with creation._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {connections[alias].ops.quote_name(name)}")
    else:
        Path(name).unlink(missing_ok=True)


def _create_test_db_from_template(shared: Path):
    """BaseDatabaseCreation.create_test_db for an xdist worker: migrate once
    per run (under a lock in the run's shared temporary folder), copy after."""

    def create_test_db(self, verbosity=1, autoclobber=False, serialize=True, keepdb=False):
        from django.conf import settings
        from django.core.management import call_command

        alias, vendor = self.connection.alias, self.connection.vendor
        if (
            keepdb
            or vendor not in ("postgresql", "sqlite")
            or self._get_test_db_name().startswith((":memory:", "file:memorydb"))
        ):
            return _create_test_db(self, verbosity, autoclobber, serialize, keepdb)
        mark = _template_of(shared, alias)
        with open(shared / f"{mark.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not mark.exists():
                name = _create_test_db(self, verbosity, autoclobber, serialize, keepdb)
                self.connection.close()  # PostgreSQL copies only a database nobody is connected to
                template = f"{name}_template"
                _copy_database(self, name, template)
                mark.write_text(f"{vendor}\n{template}\n")
                return name
            template = mark.read_text().split("\n")[1]
            name = self._get_test_db_name()
            _copy_database(self, template, name)
        # The rest of create_test_db, after its migrate.
        self.connection.close()
        settings.DATABASES[alias]["NAME"] = name
        self.connection.settings_dict["NAME"] = name
        if serialize:
            self.connection._test_serialized_contents = self.serialize_db_to_string()
        call_command("createcachetable", database=alias)
        self.connection.ensure_connection()
        return name

    return create_test_db


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, request, tmp_path_factory):
    """pytest-django's own (the per-worker database names), and under xdist
    the test databases made from one migration (above)."""
    if not hasattr(request.config, "workerinput"):
        yield
        return
    shared = tmp_path_factory.getbasetemp().parent  # the run's folder, above popen-gw0, popen-gw1
    BaseDatabaseCreation.create_test_db = _create_test_db_from_template(shared)
    yield
    BaseDatabaseCreation.create_test_db = _create_test_db


def pytest_sessionfinish(session):
    """The controlling process drops the template after its workers are done."""
    if hasattr(session.config, "workerinput") or not hasattr(session.config, "_tmp_path_factory"):
        return
    try:
        shared = session.config._tmp_path_factory.getbasetemp()
    except Exception:
        return
    from pytest_django.plugin import blocking_manager_key

    for alias in connections:
        mark = _template_of(shared, alias)
        if mark.exists():
            vendor, name = mark.read_text().split("\n")[:2]
            with session.config.stash[blocking_manager_key].unblock():
                _drop_template(vendor, alias, name)
                connections[alias].close()
            mark.unlink()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database commits without waiting for its WAL to reach the
    disk (synchronous_commit off): every statement of a transactional test,
    of the live server and of the real workers is a commit of its own, and
    on a shared machine each would wait for an fsync. Only durability after
    a crash of PostgreSQL differs, which no test asks for; what a commit
    makes visible to other connections, and when, stays the same."""
    with django_db_blocker.unblock():
        for connection in connections.all():
            if connection.vendor != "postgresql":
                continue
            with connection.cursor() as cursor:
                name = connection.ops.quote_name(connection.settings_dict["NAME"])
                cursor.execute(f"ALTER DATABASE {name} SET synchronous_commit = off")
                cursor.execute("SET synchronous_commit = off")
            _MIGRATED[connection.alias] = _kept_rows(connection)
    yield


@pytest.fixture(autouse=True)
def _eager_celery(settings):
    """Unit and service tests run tasks in-process, on commit; the
    integration tests start a real worker instead (tests/integration)."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from celery._state import _set_task_join_will_block

    from portal.celery import app

    # An in-process worker (tests/integration) marks the whole process as
    # "inside a worker", which makes result.get() refuse in later tests.
    _set_task_join_will_block(False)

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2's million rounds cost about a second per test user; the tests
    check behaviour, not hashing strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _own_cache(settings, tmp_path):
    """Each test counts API requests (the rate limit) in a cache of its own."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "cache"),
        }
    }


@pytest.fixture
def interleaving(settings, monkeypatch):
    """Use InterleavingDriver as the PBX driver for this test."""
    monkeypatch.setitem(DRIVERS, "interleaving", "tests.interleaving.InterleavingDriver")
    settings.PBX_DRIVER = "interleaving"
    InterleavingDriver.before_apply, InterleavingDriver.fail_last = None, False
    InterleavingDriver.sent = []
    yield InterleavingDriver
    InterleavingDriver.before_apply, InterleavingDriver.fail_last = None, False
    InterleavingDriver.sent = []


@pytest.fixture(autouse=True)
def _english_by_default():
    """Each test starts in the default language: a German request in one
    test leaves German active in the thread otherwise."""
    from django.utils import translation

    translation.activate("en")
    yield
    translation.deactivate()


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``with committed(): ...`` in the default transactional test case: the
    block's on-commit callbacks (converges, mismatch checks, live events)
    run at its end, where production commits (tests/commits.py)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)
