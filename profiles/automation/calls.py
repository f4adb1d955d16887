"""On a call: a client profile may switch its members to a chosen profile
while they are on the phone and back when the call ends (off by default).

A call is handled as a meeting reported by one more status connector, the
phone (kind PHONE), so every precedence rule of a meeting holds
(profiles.automation.precedence): a sticky profile is not left, a running
timer is suspended, a profile chosen during the call is not undone, and a
call during a Teams meeting returns only when both have ended. The line
states come from the PBX event listener through devices/hooks.py."""

from __future__ import annotations

from profiles.automation.meetings import meeting_ended, meeting_started
from profiles.automation.precedence import Decision
from profiles.models import Account, StatusConnector

# Line states (devices.models.LineState) during which a user is on the phone.
BUSY = {"on_call", "on_hold"}
# Line states that end a call; "ringing" changes nothing.
FREE = {"idle", "unavailable"}
PHONE_CONNECTOR = "Phone calls"


def phone_connector() -> StatusConnector:
    connector, _ = StatusConnector.objects.get_or_create(
        name=PHONE_CONNECTOR, defaults={"kind": StatusConnector.Kind.PHONE}
    )
    return connector


def line_states_changed(changed: dict[str, str]) -> dict[int, Decision]:
    """Start or end the "call" of each member whose primary extension's line
    changed and whose client profile has an on-call profile. Two queries
    when nobody has it on."""
    relevant = {number: state for number, state in changed.items() if state in BUSY | FREE}
    if not relevant:
        return {}
    accounts = list(
        Account.objects.filter(
            primary_extension__number__in=list(relevant), client_profile__on_call_profile__isnull=False
        ).select_related("primary_extension", "client_profile__on_call_profile")
    )
    if not accounts:
        return {}
    connector = phone_connector()
    results = {}
    for account in accounts:
        state = relevant[account.primary_extension.number]
        if state in BUSY:
            results[account.user_id] = meeting_started(
                user_id=account.user_id,
                connector=connector,
                activity=state,
                profile=account.client_profile.on_call_profile,
            )
        else:
            results[account.user_id] = meeting_ended(user_id=account.user_id, connector=connector, activity=state)
    return results
