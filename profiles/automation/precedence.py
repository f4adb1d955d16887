"""Where automatic switches meet the user's state: the precedence rules,
in one place.

    the user's own choice > sticky > meeting > clear-after > time trigger

- The user's own choice (select_profile with source user/admin/API) always
  applies and ends whatever was active: a meeting then no longer returns,
  a pending timer is replaced.
- Sticky: no automatic source leaves a sticky profile. A time trigger is
  recorded "skipped: sticky"; a meeting start is ignored; a timer that
  ends on a sticky profile is dropped.
- Meeting: a timer does not fire during a meeting; it is suspended and,
  when the meeting ends, resumes (or, if it ended meanwhile, the user goes
  straight to the timer's profile). A time trigger firing during a meeting
  does not end it: its profile becomes the one to return to afterwards.
- Clear-after (timer): a time trigger firing while a timer runs does not cut
  it short: its profile becomes the one the timer returns to.
- A plain selection (by hand without a timer, or by an earlier trigger) is
  no state that blocks anything: the next trigger switches at its time.

Each function takes the per-user lock (Account row, as select_profile
does) and re-reads the selection, so concurrent events serialise.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from profiles.errors import PortalError, PresenceDisabled, PromptRequired
from profiles.models import (
    Account,
    PresenceProfile,
    RecentValue,
    Selection,
    TriggerFiring,
)
from profiles.services import select_profile

Source = Selection.Source
Outcome = TriggerFiring.Outcome


class State(enum.StrEnum):
    """What is active for a user, highest precedence first."""

    NONE = "none"
    STICKY = "sticky"
    MEETING = "meeting"
    TIMER = "timer"
    PLAIN = "plain"


def state_of(selection: Selection | None) -> State:
    if selection is None:
        return State.NONE
    if selection.profile.sticky:
        return State.STICKY
    if selection.source == Source.MEETING:
        return State.MEETING
    if selection.until is not None:
        return State.TIMER
    return State.PLAIN


@dataclass(frozen=True)
class Result:
    outcome: str
    detail: str = ""


def lock_user(user_id: int) -> tuple[Account | None, Selection | None]:
    account = Account.objects.select_for_update(of=("self",)).select_related("client_profile").filter(user_id=user_id)
    account = account.first()
    selection = (
        Selection.objects.select_for_update(of=("self",))
        .select_related("profile", "previous_profile", "until_profile", "user")
        .filter(user_id=user_id)
        .first()
    )
    return account, selection


def last_values(user) -> dict[str, str]:
    """The user's most recent value of each prompt (DND message, forward
    target): what an automatic switch answers when a profile asks."""
    return last_values_many([user.pk]).get(user.pk, {})


def last_values_many(user_ids: list[int]) -> dict[int, dict[str, str]]:
    values: dict[int, dict[str, str]] = {}
    for user_id, kind, value in (
        RecentValue.objects.filter(user_id__in=user_ids).order_by("-last_used").values_list("user_id", "kind", "value")
    ):
        values.setdefault(user_id, {}).setdefault(kind, value)
    return values


def switch(user, profile: PresenceProfile, **kwargs) -> Result:
    """select_profile for an automatic source, its refusals as a Result."""
    try:
        result = select_profile(user=user, profile=profile, prompt_values=last_values(user), **kwargs)
    except PromptRequired as exc:
        return Result(
            Outcome.FAILED, f"{profile.name} asks for a value ({exc.message}) and there is no earlier one to reuse"
        )
    except PresenceDisabled as exc:
        return Result(Outcome.SKIPPED_DISABLED, exc.message)
    except PortalError as exc:
        return Result(Outcome.FAILED, exc.message)
    if not result.switched:
        return Result(Outcome.SKIPPED_STICKY, "the current profile is sticky")
    return Result(Outcome.APPLIED, f"switched to {profile.name}")
