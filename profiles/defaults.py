"""The default profiles, as data: DESIGN.md's table of the six per-user
profiles (Mitel) and the two system-wide profiles (pascom). Seeding copies
these into the database once; after that administrators edit them there.

The names are stored in English (they are data, and the PBX shows them as
presence text); pages show a name that is still the seeded one in the
reader's language (``display_profile_name``), so a German and an English
colleague both read their own language, and a renamed profile shows as typed."""

from django.utils.translation import gettext, gettext_noop

ALL_ACTIVE = {"type": "change_destinations", "params": {"family": "all", "active": True}}
ALL_INACTIVE = {"type": "change_destinations", "params": {"family": "all", "active": False}}
DND_OFF = {"type": "set_dnd", "params": {"on": False}}
DND_ON = {"type": "set_dnd", "params": {"on": True}}
NO_FORWARD = {"type": "unset_forward", "params": {}}
TEAMS_IN = {"type": "team_login", "params": {"team": None}}
TEAMS_OUT = {"type": "team_logout", "params": {"team": None}}


def only(family: str) -> list[dict]:
    return [ALL_INACTIVE, {"type": "change_destinations", "params": {"family": family, "active": True}}]


# Per-user defaults (Mitel "Presence Profiles"), in this order.
USER_DEFAULTS = [
    {
        "name": gettext_noop("In the office"),
        "icon": "building-2",
        "colour": "#2e7d32",
        "is_default": True,
        "enter": [ALL_ACTIVE, DND_OFF, NO_FORWARD, TEAMS_IN],
    },
    {
        "name": gettext_noop("Do Not Disturb"),
        "icon": "circle-minus",
        "colour": "#c62828",
        "enter": [ALL_ACTIVE, {"type": "set_dnd", "params": {"on": True, "prompt": True}}, NO_FORWARD, TEAMS_OUT],
    },
    {
        "name": gettext_noop("Out of the office"),
        "icon": "door-open",
        "colour": "#ef6c00",
        "enter": [*only("external"), DND_OFF, NO_FORWARD, TEAMS_OUT],
    },
    {
        "name": gettext_noop("In a meeting"),
        "icon": "users",
        "colour": "#6a1b9a",
        "enter": [*only("voicemail"), DND_ON, NO_FORWARD, TEAMS_OUT],
    },
    {
        "name": gettext_noop("Working from home"),
        "icon": "house",
        "colour": "#1565c0",
        "enter": [*only("voicemail"), DND_OFF, {"type": "set_forward", "params": {"prompt": True}}, TEAMS_OUT],
    },
    {
        "name": gettext_noop("On holiday"),
        "icon": "palm-tree",
        "colour": "#00838f",
        "enter": [*only("voicemail"), DND_ON, NO_FORWARD, TEAMS_OUT],
    },
]

# System-wide profiles (pascom): one with every device reachable, one with
# every device deactivated; managed by administrators only.
SYSTEM_DEFAULTS = [
    {
        "name": gettext_noop("Available"),
        "icon": "circle-check",
        "colour": "#2e7d32",
        "enter": [ALL_ACTIVE, DND_OFF],
    },
    {
        "name": gettext_noop("Unavailable"),
        "icon": "circle-off",
        "colour": "#616161",
        "enter": [ALL_INACTIVE],
    },
]


DEFAULT_NAMES = frozenset(spec["name"] for spec in USER_DEFAULTS + SYSTEM_DEFAULTS)


def display_profile_name(name: str) -> str:
    """A seeded default profile name in the active language; others as they are."""
    return gettext(name) if name in DEFAULT_NAMES else name
