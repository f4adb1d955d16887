"""CatalogVersion, and the database triggers that give it a new value on
every write to what profiles.catalog caches (so bulk operations and raw SQL
invalidate the cache too)."""

from django.db import migrations, models

WATCHED = [
    "profiles_presenceprofile",
    "profiles_action",
    "profiles_clientprofile",
    "profiles_clientprofile_system_profiles",
    "profiles_account",
    "devices_extension",
    "devices_destination",
    "devices_team",
    "devices_team_members",
    "devices_clientsession",
]


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    run = schema_editor.execute
    if vendor == "postgresql":
        run("CREATE SEQUENCE profiles_catalogversion_seq")
        run(
            """
            CREATE FUNCTION profiles_bump_catalog_version() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO profiles_catalogversion (id, value) VALUES (1, nextval('profiles_catalogversion_seq'))
                ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value;
                RETURN NULL;
            END
            $$
            """
        )
        for table in WATCHED:
            run(
                f"CREATE TRIGGER {table}_catalog AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION profiles_bump_catalog_version()"
            )
    elif vendor == "sqlite":
        for table in WATCHED:
            for op in ("INSERT", "UPDATE", "DELETE"):
                run(
                    f"CREATE TRIGGER {table}_catalog_{op.lower()} AFTER {op} ON {table} BEGIN "
                    "INSERT INTO profiles_catalogversion (id, value) VALUES (1, abs(random())) "
                    "ON CONFLICT (id) DO UPDATE SET value = excluded.value; END"
                )
    else:
        raise NotImplementedError(f"catalog version triggers for {vendor}")


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    run = schema_editor.execute
    if vendor == "postgresql":
        for table in WATCHED:
            run(f"DROP TRIGGER IF EXISTS {table}_catalog ON {table}")
        run("DROP FUNCTION IF EXISTS profiles_bump_catalog_version()")
        run("DROP SEQUENCE IF EXISTS profiles_catalogversion_seq")
    elif vendor == "sqlite":
        for table in WATCHED:
            for op in ("insert", "update", "delete"):
                run(f"DROP TRIGGER IF EXISTS {table}_catalog_{op}")


class Migration(migrations.Migration):
    dependencies = [
        ("devices", "0001_initial"),
        ("profiles", "0003_triggers_sources"),
    ]

    operations = [
        migrations.CreateModel(
            name="CatalogVersion",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("value", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
