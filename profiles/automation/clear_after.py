"""Clear-after: a timer ("until") ends and the user returns to the
profile before, by the precedence rules."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from profiles.automation.precedence import Outcome, Result, Source, State, lock_user, state_of, switch
from profiles.models import Selection


def clear_after(user_id: int, *, now: dt.datetime | None = None) -> Result:
    """Return the user to the profile before, if their timer has ended.
    Exactly once: the check runs under the user's lock, and the switch
    clears ``until``."""
    now = now or timezone.now()
    with transaction.atomic():
        account, selection = lock_user(user_id)
        if selection is None or selection.until is None or selection.until > now:
            return Result("done", "no timer due")
        state = state_of(selection)
        if state == State.MEETING:
            return Result("deferred", "suspended during a meeting")
        target = selection.previous_profile
        if state == State.STICKY or target is None or account is None:
            # Sticky beats clear-after: the timer is dropped, the profile stays.
            Selection.objects.filter(pk=selection.pk).update(until=None)
            reason = "sticky" if state == State.STICKY else "nothing to return to"
            return Result(Outcome.SKIPPED_STICKY if state == State.STICKY else "dropped", reason)
        result = switch(account.user, target, source=Source.CLEAR_AFTER, source_detail="timer ended")
        if result.outcome != Outcome.APPLIED:
            Selection.objects.filter(pk=selection.pk).update(until=None)
        return result
