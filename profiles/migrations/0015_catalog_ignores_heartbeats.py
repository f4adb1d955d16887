"""The catalog caches which softphones have a client session (its rows and
their user and extension), not their heartbeats: the trigger on
devices_clientsession now fires on INSERT, DELETE and TRUNCATE and on an
UPDATE of user_id or extension_id only. Before, every heartbeat (one UPDATE
of last_heartbeat_at and expires_at, even one that matched no row: the
trigger is per statement) bumped the catalog version, so 10,000 clients
heartbeating every 30 s would have kept every process's catalog cold and
serialised on the version row."""

from django.db import migrations

TABLE = "devices_clientsession"


def narrow(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    run = schema_editor.execute
    if vendor == "postgresql":
        run(f"DROP TRIGGER IF EXISTS {TABLE}_catalog ON {TABLE}")
        run(
            f"CREATE TRIGGER {TABLE}_catalog AFTER INSERT OR UPDATE OF user_id, extension_id OR DELETE OR TRUNCATE"
            f" ON {TABLE} FOR EACH STATEMENT EXECUTE FUNCTION profiles_bump_catalog_version()"
        )
    elif vendor == "sqlite":
        run(f"DROP TRIGGER IF EXISTS {TABLE}_catalog_update")
        run(
            f"CREATE TRIGGER {TABLE}_catalog_update AFTER UPDATE OF user_id, extension_id ON {TABLE} BEGIN "
            "INSERT INTO profiles_catalogversion (id, value) VALUES (1, abs(random())) "
            "ON CONFLICT (id) DO UPDATE SET value = excluded.value; END"
        )
    else:
        raise NotImplementedError(f"catalog version triggers for {vendor}")


def widen(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    run = schema_editor.execute
    if vendor == "postgresql":
        run(f"DROP TRIGGER IF EXISTS {TABLE}_catalog ON {TABLE}")
        run(
            f"CREATE TRIGGER {TABLE}_catalog AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION profiles_bump_catalog_version()"
        )
    elif vendor == "sqlite":
        run(f"DROP TRIGGER IF EXISTS {TABLE}_catalog_update")
        run(
            f"CREATE TRIGGER {TABLE}_catalog_update AFTER UPDATE ON {TABLE} BEGIN "
            "INSERT INTO profiles_catalogversion (id, value) VALUES (1, abs(random())) "
            "ON CONFLICT (id) DO UPDATE SET value = excluded.value; END"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("profiles", "0014_session_triggers"),
        ("devices", "0005_client_session_heartbeat"),
    ]

    operations = [migrations.RunPython(narrow, widen)]
