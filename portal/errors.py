"""The base of the errors the service layers raise for people (shared by
devices and profiles, so neither imports the other to catch them)."""


class PortalError(Exception):
    """A request the portal refuses; ``message`` says why, for the user."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
