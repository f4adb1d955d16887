""" "Until" when switching: the clear-after end time a user picks on My
presence (in 30 minutes, in an hour, at the end of the working day, at a
chosen time), as the UTC instant select_profile takes. The due-scan
returns the user when it passes (profiles.automation.clear_after)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from profiles.automation.triggers import local_instant

# A chosen time may lie at most this far ahead (a typo such as 2062 would
# otherwise keep a timer for decades).
MAX_AHEAD = dt.timedelta(days=31)


class Until(models.TextChoices):
    NONE = "", gettext_lazy("No end")
    MINUTES_30 = "30m", gettext_lazy("for 30 minutes")
    HOUR_1 = "1h", gettext_lazy("for 1 hour")
    WORKDAY_END = "workday", gettext_lazy("until the end of the working day")
    AT = "at", gettext_lazy("until a chosen time")


def workday_end() -> dt.time:
    hour, minute = (int(x) for x in settings.WORKDAY_END.split(":"))
    return dt.time(hour, minute)


def resolve_until(choice: str, *, at: dt.datetime | None, zone: ZoneInfo, now: dt.datetime) -> dt.datetime | None:
    """The instant ``choice`` means now for a user in ``zone``; ``at`` is the
    chosen local wall time (naive) for Until.AT. ValidationError on the
    "until" field when it names no future instant."""
    if choice == Until.NONE:
        return None
    if choice == Until.MINUTES_30:
        return now + dt.timedelta(minutes=30)
    if choice == Until.HOUR_1:
        return now + dt.timedelta(hours=1)
    if choice == Until.WORKDAY_END:
        end = local_instant(now.astimezone(zone).date(), workday_end(), zone)
        if end <= now:
            raise ValidationError(
                {
                    "until": _("Your working day ended at %(time)s; choose a time instead.")
                    % {"time": settings.WORKDAY_END}
                }
            )
        return end
    if choice == Until.AT:
        if at is None:
            raise ValidationError({"until_at": _("Choose the date and time to switch back at.")})
        wall = at.replace(tzinfo=None, second=0, microsecond=0)
        instant = local_instant(wall.date(), wall.time(), zone)
        if instant <= now:
            raise ValidationError({"until_at": _("Choose a time in the future.")})
        if instant - now > MAX_AHEAD:
            raise ValidationError({"until_at": _("Choose a time within the next 31 days.")})
        return instant
    raise ValidationError({"until": _("Choose how long to stay in the profile.")})
