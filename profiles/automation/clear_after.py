"""Clear-after: a timer ("until") ends and the user returns to the
profile before, by the precedence rules."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from profiles.automation import acting
from profiles.automation.precedence import Decision, TimerEnded, decide


def clear_after(user_id: int, *, now: dt.datetime | None = None) -> Decision:
    """Return the user to the profile before, if their timer has ended.
    Exactly once: the check runs under the user's lock, and the switch
    clears ``until``."""
    now = now or timezone.now()
    with transaction.atomic():
        account, selection = acting.lock_user(user_id)
        decision = decide(acting.state_of(account, selection), TimerEnded(now=now))
        return acting.carry_out(decision, account, selection, acting.profiles_of(selection))
