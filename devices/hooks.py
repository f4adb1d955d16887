"""What the devices app needs from the profile side, registered by it.

``devices`` never imports ``profiles`` (docs/architecture.md#layers). Yet a
phone raises events that re-apply a profile (a hot-desk login or logout, a
client connecting to or leaving a softphone; docs/rules.md#rule-6,
docs/rules.md#rule-7), the admin re-applies users, and the reconcile must
know whose profile applies to an extension. The profiles app registers one
``ProfileSide`` when Django starts (``ProfilesConfig.ready``); these are the
only calls from devices to profiles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class ProfileSide:
    # user ids -> {user id: numbers of their primary extensions}
    primary_numbers: Callable[[list[int]], dict[int, set[str]]]
    # extension -> the user whose primary extension it is, or None
    primary_user: Callable[..., object | None]
    # (extension=, logged_in=, actor=, by_admin=) -> whether anything changed
    hot_desk: Callable[..., bool]
    # (user=, extension=, actor=) -> None; a client connected to a softphone
    connect_client: Callable[..., object]
    # (user=, extension=, actor=, by_admin=) -> whether a session ended
    disconnect_client: Callable[..., bool]
    # (user_ids=, actor=, detail=) -> how many users are re-applied in the background
    reapply_users: Callable[..., int]


_registered: ProfileSide | None = None


def register(side: ProfileSide) -> None:
    global _registered
    _registered = side


def profile_side() -> ProfileSide:
    if _registered is None:
        raise ImproperlyConfigured("No profile side is registered: add the profiles app to INSTALLED_APPS.")
    return _registered
