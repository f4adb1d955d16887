"""Errors the service layer raises for people: each carries a message fit to
show as-is, and views turn them into form errors or 4xx answers."""


class PortalError(Exception):
    """A request the portal refuses; ``message`` says why, for the user."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotAllowed(PortalError):
    status = 403


class InUse(PortalError):
    status = 409


class PresenceDisabled(PortalError):
    status = 409


class PromptRequired(PortalError):
    """Selecting the profile needs values typed by the user (rule 3)."""

    def __init__(self, needed: set[str], message: str = "This profile asks for a value when you select it."):
        super().__init__(message)
        self.needed = needed
