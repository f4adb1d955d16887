"""Seeding: the system-wide profiles, the administrator-editable template of
per-user defaults, and giving a user their own copy. All idempotent."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from devices.models import Extension
from profiles.defaults import SYSTEM_DEFAULTS, USER_DEFAULTS
from profiles.models import Account, Action, PresenceProfile, Selection

DEFAULT_CLIENT_PROFILE = "Standard"


def _create_profile_from_spec(spec: dict, *, kind: str, owner=None, position: int) -> PresenceProfile:
    profile = PresenceProfile.objects.create(
        owner=owner,
        kind=kind,
        name=spec["name"],
        icon=spec["icon"],
        colour=spec["colour"],
        icon_visible=spec.get("icon_visible", True),
        sticky=spec.get("sticky", False),
        is_default=spec.get("is_default", False),
        position=position,
    )
    Action.objects.bulk_create(
        Action(
            profile=profile, phase=phase, position=i, type=a["type"], params=a["params"], enabled=a.get("enabled", True)
        )
        for phase in ("enter", "exit")
        for i, a in enumerate(spec.get(phase, []))
    )
    return profile


@transaction.atomic
def seed_defaults() -> None:
    """Create the system profiles and the per-user template where missing.
    Existing rows are left as administrators edited them."""
    for kind, specs in ((PresenceProfile.Kind.SYSTEM, SYSTEM_DEFAULTS), (PresenceProfile.Kind.TEMPLATE, USER_DEFAULTS)):
        existing = set(PresenceProfile.objects.filter(kind=kind, owner=None).values_list("name", flat=True))
        for position, spec in enumerate(specs):
            if spec["name"] not in existing:
                _create_profile_from_spec(spec, kind=kind, position=position)


def template_specs() -> list[dict]:
    """The current template (as administrators left it), as specs."""
    templates = PresenceProfile.objects.filter(kind=PresenceProfile.Kind.TEMPLATE).prefetch_related("actions")
    return [
        {
            "name": t.name,
            "icon": t.icon,
            "colour": t.colour,
            "icon_visible": t.icon_visible,
            "sticky": t.sticky,
            "is_default": t.is_default,
            "enter": [
                {"type": a.type, "params": a.params, "enabled": a.enabled}
                for a in t.actions.all()
                if a.phase == "enter"
            ],
            "exit": [
                {"type": a.type, "params": a.params, "enabled": a.enabled} for a in t.actions.all() if a.phase == "exit"
            ],
        }
        for t in templates
    ]


def check_can_enable(account: Account) -> None:
    """Rule 10: only for a user whose primary extension is a DEE main device."""
    ext = account.primary_extension
    if ext is None or ext.kind != Extension.Kind.DEE_MAIN:
        raise ValidationError(
            f"Presence profiles need a primary extension that is a DEE main device; {account.user} has "
            + (f"{ext.number} ({ext.get_kind_display()})." if ext else "no primary extension."),
            code="not_dee_main",
        )


def give_default_profiles(user) -> None:
    """Give ``user`` their own copy of the default template, once, and select
    the default ("In the office") if nothing is selected yet. Idempotent."""
    from profiles.services import select_profile

    account = Account.objects.select_related("primary_extension", "client_profile").get(user=user)
    check_can_enable(account)
    if not PresenceProfile.objects.filter(owner=user).exists():
        seed_defaults()
        with transaction.atomic():
            for position, spec in enumerate(template_specs()):
                _create_profile_from_spec(spec, kind=PresenceProfile.Kind.PERSONAL, owner=user, position=position)
    if not Selection.objects.filter(user=user).exists() and account.presence_enabled:
        owned = list(PresenceProfile.objects.filter(owner=user).order_by("-is_default", "position", "id")[:1])
        if owned:
            select_profile(
                user=user, profile=owned[0], source=Selection.Source.SYSTEM, source_detail="presence profiles enabled"
            )
