"""portal.bulk.bulk_update against Django's bulk_update, on the database the
suite runs on (PostgreSQL in CI's first run, SQLite in its second)."""

import datetime as dt

import pytest
from django.db import DataError, connection, transaction

from devices.models import TargetState
from portal import bulk
from profiles.models import Selection
from tests.factories import make_user, profile_named

pytestmark = pytest.mark.django_db


def _two_users():
    return make_user("alice", "1000"), make_user("bob", "1001")


def test_bulk_update_writes_what_djangos_bulk_update_writes():
    alice, bob = _two_users()
    fields = ["profile", "previous_profile", "since", "source", "source_detail", "prompt_values", "until"]
    rows = list(Selection.objects.filter(user__in=[alice, bob]).order_by("user_id"))

    def change(selection, n):
        selection.previous_profile = selection.profile
        selection.profile = profile_named(selection.user, "In a meeting")
        selection.since = dt.datetime(2026, 11, 30, 7, n, tzinfo=dt.UTC)
        selection.source = Selection.Source.TRIGGER
        selection.source_detail = f"täglich 07:{n:02d} – “Besprechung”"
        selection.prompt_values = {"dnd_message": f"back at {n}", "nested": [1, None, True]}
        selection.until = None if n % 2 else dt.datetime(2026, 12, 1, tzinfo=dt.UTC)

    for n, selection in enumerate(rows):
        change(selection, n)
    with transaction.atomic():
        Selection.objects.bulk_update(rows, fields)
        by_django = list(Selection.objects.filter(pk__in=[r.pk for r in rows]).order_by("pk").values(*fields))
        transaction.set_rollback(True)
    bulk.bulk_update(Selection, rows, fields)
    ours = list(Selection.objects.filter(pk__in=[r.pk for r in rows]).order_by("pk").values(*fields))
    assert ours == by_django
    assert ours[0]["source_detail"] == "täglich 07:00 – “Besprechung”"


def test_a_value_longer_than_its_column_is_never_cut():
    alice, _ = _two_users()
    selection = Selection.objects.get(user=alice)
    selection.source_detail = "x" * 300  # the column is varchar(200)
    if connection.vendor == "postgresql":
        with pytest.raises(DataError), transaction.atomic():
            bulk.bulk_update(Selection, [selection], ["source_detail"])
        assert Selection.objects.get(pk=selection.pk).source_detail != "x" * 200  # nothing written
        # Django's bulk_update casts its CASE to varchar(200) and cuts:
        # the reason portal.bulk does not imitate that cast.
        with transaction.atomic():
            Selection.objects.bulk_update([selection], ["source_detail"])
            assert Selection.objects.get(pk=selection.pk).source_detail == "x" * 200
            transaction.set_rollback(True)
    else:
        # SQLite does not enforce varchar lengths; both keep the whole value.
        bulk.bulk_update(Selection, [selection], ["source_detail"])
        assert Selection.objects.get(pk=selection.pk).source_detail == "x" * 300


def test_bulk_update_of_json_state_and_counters():
    alice, bob = _two_users()
    targets = list(TargetState.objects.filter(user__in=[alice, bob]).order_by("pk"))
    for target in targets:
        target.version += 41
        target.state = {"extensions": {"1000": {"dnd": True, "dnd_message": 'O\'Brien "quoted"'}}}
        target.error = "line\nbreak"
    bulk.bulk_update(TargetState, targets, ["version", "state", "error"])
    for target in targets:
        stored = TargetState.objects.get(pk=target.pk)
        assert (stored.version, stored.state, stored.error) == (target.version, target.state, target.error)


def test_any_of_ignores_numbers_beyond_the_column():
    # (Django's own __in sends them: an error on PostgreSQL and on SQLite.)
    alice, bob = _two_users()
    ids = [alice.pk, 2**63, -(2**63) - 1, 2**105]
    found = set(Selection.objects.filter(bulk.any_of("user_id", ids)).values_list("user_id", flat=True))
    assert found == {alice.pk}
    assert not Selection.objects.filter(bulk.any_of("user_id", [2**70])).exists()
    assert Selection.objects.filter(bulk.any_of("user_id", [])).count() == 0


AWKWARD = ['a"b', "c\\d", "{x}", "NULL", "", "a,b", " lead", "trail ", "ü€", '"', "\\", '\\"', "1000"]


def test_any_of_matches_what_in_matches_for_awkward_text():
    """Text values travel as one array literal on PostgreSQL: quotes,
    backslashes, braces, commas, spaces, the word NULL and the empty text
    each match exactly their own row, as ``__in`` does."""
    from devices.models import Extension

    user = make_user("alice", "1000")
    for i, name in enumerate(AWKWARD):
        Extension.objects.create(number=f"9{i:03d}", name=name, owner=user)
    for chosen in (AWKWARD, AWKWARD[:1], AWKWARD[5:9], ["none of these"]):
        expected = sorted(Extension.objects.filter(name__in=chosen).values_list("pk", flat=True))
        assert sorted(Extension.objects.filter(bulk.any_of("name", chosen)).values_list("pk", flat=True)) == expected
    assert Extension.objects.filter(bulk.any_of("name", AWKWARD)).count() == len(AWKWARD)


