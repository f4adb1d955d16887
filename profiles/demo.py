"""The demo company that `./run` seeds: an administrator, six users with DEE
main extensions and all destination families, extra softphones, two teams,
two locations and one hot-desk user, under one client profile with presence
profiles enabled. Idempotent: rows that exist are left as they are."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from devices.models import Destination, Extension, Location, Team
from profiles.models import Account, ClientProfile, PresenceProfile
from profiles.seeding import seed_defaults, set_presence_enabled

User = get_user_model()

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "portal-admin"
USER_PASSWORD = "portal-demo"
CLIENT_PROFILE = "Demo company"
TIME_ZONE = "Europe/Berlin"
TEAMS = {"Sales": "sales", "Support": "support"}
LOCATIONS = {"Berlin, desk 1": "Hot desk by the window", "Berlin, desk 2": "Hot desk by the kitchen"}


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    number: str  # the DEE main extension
    softphone: str  # an extra softphone extension
    teams: tuple[str, ...]
    hot_desk: bool = False


USERS = [
    DemoUser("alice", "Alice", "1000", "2000", ("Sales",)),
    DemoUser("bob", "Bob", "1001", "2001", ("Sales", "Support")),
    DemoUser("carol", "Carol", "1002", "2002", ("Support",)),
    DemoUser("dave", "Dave", "1003", "2003", ("Sales",)),
    DemoUser("erin", "Erin", "1004", "2004", ("Support",)),
    DemoUser("frank", "Frank", "1005", "2005", ("Support",), hot_desk=True),
]


def _destinations(user: DemoUser) -> list[tuple[str, str]]:
    """(family, number) of a user's DEE destinations; numbers derived from
    the extension so every user's are distinct and valid."""
    tail = user.number[-2:]
    return [
        ("desk", user.number + "1"),
        ("softphone", user.softphone),
        ("mobile", f"+49151123456{tail}"),
        ("voicemail", "*97"),
        ("external", f"+49301234560{tail[-1]}"),
    ]


def _ensure_user(spec: DemoUser, client: ClientProfile, teams: dict[str, Team]) -> None:
    user, created = User.objects.get_or_create(
        username=spec.username, defaults={"first_name": spec.first_name, "email": f"{spec.username}@example.com"}
    )
    if created:
        user.set_password(USER_PASSWORD)
        user.save(update_fields=["password"])
    primary, created = Extension.objects.get_or_create(
        number=spec.number,
        defaults={
            "name": spec.first_name,
            "kind": Extension.Kind.DEE_MAIN,
            "owner": user,
            "is_hot_desk": spec.hot_desk,
        },
    )
    if created:
        Destination.objects.bulk_create(
            Destination(extension=primary, family=family, number=number, position=position, ring_delay=5 * position)
            for position, (family, number) in enumerate(_destinations(spec))
        )
        for name in spec.teams:
            teams[name].members.add(primary)
    Extension.objects.get_or_create(
        number=spec.softphone,
        defaults={"name": f"{spec.first_name} softphone", "kind": Extension.Kind.SOFTPHONE, "owner": user},
    )
    Account.objects.get_or_create(
        user=user, defaults={"client_profile": client, "primary_extension": primary, "time_zone": TIME_ZONE}
    )


def seed_demo() -> None:
    seed_defaults()
    with transaction.atomic():
        if not User.objects.filter(username=ADMIN_USERNAME).exists():
            User.objects.create_superuser(ADMIN_USERNAME, f"{ADMIN_USERNAME}@example.com", ADMIN_PASSWORD)
        client, created = ClientProfile.objects.get_or_create(
            name=CLIENT_PROFILE, defaults={"disable_dee_ucd_when_logged_out": True}
        )
        if created:
            client.system_profiles.set(PresenceProfile.objects.filter(kind=PresenceProfile.Kind.SYSTEM))
        teams = {
            name: Team.objects.get_or_create(name=name, defaults={"queue": queue})[0] for name, queue in TEAMS.items()
        }
        for name, description in LOCATIONS.items():
            Location.objects.get_or_create(name=name, defaults={"description": description})
        for spec in USERS:
            _ensure_user(spec, client, teams)
    # Through the service: checks docs/rules.md#rule-10 and gives every member the six
    # defaults with "In the office" selected (a no-op the second time).
    set_presence_enabled(client_profile=client, enabled=True)


def logins() -> list[tuple[str, str, str]]:
    rows = [(ADMIN_USERNAME, ADMIN_PASSWORD, "administrator")]
    for spec in USERS:
        what = f"extension {spec.number}" + (", hot desk" if spec.hot_desk else "")
        rows.append((spec.username, USER_PASSWORD, what))
    return rows
