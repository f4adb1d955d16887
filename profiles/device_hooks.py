"""The profile side of devices/hooks.py: what a phone's events and the
devices admin do to profiles, registered by ProfilesConfig.ready."""

from __future__ import annotations

from devices.hooks import ProfileSide
from profiles import events
from profiles.models import Account, Selection

Source = Selection.Source


def primary_numbers(user_ids: list[int]) -> dict[int, set[str]]:
    """Each user's primary extension number (one query)."""
    numbers: dict[int, set[str]] = {}
    for user_id, number in Account.objects.filter(user_id__in=user_ids, primary_extension__isnull=False).values_list(
        "user_id", "primary_extension__number"
    ):
        numbers.setdefault(user_id, set()).add(number)
    return numbers


def primary_user(extension):
    """The user whose primary extension ``extension`` is, or None (one query)."""
    account = Account.objects.select_related("user").filter(primary_extension=extension).first()
    return account.user if account else None


def hot_desk(*, extension, logged_in: bool, actor=None, by_admin: bool = False) -> bool:
    change = events.hot_desk_login if logged_in else events.hot_desk_logout
    return change(extension=extension, actor=actor, source=Source.ADMIN if by_admin else Source.USER)


def connect_client(*, user, extension, actor=None):
    return events.connect_client(user=user, extension=extension, actor=actor)


def disconnect_client(*, user, extension, actor=None, by_admin: bool = False) -> bool:
    source = Source.ADMIN if by_admin else Source.USER
    return events.disconnect_client(user=user, extension=extension, actor=actor, source=source)


def reapply_users(*, user_ids, actor=None, detail: str = "") -> int:
    return events.schedule_reapply(user_ids=user_ids, actor=actor, detail=detail)


PROFILE_SIDE = ProfileSide(
    primary_numbers=primary_numbers,
    primary_user=primary_user,
    hot_desk=hot_desk,
    connect_client=connect_client,
    disconnect_client=disconnect_client,
    reapply_users=reapply_users,
)
