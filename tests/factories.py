"""Test data builders shared by all test modules: named actors with real
extensions, destinations and teams."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from devices.models import Destination, Extension, Team
from profiles.models import Account, ClientProfile, PresenceProfile
from profiles.seeding import give_default_profiles, seed_defaults

User = get_user_model()

FAMILIES = {
    "desk": "1",
    "softphone": "2",
    "mobile": "+4915112345678",
    "voicemail": "*97",
    "external": "+493012345678",
}


def client_profile(name: str = "Standard", **options) -> ClientProfile:
    seed_defaults()
    options.setdefault("presence_profiles_enabled", True)
    cp, _ = ClientProfile.objects.get_or_create(name=name, defaults=options)
    cp.system_profiles.set(PresenceProfile.objects.filter(kind=PresenceProfile.Kind.SYSTEM))
    return cp


def make_user(
    username: str,
    number: str,
    *,
    families=("desk", "softphone", "mobile", "voicemail", "external"),
    teams=(),
    client: ClientProfile | None = None,
    kind: str = Extension.Kind.DEE_MAIN,
    hot_desk: bool = False,
    enable: bool = True,
    time_zone: str = "Europe/Berlin",
):
    """A user with a primary extension ``number``, a destination per family
    (numbers derived from the extension), membership in ``teams`` (names),
    and, with ``enable``, presence profiles given and "In the office" selected."""
    user = User.objects.create_user(username=username, password="pw-" + username, email=f"{username}@example.com")
    ext = Extension.objects.create(number=number, name=username.title(), kind=kind, owner=user, is_hot_desk=hot_desk)
    for position, family in enumerate(families):
        suffix = FAMILIES[family]
        dest_number = number + suffix if suffix.isdigit() else suffix
        Destination.objects.create(extension=ext, family=family, number=dest_number, position=position)
    for name in teams:
        team, _ = Team.objects.get_or_create(name=name, defaults={"queue": name.lower()})
        team.members.add(ext)
    Account.objects.create(
        user=user, client_profile=client or client_profile(), primary_extension=ext, time_zone=time_zone
    )
    if enable:
        give_default_profiles(user)
    return user


def profile_named(user, name: str) -> PresenceProfile:
    return PresenceProfile.objects.get(owner=user, name=name)
