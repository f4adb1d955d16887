"""Seeding: the system-wide profiles, the administrator-editable template of
per-user defaults, and giving a user their own copy. All idempotent."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from devices.models import Extension
from profiles.defaults import SYSTEM_DEFAULTS, USER_DEFAULTS
from profiles.models import Account, Action, ClientProfile, PresenceProfile, Selection

User = get_user_model()

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
    """Create the system profiles and the per-user template when there are
    none of that kind yet. Once seeded, a set is the administrators': a
    renamed or deleted default is not brought back by the next `./run`."""
    for kind, specs in ((PresenceProfile.Kind.SYSTEM, SYSTEM_DEFAULTS), (PresenceProfile.Kind.TEMPLATE, USER_DEFAULTS)):
        if PresenceProfile.objects.filter(kind=kind, owner=None).exists():
            continue
        for position, spec in enumerate(specs):
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


# --- administrators' changes to client profiles and accounts -----------------------


def members_without_dee_main(client_profile: ClientProfile) -> list[str]:
    """Usernames of the client profile's members whose primary extension is
    missing or not a DEE main device (rule 10), in one query."""
    return list(
        Account.objects.filter(client_profile=client_profile)
        .exclude(primary_extension__kind=Extension.Kind.DEE_MAIN)
        .order_by("user__username")
        .values_list("user__username", flat=True)
    )


def check_client_profile_can_enable(client_profile: ClientProfile) -> None:
    """Rule 10 for a whole client profile: refuse, naming the users."""
    if client_profile.pk is None:
        return
    refused = members_without_dee_main(client_profile)
    if refused:
        raise ValidationError(
            "Presence profiles need a primary extension that is a DEE main device; not so for: %(users)s.",
            params={"users": ", ".join(refused)},
            code="not_dee_main",
        )


def set_presence_enabled(*, client_profile: ClientProfile, enabled: bool) -> None:
    """Turn presence profiles on or off for a client profile. Enabling is
    refused (ValidationError naming the users) when any member's primary
    extension is not a DEE main device; otherwise every member gets the
    default profiles with "In the office" selected. Idempotent."""
    with transaction.atomic():
        locked = ClientProfile.objects.select_for_update().get(pk=client_profile.pk)
        if enabled:
            check_client_profile_can_enable(locked)
        if locked.presence_profiles_enabled != enabled:
            locked.presence_profiles_enabled = enabled
            locked.save(update_fields=["presence_profiles_enabled"])
    client_profile.presence_profiles_enabled = enabled
    if enabled:
        # One user at a time: give_default_profiles selects a profile, which
        # locks that user's account and enqueues their converge on commit.
        for user in User.objects.filter(account__client_profile=client_profile).order_by("pk"):
            give_default_profiles(user)


def assign_client_profile(*, account: Account, client_profile: ClientProfile | None, actor=None) -> Account:
    """Put a user under ``client_profile``. When that enables presence
    profiles, the user's primary extension must be a DEE main device (rule
    10) and the user gets the default profiles."""
    account.client_profile = client_profile
    return save_account(account=account, changed={"client_profile"}, actor=actor)


def save_account(*, account: Account, changed=(), actor=None) -> Account:
    """Store an account an administrator created or changed (``changed``:
    the names of the fields that changed). Rule 10 is checked first; a new
    time zone reschedules the user's time triggers; with presence profiles
    enabled the user has the defaults, and a new primary extension gets the
    selected profile re-applied."""
    from profiles.automation.triggers import reschedule_user_triggers
    from profiles.services import reapply

    changed = set(changed)
    if account.client_profile is not None and account.client_profile.presence_profiles_enabled:
        check_can_enable(account)
    with transaction.atomic():
        account.save()
    if "time_zone" in changed:
        reschedule_user_triggers(account.user)
    if account.presence_enabled:
        had_selection = Selection.objects.filter(user_id=account.user_id).exists()
        give_default_profiles(account.user)
        if had_selection and "primary_extension" in changed:
            reapply(
                user=account.user, event="edit", source=Selection.Source.ADMIN, actor=actor, source_detail="new primary"
            )
    return account


def reapply_profile_users(*, profile: PresenceProfile, actor=None) -> int:
    """An administrator changed ``profile`` or its actions: apply it again for
    every user who has it selected (rule 4: an edit of the selected profile
    is an event). Returns how many users were re-applied."""
    from profiles.services import reapply

    users = list(User.objects.filter(selection__profile=profile).order_by("pk"))
    for user in users:
        reapply(user=user, event="edit", source=Selection.Source.ADMIN, actor=actor, source_detail="admin edit")
    return len(users)
