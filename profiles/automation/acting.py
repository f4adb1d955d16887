"""Carrying out precedence decisions: read a user's state under their lock
(the Account row, as select_profile does), turn it into the pure
UserState, and apply a Decision through the switching services."""

from __future__ import annotations

from portal import bulk
from profiles.automation.precedence import Decision, Outcome, Ref, UserState
from profiles.errors import PortalError, PresenceDisabled, PromptRequired
from profiles.models import Account, PresenceProfile, RecentValue, Selection
from profiles.services import SwitchOutcome, SwitchResult, select_profile

SWITCH_REFUSALS = {
    SwitchOutcome.STICKY: (Outcome.SKIPPED_STICKY, "the current profile is sticky"),
    SwitchOutcome.DISABLED: (Outcome.SKIPPED_DISABLED, "presence profiles are not enabled for this user"),
}


def refusal(result: SwitchResult) -> Decision:
    """A switch the services refused, as a Decision."""
    outcome, detail = SWITCH_REFUSALS.get(result.outcome, (Outcome.FAILED, result.message))
    return Decision(outcome, detail)


def ref(profile: PresenceProfile | None) -> Ref | None:
    return None if profile is None else Ref(profile.pk, profile.name, profile.sticky)


def lock_user(user_id: int) -> tuple[Account | None, Selection | None]:
    account = Account.objects.select_for_update(of=("self",)).select_related("client_profile", "user")
    account = account.filter(user_id=user_id).first()
    selection = (
        Selection.objects.select_for_update(of=("self",))
        .select_related("profile", "previous_profile", "until_profile", "user")
        .filter(user_id=user_id)
        .first()
    )
    return account, selection


def state_of(account: Account | None, selection: Selection | None) -> UserState:
    enabled = account is not None and account.presence_enabled
    if selection is None:
        return UserState(enabled=enabled)
    return UserState(
        enabled=enabled,
        profile=ref(selection.profile),
        source=selection.source,
        until=selection.until,
        previous=ref(selection.previous_profile) if selection.previous_profile_id else None,
        until_profile=ref(selection.until_profile) if selection.until_profile_id else None,
    )


def last_values(user_id: int) -> dict[str, str]:
    """The user's most recent value of each prompt (DND message, forward
    target): what an automatic switch answers when a profile asks."""
    return last_values_many([user_id]).get(user_id, {})


def last_values_many(user_ids: list[int]) -> dict[int, dict[str, str]]:
    values: dict[int, dict[str, str]] = {}
    for user_id, kind, value in (
        RecentValue.objects.filter(bulk.any_of("user_id", user_ids))
        .order_by("-last_used")
        .values_list("user_id", "kind", "value")
    ):
        values.setdefault(user_id, {}).setdefault(kind, value)
    return values


def prompt_failure(profile_name: str, message: str) -> Decision:
    return Decision(Outcome.FAILED, f"{profile_name} asks for a value ({message}) and there is no earlier one to reuse")


def carry_out(
    decision: Decision, account: Account | None, selection: Selection | None, profiles: dict[int, PresenceProfile]
) -> Decision:
    """Apply ``decision`` for one user (locked by lock_user in this
    transaction). ``profiles`` maps the ids the decision may name to rows.
    Returns the decision, or the refusal the switch met instead."""
    if decision.remember is not None and selection is not None:
        where, profile = decision.remember
        setattr(selection, where, profiles[profile.id])
        selection.save(update_fields=[where])
    if decision.clear_timer and selection is not None:
        Selection.objects.filter(pk=selection.pk).update(until=None)
    switch = decision.switch
    if switch is None:
        return decision
    profile = profiles[switch.profile.id]
    try:
        result = select_profile(
            user=account.user,
            profile=profile,
            prompt_values=last_values(account.user_id),
            source=switch.source,
            source_detail=switch.detail[:200],
            until=switch.until,
            previous_profile=profiles[switch.previous.id] if switch.previous else None,
        )
    except PromptRequired as exc:
        refused = prompt_failure(profile.name, exc.message)
    except PresenceDisabled as exc:
        refused = Decision(Outcome.SKIPPED_DISABLED, exc.message)
    except PortalError as exc:
        refused = Decision(Outcome.FAILED, exc.message)
    else:
        if result.switched:
            until_profile = profiles[switch.until_profile.id] if switch.until_profile else None
            if until_profile is not None or (selection is not None and selection.until_profile_id):
                Selection.objects.filter(user_id=account.user_id).update(until_profile=until_profile)
            return decision
        refused = refusal(result)
    if selection is not None and selection.until is not None and switch.source == Selection.Source.CLEAR_AFTER:
        # A timer whose return failed is dropped, not retried every tick.
        Selection.objects.filter(pk=selection.pk).update(until=None)
    return refused


def profiles_of(selection: Selection | None, *extra: PresenceProfile | None) -> dict[int, PresenceProfile]:
    """The profile rows a decision about this selection may name."""
    rows = [*extra]
    if selection is not None:
        rows += [selection.profile, selection.previous_profile, selection.until_profile]
    return {p.pk: p for p in rows if p is not None}
