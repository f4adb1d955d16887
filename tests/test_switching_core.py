"""The one switching core (profiles.services.switching): select_profile is a
one-item call of switch_profiles; outcomes are an enum; a warm switch is one
statement whatever the data size; the catalog it reads from is
dropped by every kind of write to what it caches."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from devices.models import ClientSession, Destination, Extension, TargetState
from profiles import catalog
from profiles.errors import NotAllowed, PresenceDisabled, PromptRequired
from profiles.models import Action, ClientProfile, PresenceProfile, RecentValue, Selection, SwitchEvent
from profiles.services import Switch, SwitchOutcome, select_profile, switch_profiles
from tests.factories import client_profile, make_user, profile_named

HX = {"HTTP_HX_REQUEST": "true"}
# A warm switch: one statement on PostgreSQL; SQLite runs the same plan with
# the ORM in one transaction.
SWITCH_QUERIES = {"postgresql": 1, "sqlite": 10}


def names(result):
    return result.selection.profile.name if result.selection else None


@pytest.mark.django_db
def test_a_batch_reports_each_users_outcome_as_an_enum():
    alice, bob, carol = make_user("alice", "1000"), make_user("bob", "1001"), make_user("carol", "1002")
    dave = make_user("dave", "1003", client=client_profile("Off", presence_profiles_enabled=False), enable=False)
    erin = make_user("erin", "1004")
    sticky = profile_named(bob, "On holiday")
    sticky.sticky = True
    sticky.save()
    select_profile(user=bob, profile=sticky)
    template = PresenceProfile.objects.filter(kind=PresenceProfile.Kind.TEMPLATE).first()
    results = switch_profiles(
        [
            Switch(user_id=alice.pk, profile_id=profile_named(alice, "In a meeting").pk),
            Switch(user_id=bob.pk, profile_id=profile_named(bob, "In a meeting").pk),
            Switch(user_id=carol.pk, profile_id=profile_named(carol, "Working from home").pk, prompt_values=None),
            Switch(user_id=dave.pk, profile_id=template.pk),
            Switch(user_id=erin.pk, profile_id=profile_named(alice, "In a meeting").pk),
        ],
        source=Selection.Source.TRIGGER,
    )
    assert {u: r.outcome for u, r in results.items()} == {
        alice.pk: SwitchOutcome.SWITCHED,
        bob.pk: SwitchOutcome.STICKY,
        carol.pk: SwitchOutcome.PROMPT_REQUIRED,
        dave.pk: SwitchOutcome.DISABLED,
        erin.pk: SwitchOutcome.NOT_ALLOWED,
    }
    assert results[erin.pk].message == "That profile belongs to someone else."
    assert results[carol.pk].needed == {"forward"}
    assert Selection.objects.get(user=alice).profile.name == "In a meeting"
    assert Selection.objects.get(user=bob).profile == sticky
    assert Selection.objects.get(user=carol).profile.name == "In the office"
    assert not Selection.objects.filter(user=dave).exists()
    assert Selection.objects.get(user=erin).profile.name == "In the office"
    event = SwitchEvent.objects.filter(user=alice).first()
    assert (event.old_name, event.new_name, event.source) == ("In the office", "In a meeting", "trigger")
    assert event.target_version == TargetState.objects.get(user=alice).version == results[alice.pk].target_version


@pytest.mark.django_db
def test_select_profile_raises_the_refusals_people_see():
    alice, bob = make_user("alice", "1000"), make_user("bob", "1001")
    with pytest.raises(NotAllowed, match="belongs to someone else"):
        select_profile(user=bob, profile=profile_named(alice, "In a meeting"))
    template = PresenceProfile.objects.filter(kind=PresenceProfile.Kind.TEMPLATE).first()
    with pytest.raises(NotAllowed, match="Templates cannot be selected"):
        select_profile(user=bob, profile=template)
    other = PresenceProfile.objects.create(kind=PresenceProfile.Kind.SYSTEM, name="Elsewhere")
    with pytest.raises(NotAllowed, match="not available to you"):
        select_profile(user=bob, profile=other)
    with pytest.raises(PromptRequired):
        select_profile(user=bob, profile=profile_named(bob, "Working from home"))
    ClientProfile.objects.update(presence_profiles_enabled=False)
    with pytest.raises(PresenceDisabled, match="not enabled"):
        select_profile(user=bob, profile=profile_named(bob, "In a meeting"))
    assert Selection.objects.get(user=bob).profile.name == "In the office"


@pytest.mark.django_db
def test_a_warm_switch_is_one_statement_whatever_the_data_size():
    alice = make_user("alice", "1000", teams=["Sales", "Support"])
    meeting, office = profile_named(alice, "In a meeting"), profile_named(alice, "In the office")
    select_profile(user=alice, profile=meeting)  # warms the catalog
    with CaptureQueriesContext(connection) as small:
        select_profile(user=alice, profile=office)
    for n in range(8):
        Destination.objects.create(extension=Extension.objects.get(number="1000"), family="mobile", number=f"0170{n}")
    select_profile(user=alice, profile=meeting)
    with CaptureQueriesContext(connection) as large:
        select_profile(user=alice, profile=office)
    assert len(small) == len(large) == SWITCH_QUERIES[connection.vendor], [q["sql"][:80] for q in large]


@pytest.mark.django_db
def test_the_htmx_switch_costs_session_user_and_the_switch(client):
    alice = make_user("alice", "1000", teams=["Sales"])
    client.force_login(alice)
    meeting, office = profile_named(alice, "In a meeting"), profile_named(alice, "In the office")
    client.post(reverse("profiles:select", args=[meeting.pk]), **HX)  # warms the catalog
    with CaptureQueriesContext(connection) as queries:
        response = client.post(reverse("profiles:select", args=[office.pk]), **HX)
    assert response.status_code == 200
    assert len(queries) == 2 + SWITCH_QUERIES[connection.vendor], [q["sql"][:80] for q in queries]


def desired(user):
    return TargetState.objects.get(user=user).state["extensions"]


@pytest.mark.django_db
def test_a_switch_plan_without_prompt_values_is_kept_for_the_catalog_version():
    alice = make_user("alice", "1000", teams=["Sales"])
    meeting, office = profile_named(alice, "In a meeting"), profile_named(alice, "In the office")
    select_profile(user=alice, profile=meeting)
    select_profile(user=alice, profile=office)
    # PostgreSQL plans for any profile being left (its statement picks);
    # the ORM path knows the profile left (office) under its transaction.
    key = (
        (alice.pk, meeting.pk, None, False)
        if connection.vendor == "postgresql"
        else (alice.pk, meeting.pk, office.pk, True)
    )
    kept = catalog.cached().plans[key]
    select_profile(user=alice, profile=meeting)
    assert catalog.cached().plans[key] is kept  # not planned again
    states, _plain = kept
    assert TargetState.objects.get(user=alice).state == states["*"]  # what the switch stored
    # An edit makes a new catalog version, whose plans start empty
    # (test_writes_the_orm_does_not_signal_still_drop_the_catalog: the new chain is used).
    Action.objects.filter(profile=meeting, type="set_dnd").update(params={"on": False})
    select_profile(user=alice, profile=office)
    assert key not in catalog.cached().plans


@pytest.mark.django_db
def test_a_batch_remembers_each_typed_prompt_value_once():
    alice, bob = make_user("alice", "1000"), make_user("bob", "1001")
    home = {u: profile_named(u, "Working from home") for u in (alice, bob)}
    typed = {alice: "+49 30 1234567", bob: "+49 40 7654321"}
    for _ in range(2):  # the second time: the same values again, kept once
        results = switch_profiles(
            [Switch(user_id=u.pk, profile_id=home[u].pk, prompt_values={"forward": typed[u]}) for u in (alice, bob)],
            source=Selection.Source.USER,
        )
        assert all(r.switched for r in results.values())
        switch_profiles(
            [Switch(user_id=u.pk, profile_id=profile_named(u, "In the office").pk) for u in (alice, bob)],
            source=Selection.Source.USER,
        )
    remembered = RecentValue.objects.order_by("user__username").values_list("user__username", "kind", "value")
    assert list(remembered) == [("alice", "forward", "+49301234567"), ("bob", "forward", "+49407654321")]


@pytest.mark.django_db
def test_writes_the_orm_does_not_signal_still_drop_the_catalog():
    alice = make_user("alice", "1000")
    meeting, office = profile_named(alice, "In a meeting"), profile_named(alice, "In the office")
    select_profile(user=alice, profile=meeting)
    assert desired(alice)["1000"]["dnd"] is True
    # A bulk update (no signals) of the chain of the profile about to be selected.
    Action.objects.filter(profile=meeting, type="set_dnd").update(params={"on": False})
    select_profile(user=alice, profile=office)
    select_profile(user=alice, profile=meeting)
    assert desired(alice)["1000"]["dnd"] is False
    # Raw SQL on a device table: a client session on a new softphone.
    soft = Extension.objects.create(number="2000", kind=Extension.Kind.SOFTPHONE)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO devices_clientsession (user_id, extension_id, connected_at) VALUES (%s, %s, %s)",
            [alice.pk, soft.pk, "2026-01-01 00:00:00+00:00"],
        )
    select_profile(user=alice, profile=office)
    assert set(desired(alice)) == {"1000", "2000"}
    ClientSession.objects.all().delete()


@pytest.mark.django_db
def test_the_catalog_version_never_repeats():
    alice = make_user("alice", "1000")
    seen = set()
    for n in range(3):
        PresenceProfile.objects.filter(owner=alice, name="On holiday").update(colour=f"#00000{n}")
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {catalog.VERSION_SQL}")
            seen.add(cursor.fetchone()[0])
    assert len(seen) == 3 and None not in seen


@pytest.mark.django_db
def test_the_catalog_reads_action_parameters_and_profiles_as_stored():
    """The catalog decodes the actions' parameters of a whole batch in one
    go and leaves the profiles' timestamps out of its rows: the parameters
    come back exactly as stored, and a profile made from a row still reads
    its timestamps (on first access)."""
    alice = make_user("alice", "1000")
    meeting = profile_named(alice, "In a meeting")
    action = Action.objects.filter(profile=meeting, type="set_dnd").get()
    Action.objects.filter(pk=action.pk).update(params={"on": True, "message": 'Back at 3 – "ask Bob" \\ 東京'})
    cat = catalog.Catalog(version=None)
    cat.load_users([alice.pk])
    stored = dict(Action.objects.filter(profile_id__in=list(cat.profiles)).values_list("pk", "params"))
    loaded = {a.id: a.params for entry in cat.profiles.values() for a in entry.actions}
    assert loaded == stored and loaded[action.pk]["message"] == 'Back at 3 – "ask Bob" \\ 東京'
    instance = cat.profiles[meeting.pk].profile
    assert (instance.name, instance.updated_at, instance.created_at) == (
        meeting.name,
        meeting.updated_at,
        meeting.created_at,
    )
