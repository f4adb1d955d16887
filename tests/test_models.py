"""Model rules and validation: numbers (E.164 or internal), extension
numbers, colours, names unique per owner, time zones, and action parameters
validated per type."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from devices.models import Destination, Extension
from devices.validators import normalise_number, validate_extension_number
from profiles.actions import validate_params
from profiles.models import Account, Action, PresenceProfile, validate_colour, validate_time_zone
from tests.factories import make_user

# --- numbers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("1000", "1000"),
        ("*97", "*97"),
        ("12345678", "12345678"),
        ("+493012345678", "+493012345678"),
        ("+49 30 1234-5678", "+493012345678"),
        (" +14155552671 ", "+14155552671"),
    ],
)
def test_valid_numbers_are_normalised(raw, clean):
    assert normalise_number(raw) == clean


@pytest.mark.parametrize("raw", ["", "1", "123456789", "abc", "+49123", "+0123456789", "004930123456", "10 00a"])
def test_invalid_numbers_are_refused_with_a_message(raw):
    with pytest.raises(ValidationError) as exc:
        normalise_number(raw)
    assert "internal extension" in exc.value.messages[0]


@pytest.mark.parametrize("raw", ["1", "123456789", "*97", "+4930123", "10a0", ""])
def test_extension_numbers_have_two_to_eight_digits(raw):
    with pytest.raises(ValidationError):
        validate_extension_number(raw)


@pytest.mark.django_db
def test_a_destination_with_a_bad_number_or_timing_does_not_validate():
    ext = Extension.objects.create(number="1000")
    destination = Destination(extension=ext, family="mobile", number="+49123", ring_delay=121, ring_timeout=4)
    with pytest.raises(ValidationError) as exc:
        destination.full_clean()
    assert set(exc.value.message_dict) == {"number", "ring_delay", "ring_timeout"}


@pytest.mark.django_db
def test_extension_numbers_are_unique():
    Extension.objects.create(number="1000")
    with pytest.raises(ValidationError) as exc:
        Extension(number="1000").full_clean()
    assert "number" in exc.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        Extension.objects.create(number="1000")


# --- colours and time zones ---------------------------------------------------------


@pytest.mark.parametrize("value", ["#2e7d32", "#FFFFFF", "#000000"])
def test_colours_written_hash_rrggbb_are_valid(value):
    validate_colour(value)


@pytest.mark.parametrize("value", ["green", "#fff", "2e7d32", "#2e7d3g", "#2e7d321", ""])
def test_other_colours_are_refused(value):
    with pytest.raises(ValidationError) as exc:
        validate_colour(value)
    assert "#rrggbb" in exc.value.messages[0]


@pytest.mark.parametrize("value", ["Europe/Berlin", "America/New_York", "UTC"])
def test_iana_time_zones_are_valid(value):
    validate_time_zone(value)


@pytest.mark.parametrize("value", ["Mars/Olympus_Mons", "CEST+2", "", "../etc/passwd"])
def test_other_time_zones_are_refused(value):
    with pytest.raises(ValidationError):
        validate_time_zone(value)


@pytest.mark.django_db
def test_an_account_with_a_bad_time_zone_does_not_validate():
    alice = make_user("alice", "1000", enable=False)
    account = Account.objects.get(user=alice)
    account.time_zone = "Mars/Olympus_Mons"
    with pytest.raises(ValidationError) as exc:
        account.full_clean()
    assert "time_zone" in exc.value.message_dict


# --- profile names -------------------------------------------------------------------------


@pytest.mark.django_db
def test_profile_names_are_unique_per_owner():
    alice = make_user("alice", "1000")
    bob = make_user("bob", "1001")
    duplicate = PresenceProfile(owner=alice, kind="personal", name="In a meeting")
    with pytest.raises(ValidationError):
        duplicate.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()
    # bob has his own "In a meeting"; another name is fine for alice.
    assert PresenceProfile.objects.filter(name="In a meeting", owner=bob).exists()
    PresenceProfile(owner=alice, kind="personal", name="Lunch").full_clean()


@pytest.mark.django_db
def test_system_profile_names_are_unique_among_system_profiles():
    make_user("alice", "1000")  # seeds the system profiles and the template
    with pytest.raises(IntegrityError), transaction.atomic():
        PresenceProfile.objects.create(kind="system", name="Available")
    # A template may share a system profile's name: they are different sets.
    PresenceProfile.objects.create(kind="template", name="Available")


@pytest.mark.django_db
def test_a_personal_profile_needs_an_owner_and_a_system_profile_has_none():
    alice = make_user("alice", "1000", enable=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        PresenceProfile.objects.create(kind="personal", name="Nobody's")
    with pytest.raises(IntegrityError), transaction.atomic():
        PresenceProfile.objects.create(kind="system", name="Alice's", owner=alice)


@pytest.mark.django_db
def test_a_profile_with_a_bad_colour_or_icon_does_not_validate():
    alice = make_user("alice", "1000", enable=False)
    profile = PresenceProfile(owner=alice, kind="personal", name="Lunch", colour="green", icon="unicorn")
    with pytest.raises(ValidationError) as exc:
        profile.full_clean()
    assert {"colour", "icon"} <= set(exc.value.message_dict)


# --- action parameters per type ----------------------------------------------------------

VALID = [
    ("set_dnd", {"on": True}, {"on": True, "prompt": False, "message": ""}),
    ("set_dnd", {"on": "true", "message": " Back at 2 "}, {"on": True, "prompt": False, "message": "Back at 2"}),
    ("set_dnd", {"on": True, "prompt": True}, {"on": True, "prompt": True, "message": ""}),
    ("set_dnd", {"on": False}, {"on": False, "prompt": False, "message": ""}),
    ("set_forward", {"target": "+49 30 1234 5678"}, {"prompt": False, "target": "+493012345678"}),
    ("set_forward", {"prompt": True}, {"prompt": True, "target": ""}),
    ("unset_forward", {}, {}),
    (
        "change_destinations",
        {"family": "voicemail", "active": True},
        {"family": "voicemail", "active": True, "ring_delay": None, "ring_timeout": None},
    ),
    (
        "change_destinations",
        {"ring_delay": "10", "ring_timeout": 30},
        {"family": "all", "active": None, "ring_delay": 10, "ring_timeout": 30},
    ),
    ("set_gsm_mode", {"on": False}, {"on": False}),
    ("team_login", {}, {"team": None}),
    ("team_logout", {"team": "3"}, {"team": 3}),
    ("team_pause", {"team": 3}, {"team": 3}),
    ("team_unpause", {"team": "all"}, {"team": None}),
    ("set_location", {"location": 2}, {"location": 2}),
    ("remove_location", {}, {}),
]


@pytest.mark.parametrize(("action_type", "params", "clean"), VALID)
def test_valid_action_params_are_cleaned(action_type, params, clean):
    assert validate_params(action_type, params, teams={3}, locations={2}) == clean


INVALID = [
    ("set_dnd", {"on": "maybe"}, "on"),
    ("set_dnd", {"on": True, "message": "x" * 101}, "message"),
    ("set_dnd", {"on": False, "prompt": True}, "prompt"),
    ("set_forward", {}, "target"),
    ("set_forward", {"target": "not a number"}, "target"),
    ("change_destinations", {"family": "fax", "active": True}, "family"),
    ("change_destinations", {"family": "all"}, "active"),
    ("change_destinations", {"ring_delay": 500}, "ring_delay"),
    ("change_destinations", {"ring_timeout": 2}, "ring_timeout"),
    ("change_destinations", {"ring_timeout": "soon"}, "ring_timeout"),
    ("set_gsm_mode", {"on": "sometimes"}, "on"),
    ("team_login", {"team": 4}, "team"),
    ("team_logout", {"team": "sales"}, "team"),
    ("set_location", {}, "location"),
    ("set_location", {"location": 9}, "location"),
    ("launch_rocket", {}, "type"),
]


@pytest.mark.parametrize(("action_type", "params", "field"), INVALID)
def test_invalid_action_params_are_refused_per_parameter(action_type, params, field):
    with pytest.raises(ValidationError) as exc:
        validate_params(action_type, params, teams={3}, locations={2})
    assert field in exc.value.message_dict


@pytest.mark.django_db
def test_an_action_validates_its_params_when_cleaned():
    alice = make_user("alice", "1000")
    profile = PresenceProfile.objects.filter(owner=alice).first()
    action = Action(profile=profile, type="set_forward", params={"target": "+49 30 1234 5678"})
    action.full_clean()
    assert action.params == {"prompt": False, "target": "+493012345678"}
    action.params = {"target": "nowhere"}
    with pytest.raises(ValidationError) as exc:
        action.full_clean()
    assert "target" in exc.value.message_dict


@pytest.mark.django_db
def test_every_catalog_table_bumps_the_version_after_all_migrations():
    """A write to each table the catalog caches gives CatalogVersion a new
    value, after every migration ran (SQLite rebuilds a table on most
    ALTERs and drops its triggers: profiles.catalog.ensure_sqlite_triggers
    puts them back after migrate)."""
    from django.db import connection

    from profiles.catalog import WATCHED_TABLES, read_version

    make_user("alice", "1000", teams=["Sales"])
    for table in WATCHED_TABLES:
        before = read_version()
        with connection.cursor() as cursor:
            # A no-op UPDATE still fires the per-statement/per-row trigger
            # when it touches a row; a column every table has: id.
            cursor.execute(f"UPDATE {table} SET id = id WHERE id = (SELECT min(id) FROM {table})")
        if table == "devices_clientsession":
            continue  # no session here; its trigger ignores this update anyway (heartbeats)
        assert read_version() != before, table


@pytest.mark.parametrize("language", ["en", "de"])
def test_source_label_is_what_get_source_display_says(language):
    from django.utils import translation

    from profiles.models import Selection, SwitchEvent

    with translation.override(language):
        for source in [*Selection.Source.values, "retired-code"]:
            assert Selection(source=source).source_label == Selection(source=source).get_source_display()
            assert SwitchEvent(source=source).source_label == SwitchEvent(source=source).get_source_display()
