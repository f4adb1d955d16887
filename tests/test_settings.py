"""Settings come from the environment: a bad value stops start-up with a
message naming the variable; production mode demands real settings and then
passes Django's deployment checks. Each case starts a fresh process, as a
server would."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


# Set by the test run itself (the browser tests allow sync ORM calls next to
# Playwright's event loop); a real deployment never has them.
NOT_INHERITED = {"DATABASE_URL", "PORTAL_MODE", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DJANGO_ALLOW_ASYNC_UNSAFE"}


def manage(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    clean.update(PORTAL_VAR_DIR=str(tmp_path / "var"), **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEBUG", "maybe"),
        ("PORTAL_MODE", "staging"),
        ("TIME_ZONE", "Mars/Olympus_Mons"),
        ("CONN_MAX_AGE", "forever"),
        ("DATABASE_URL", "mysql://portal@localhost/portal"),
        ("CELERY_BROKER_URL", "ftp://broker"),
        ("PBX_DRIVER", "fax"),
        ("AMI_PORT", "0"),
        ("TRIGGER_GRACE_MINUTES", "-5"),
        ("PENDING_APPLY_SWEEP_SECONDS", "soon"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(tmp_path, variable, value):
    result = manage(tmp_path, "check", **{variable: value})
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last_line
    assert variable in last_line


def test_the_asterisk_driver_without_a_secret_is_refused(tmp_path):
    result = manage(tmp_path, "check", PBX_DRIVER="asterisk", AMI_SECRET="")
    assert result.returncode != 0
    assert "AMI_SECRET" in result.stderr.strip().splitlines()[-1]


def test_production_mode_without_a_secret_key_is_refused(tmp_path):
    result = manage(tmp_path, "check", PORTAL_MODE="production", ALLOWED_HOSTS="portal.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr.strip().splitlines()[-1]


def test_production_mode_without_allowed_hosts_is_refused(tmp_path):
    result = manage(tmp_path, "check", PORTAL_MODE="production", SECRET_KEY=secrets.token_urlsafe(64))
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr.strip().splitlines()[-1]


def test_production_mode_does_not_write_a_development_key(tmp_path):
    manage(tmp_path, "check", PORTAL_MODE="production", ALLOWED_HOSTS="portal.example.com")
    assert not (tmp_path / "var" / "secret_key").exists()


def test_production_mode_passes_the_deployment_checks(tmp_path):
    result = manage(
        tmp_path,
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        PORTAL_MODE="production",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="portal.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_development_mode_generates_a_secret_key_once(tmp_path):
    assert manage(tmp_path, "check").returncode == 0
    key_file = tmp_path / "var" / "secret_key"
    first = key_file.read_text()
    assert manage(tmp_path, "check").returncode == 0
    assert key_file.read_text() == first
    assert len(first) >= 50
    assert key_file.stat().st_mode & 0o077 == 0


@pytest.mark.django_db
def test_development_serves_static_files_with_debug_off(client, settings):
    """DEBUG=0 ./run: the pages keep their styles and scripts (WhiteNoise
    serves from the finders in development; no collectstatic)."""
    settings.DEBUG = False
    for path in ("/static/css/portal.css", "/static/js/portal.js", "/static/admin/css/base.css"):
        response = client.get(path)
        assert response.status_code == 200, path
        b"".join(response.streaming_content)


@pytest.mark.parametrize(("jit", "expected"), [(None, "-c jit=off"), ("1", "")])
def test_postgresql_connections_turn_jit_off_unless_asked(tmp_path, jit, expected):
    # PostgreSQL's JIT spent 1.1 s compiling a trigger batch's switch
    # statement that ran in 0.05 s (portal/settings.py).
    env = {"DATABASE_URL": "postgres://portal@127.0.0.1:5432/portal"}
    if jit:
        env["DATABASE_JIT"] = jit
    shown = manage(
        tmp_path,
        "shell",
        "-c",
        "from django.conf import settings; print(repr(settings.DATABASES['default']['OPTIONS'].get('options', '')))",
        **env,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().splitlines()[-1] == repr(expected)


@pytest.mark.django_db
def test_the_portals_own_connection_runs_without_jit():
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW jit")
            assert cursor.fetchone()[0] == "off"
    else:
        assert "options" not in connection.settings_dict["OPTIONS"]  # SQLite: no such thing


@pytest.mark.django_db
def test_timestamps_are_read_by_the_c_loader_with_the_values_djangos_loader_gives():
    """portal/timestamps.py: on PostgreSQL in UTC each connection reads
    timestamptz with psycopg's C loader; the values (microseconds, a DST
    change, the first and last years) and their UTC tzinfo are what Django's
    own loader gives. SQLite stores text and is left alone."""
    import datetime as dt

    from django.db import connection

    from portal import timestamps

    instants = [
        "2026-03-29 00:59:59.999999+00",
        "2026-03-29 01:00:00+00",
        "2026-10-25 00:30:00.5+00",
        "0001-01-01 00:00:00+00",
        "9999-12-31 23:59:59.999999+00",
        "2026-11-30 18:00:00+05:30",
    ]
    if connection.vendor != "postgresql":
        timestamps.install(None, connection)  # nothing to do on SQLite
        assert connection.vendor == "sqlite"
        return
    from django.db.backends.postgresql.psycopg_any import register_tzloader

    sql = "SELECT " + ", ".join(f"'{i}'::timestamptz" for i in instants)
    connection.ensure_connection()
    assert connection.connection.adapters.get_loader(1184, 0) is timestamps._utc_loader()
    with connection.cursor() as cursor:
        cursor.execute(sql)
        ours = cursor.fetchone()
    django_ctx = type("Ctx", (), {})()
    import psycopg

    django_ctx.adapters = psycopg.adapt.AdaptersMap(connection.connection.adapters)
    register_tzloader(dt.UTC, django_ctx)
    raw = psycopg.ClientCursor(connection.connection)
    raw.adapters.register_loader("timestamptz", django_ctx.adapters.get_loader(1184, 0))
    raw.execute(sql)
    by_django = raw.fetchone()
    assert ours == by_django and all(v.tzinfo is dt.UTC for v in ours)
    assert ours[1] - ours[0] == dt.timedelta(microseconds=1)
