"""Editing a user's own profiles: create, change, delete, copy, reorder.
An edit of the selected profile is an event (docs/rules.md#rule-4, docs/rules.md#rule-8): it re-applies."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from profiles.defaults import display_profile_name
from profiles.errors import InUse, NotAllowed
from profiles.models import Account, Action, ClientProfile, PresenceProfile, Selection
from profiles.services.switching import Source, reapply

PROFILE_FIELDS = ("name", "icon", "colour", "icon_visible", "sticky")


def check_editable(user, profile: PresenceProfile) -> Selection | None:
    """Check a user may change this profile now; returns the user's
    selection when the profile is the selected one (docs/rules.md#rule-8)."""
    if not profile.is_owned_by(user):
        raise NotAllowed(_("System profiles can only be changed by an administrator."))
    selection = Selection.objects.select_related("profile").filter(user=user).first()
    if selection is None or selection.profile_id != profile.pk:
        return None
    account = Account.objects.select_related("client_profile").get(user=user)
    policy = (
        account.client_profile.selected_profile_edit_policy
        if account.client_profile
        else ClientProfile.EditPolicy.APPLY
    )
    if policy == ClientProfile.EditPolicy.REFUSE:
        raise InUse(_("This profile is in use. Select another profile before changing it."))
    return selection


def after_edit(user, selection: Selection | None, actor) -> None:
    if selection is not None:  # edits of the selected profile apply at once (Mitel)
        reapply(user=user, event="edit", source=Source.USER, actor=actor or user)


def _save_profile(profile: PresenceProfile) -> PresenceProfile:
    profile.full_clean()
    try:
        with transaction.atomic():
            profile.save()
    except IntegrityError:
        raise ValidationError({"name": _("You already have a profile with this name.")}) from None
    return profile


def create_profile(
    *, user, name: str, icon: str = "circle", colour: str = "#2e7d32", icon_visible: bool = True, sticky: bool = False
) -> PresenceProfile:
    if PresenceProfile.objects.filter(owner=user, name=name).exists():
        raise ValidationError({"name": _("You already have a profile with this name.")})
    position = (PresenceProfile.objects.filter(owner=user).aggregate(m=Max("position"))["m"] or 0) + 1
    profile = PresenceProfile(
        owner=user,
        kind=PresenceProfile.Kind.PERSONAL,
        name=name,
        icon=icon,
        colour=colour,
        icon_visible=icon_visible,
        sticky=sticky,
        position=position,
    )
    return _save_profile(profile)


def update_profile(*, user, profile: PresenceProfile, actor=None, **fields) -> PresenceProfile:
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"not profile fields: {sorted(unknown)}")
    selection = check_editable(user, profile)
    if fields.get("name") == display_profile_name(profile.name):
        # A seeded name as the editor shows it in the reader's language
        # ("Im Büro"): not renamed, so it stays stored in English and keeps
        # showing in each reader's language.
        fields["name"] = profile.name
    if (
        "name" in fields
        and PresenceProfile.objects.filter(owner=user, name=fields["name"]).exclude(pk=profile.pk).exists()
    ):
        raise ValidationError({"name": _("You already have a profile with this name.")})
    for key, value in fields.items():
        setattr(profile, key, value)
    _save_profile(profile)
    after_edit(user, selection, actor)
    return profile


def delete_profile(*, user, profile: PresenceProfile) -> None:
    if not profile.is_owned_by(user):
        raise NotAllowed(_("System profiles cannot be deleted."))
    if Selection.objects.filter(user=user, profile=profile).exists():
        raise InUse(_("You cannot delete the profile you have selected. Select another profile first."))
    profile.delete()


def copy_profile(*, user, profile: PresenceProfile, name: str | None = None) -> PresenceProfile:
    """Copy a profile available to the user (a system profile, or one of
    their own) into a new personal profile, actions and all."""
    base = name or f"{profile.name} (copy)"
    taken = set(PresenceProfile.objects.filter(owner=user, name__startswith=base).values_list("name", flat=True))
    new_name, n = base, 2
    while new_name in taken:
        new_name, n = f"{base} {n}", n + 1
    with transaction.atomic():
        copy = create_profile(
            user=user,
            name=new_name[:64],
            icon=profile.icon,
            colour=profile.colour,
            icon_visible=profile.icon_visible,
            sticky=profile.sticky,
        )
        Action.objects.bulk_create(
            Action(profile=copy, phase=a.phase, position=a.position, enabled=a.enabled, type=a.type, params=a.params)
            for a in profile.actions.all()
        )
    return copy


def move_profile(*, user, profile: PresenceProfile, direction: int) -> None:
    """Move a personal profile up (-1) or down (+1) in the user's list."""
    if not profile.is_owned_by(user):
        raise NotAllowed(_("System profiles cannot be reordered."))
    move_in_list(PresenceProfile.objects.filter(owner=user), profile, direction)


def move_in_list(queryset, item, direction: int) -> None:
    with transaction.atomic():
        items = list(queryset.select_for_update().order_by("position", "id"))
        index = next(i for i, x in enumerate(items) if x.pk == item.pk)
        other = index + (1 if direction > 0 else -1)
        if not 0 <= other < len(items):
            return
        items[index], items[other] = items[other], items[index]
        for position, x in enumerate(items):
            x.position = position
        type(item).objects.bulk_update(items, ["position"])
