"""The demo company `./run` seeds: what the issue lists, and idempotent."""

from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from devices.models import Destination, Extension, Location, Team
from profiles.models import Account, ClientProfile, PresenceProfile, Selection

User = get_user_model()
pytestmark = pytest.mark.django_db

USERS = ["alice", "bob", "carol", "dave", "erin", "frank"]


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    return {
        model._meta.label: model._default_manager.count()
        for app in ("auth", "devices", "profiles")
        for model in apps.get_app_config(app).get_models()
    }


def test_seed_demo_creates_the_administrator_and_prints_the_logins():
    output = seed()
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert authenticate(username="admin", password="portal-admin") == admin
    assert "admin    / portal-admin" in output
    for username in USERS:
        assert f"{username:<8} / portal-demo" in output


def test_seed_demo_creates_users_with_dee_main_extensions_and_every_destination_family():
    seed()
    accounts = Account.objects.select_related("user", "primary_extension").filter(user__username__in=USERS)
    assert len(accounts) >= 5
    for account in accounts:
        assert authenticate(username=account.user.username, password="portal-demo") == account.user
        assert account.primary_extension.kind == Extension.Kind.DEE_MAIN
        families = set(Destination.objects.filter(extension=account.primary_extension).values_list("family", flat=True))
        assert families == {"desk", "softphone", "mobile", "voicemail", "external"}
        softphones = Extension.objects.filter(owner=account.user, kind=Extension.Kind.SOFTPHONE)
        assert softphones.exists()
        assert all(number.startswith("2") for number in softphones.values_list("number", flat=True))


def test_seed_demo_creates_teams_locations_and_a_hot_desk_user():
    seed()
    teams = {t.name: t for t in Team.objects.all()}
    assert {"Sales", "Support"} <= set(teams)
    assert (teams["Sales"].queue, teams["Support"].queue) == ("sales", "support")
    assert teams["Sales"].members.count() >= 2 and teams["Support"].members.count() >= 2
    assert Location.objects.count() >= 2
    hot_desk = Extension.objects.get(is_hot_desk=True)
    assert hot_desk.owner.username == "frank"
    assert hot_desk.primary_of.user == hot_desk.owner


def test_seed_demo_enables_presence_profiles_with_the_system_profiles_and_defaults():
    seed()
    client = ClientProfile.objects.get(name="Demo company")
    assert client.presence_profiles_enabled
    assert set(client.system_profiles.values_list("name", flat=True)) == {"Available", "Unavailable"}
    for username in USERS:
        user = User.objects.get(username=username)
        assert user.account.client_profile == client
        assert PresenceProfile.objects.filter(owner=user).count() == 6
        assert Selection.objects.get(user=user).profile.name == "In the office"


def test_seed_demo_is_idempotent():
    seed()
    before = row_counts()
    admin_password = User.objects.get(username="admin").password
    seed()
    assert row_counts() == before
    assert User.objects.get(username="admin").password == admin_password
