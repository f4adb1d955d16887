"""Errors the service layer raises for people: each carries a message fit to
show as-is, and views turn them into form errors or 4xx answers."""

from django.utils.translation import gettext as _

from portal.errors import PortalError

__all__ = ["InUse", "NotAllowed", "PortalError", "PresenceDisabled", "PromptRequired"]


class NotAllowed(PortalError):
    status = 403


class InUse(PortalError):
    status = 409


class PresenceDisabled(PortalError):
    status = 409


class PromptRequired(PortalError):
    """Selecting the profile needs values typed by the user (docs/rules.md#rule-3)."""

    def __init__(self, needed: set[str], message: str = ""):
        super().__init__(message or _("This profile asks for a value when you select it."))
        self.needed = needed