def test_array_literal_reads_back_as_the_same_values():
    assert bulk.array_literal([1, -2, 2**62]) == "{1,-2,4611686018427387904}"
    assert bulk.array_literal([]) == "{}"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s::text[], %s::bigint[]", [bulk.array_literal(AWKWARD), bulk.array_literal([7, 8])])
            assert cursor.fetchone() == (AWKWARD, [7, 8])
    # Values it does not write: psycopg's own dumpers take the list.
    assert bulk.array_literal(["a\x00b"]) is None
    assert bulk.array_literal([True, 1]) is None
    assert bulk.array_literal([None, 1]) is None
    assert bulk.array_literal([1, "1"]) is None


def test_insert_rows_writes_what_bulk_create_writes_and_returns_the_keys_in_order():
    """insert_rows (on PostgreSQL one JSON document of rows) against Django's
    bulk_create: text with quotes, backslashes, newlines and non-Latin
    letters, a TextChoices value, aware datetimes in another zone, nested
    JSON with null, numbers and booleans."""
    from zoneinfo import ZoneInfo

    from devices.models import ApplyRun, ApplyStep

    alice, _ = _two_users()
    berlin = ZoneInfo("Europe/Berlin")
    text = 'O\'Brien "quoted" \\ back – 東京\nline'
    run_fields = ["user", "target_version", "reason", "started_at", "duration_ms", "result", "error"]
    runs = [
        (alice.pk, 2**40 + n, "trigger", dt.datetime(2026, 3, 29, 3, n, 15, 123456, tzinfo=berlin), n, result, text)
        for n, result in enumerate([ApplyRun.Result.APPLIED, ApplyRun.Result.FAILED, ApplyRun.Result.SUPERSEDED])
    ]
    step_fields = ["run", "position", "extension", "op", "args", "description", "ok", "error", "duration_ms"]

    def steps(run_ids):
        args = {"on": True, "message": None, "nested": [1, 2.5, "ü", {"deep": False}]}
        return [
            (run_id, i, "1000", "set_dnd", args, text[:200], i % 2 == 0, "", i) for run_id in run_ids for i in range(2)
        ]

    def written(run_ids):
        return (
            list(ApplyRun.objects.filter(pk__in=run_ids).order_by("pk").values_list(*run_fields)),
            list(
                ApplyStep.objects.filter(run__in=run_ids)
                .order_by("run_id", "position")
                .values_list(*[f for f in step_fields if f != "run"])
            ),
        )

    with transaction.atomic():
        made = ApplyRun.objects.bulk_create(
            [
                ApplyRun(**dict(zip([f + ("_id" if f == "user" else "") for f in run_fields], r, strict=True)))
                for r in runs
            ]
        )
        ids = [r.pk for r in made]
        ApplyStep.objects.bulk_create(
            [ApplyStep(**dict(zip(["run_id", *step_fields[1:]], s, strict=True))) for s in steps(ids)]
        )
        by_django = written(ids)
        transaction.set_rollback(True)
    ids = bulk.insert_rows(ApplyRun, run_fields, runs)
    bulk.insert_rows(ApplyStep, step_fields, steps(ids))
    ours = written(ids)
    assert ours == by_django
    assert ids == sorted(ids) and [row[1] for row in ours[0]] == [2**40, 2**40 + 1, 2**40 + 2]  # keys in row order
    assert ours[0][0][6] == text and ours[1][0][3]["nested"][3] == {"deep": False}


def test_columns_that_do_not_travel_as_json_still_update():
    """A time and a date (kinds the JSON document does not carry) go as
    arrays, beside aware datetimes, in one update_rows."""
    from profiles.automation import triggers
    from profiles.models import Trigger

    alice, _ = _two_users()
    trigger = triggers.create_time_trigger(
        user=alice, profile=profile_named(alice, "In a meeting"), time_of_day=dt.time(8, 0)
    )
    at = dt.datetime(2026, 12, 1, 6, 59, tzinfo=dt.UTC)
    bulk.update_rows(
        Trigger,
        [trigger.pk],
        {"time_of_day": [dt.time(7, 30)], "active_until": [dt.date(2027, 1, 31)], "next_fire_at": [at]},
    )
    trigger.refresh_from_db()
    assert (trigger.time_of_day, trigger.active_until, trigger.next_fire_at) == (
        dt.time(7, 30),
        dt.date(2027, 1, 31),
        at,
    )


def test_a_statement_numbers_each_placeholder_name_once():
    statement = bulk.Statement("SELECT %(a)s, %(b)s::text, %(a)s + 1, 'x' LIKE '50%%'")
    assert statement.sql == "SELECT $1, $2::text, $1 + 1, 'x' LIKE '50%'"
    assert statement.names == ("a", "b")
    for mixed in ("SELECT %(a)s, %s", "SELECT %(a)b"):
        with pytest.raises(ValueError, match="placeholders only"):
            bulk.Statement(mixed)
