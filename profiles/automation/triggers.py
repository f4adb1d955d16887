"""Time and meeting triggers: creating and changing them (service functions),
reading them (selectors), and when a time trigger fires next.

A time trigger keeps one UTC ``next_fire_at``, computed in the owner's time
zone; the Beat due-scan (profiles.automation.duescan) claims rows whose time has come.
Daylight-saving rule (README "## Triggers"): a local time inside the
spring-forward gap fires once, at the first valid instant after the gap
(02:30 in Berlin on that day fires at 03:00 local); a local time that
occurs twice at fall-back fires once, at its first occurrence (fold=0).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from profiles.defaults import display_profile_name
from profiles.errors import NotAllowed, PortalError
from profiles.models import Account, PresenceProfile, StatusConnector, Trigger, validate_time_zone

UTC = dt.UTC
ALL_WEEKDAYS = 0b1111111
# How far ahead to look for the next allowed day. Two years covers any
# weekday set combined with holidays; a trigger whose date range has ended
# simply has no next firing (next_fire_at = None).
SEARCH_DAYS = 2 * 366
TIME_FIELDS = (
    "time_of_day",
    "weekdays",
    "holiday_country",
    "holiday_subdivision",
    "active_from",
    "active_until",
    "enabled",
)
NO_CONNECTOR = gettext_lazy(
    "Meeting triggers need a status connector (Microsoft 365 or a signed webhook), and none is set up. "
    "Ask your administrator to configure one."
)


# --- when a trigger fires ----------------------------------------------------------


def local_instant(day: dt.date, time_of_day: dt.time, zone: ZoneInfo) -> dt.datetime:
    """``time_of_day`` on ``day`` in ``zone`` as a UTC instant, by the DST
    rule above: fold=0 for a repeated time, the end of the gap for a
    skipped one."""
    wall = dt.datetime.combine(day, time_of_day.replace(tzinfo=None))
    local = wall.replace(tzinfo=zone, fold=0)
    if _exists(local):
        return local.astimezone(UTC)
    # Inside a gap: the first valid instant after it is the transition
    # itself. zoneinfo maps the non-existent wall time with the offset
    # before (fold=0) and after (fold=1) the change; the transition lies
    # between those two UTC readings, found by bisection to the second.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = local.astimezone(UTC)
    if low > high:
        low, high = high, low
    before = low.astimezone(zone).utcoffset()
    while (high - low) > dt.timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def _exists(local: dt.datetime) -> bool:
    """A wall time exists when it survives the round trip through UTC."""
    back = local.astimezone(UTC).astimezone(local.tzinfo)
    return back.replace(tzinfo=None) == local.replace(tzinfo=None)


@lru_cache(maxsize=64)
def _holiday_calendar(country: str, subdivision: str):
    # The holidays object fills in years lazily as dates are looked up.
    return holidays.country_holidays(country, subdiv=subdivision or None)


def day_allowed(
    day: dt.date,
    *,
    weekdays: int,
    holiday_country: str = "",
    holiday_subdivision: str = "",
    active_from: dt.date | None = None,
    active_until: dt.date | None = None,
) -> bool:
    if not weekdays & (1 << day.weekday()):
        return False
    if active_from and day < active_from:
        return False
    if active_until and day > active_until:
        return False
    if holiday_country and day in _holiday_calendar(holiday_country, holiday_subdivision):
        return False
    return True


def next_fire_time(
    *,
    time_of_day: dt.time,
    zone: ZoneInfo,
    after: dt.datetime,
    weekdays: int = ALL_WEEKDAYS,
    holiday_country: str = "",
    holiday_subdivision: str = "",
    active_from: dt.date | None = None,
    active_until: dt.date | None = None,
) -> dt.datetime | None:
    """The first firing strictly after ``after`` (aware), in UTC; None
    when no allowed day is left (date range over, no weekdays)."""
    if not weekdays & ALL_WEEKDAYS:
        return None
    # Start one day early: a gap-shifted firing can land after local midnight.
    day = after.astimezone(zone).date() - dt.timedelta(days=1)
    if active_from and day < active_from:
        day = active_from
    for _attempt in range(SEARCH_DAYS):
        if active_until and day > active_until:
            return None
        if day_allowed(
            day,
            weekdays=weekdays,
            holiday_country=holiday_country,
            holiday_subdivision=holiday_subdivision,
            active_from=active_from,
            active_until=active_until,
        ):
            instant = local_instant(day, time_of_day, zone)
            if instant > after:
                return instant
        day += dt.timedelta(days=1)
    return None


# What a trigger's next firing depends on, besides the zone and the instant
# after which (schedule_next_fire's arguments, in order).
SCHEDULE_FIELDS = (
    "kind",
    "enabled",
    "time_of_day",
    "weekdays",
    "holiday_country",
    "holiday_subdivision",
    "active_from",
    "active_until",
)


def trigger_next_fire(trigger: Trigger, zone: ZoneInfo | str, after: dt.datetime) -> dt.datetime | None:
    """The trigger's next firing after ``after``; None for meeting or
    disabled triggers (they never sit in the due index)."""
    return schedule_next_fire(*(getattr(trigger, name) for name in SCHEDULE_FIELDS), zone, after)


def schedule_next_fire(
    kind: str,
    enabled: bool,
    time_of_day: dt.time | None,
    weekdays: int,
    holiday_country: str,
    holiday_subdivision: str,
    active_from: dt.date | None,
    active_until: dt.date | None,
    zone: ZoneInfo | str,
    after: dt.datetime,
) -> dt.datetime | None:
    """trigger_next_fire from the trigger's SCHEDULE_FIELDS as plain values."""
    if kind != Trigger.Kind.TIME or not enabled or time_of_day is None:
        return None
    return next_fire_time(
        time_of_day=time_of_day,
        zone=ZoneInfo(zone) if isinstance(zone, str) else zone,
        after=after,
        weekdays=weekdays,
        holiday_country=holiday_country,
        holiday_subdivision=holiday_subdivision,
        active_from=active_from,
        active_until=active_until,
    )


def user_zone(user) -> ZoneInfo:
    name = Account.objects.filter(user=user).values_list("time_zone", flat=True).first()
    return ZoneInfo(name or "UTC")


# --- selectors --------------------------------------------------------------------


@lru_cache(maxsize=1)
def holiday_countries() -> list[tuple[str, str]]:
    """(code, name) of every country the holidays package knows, by name:
    the searchable list on the time trigger form."""
    supported = holidays.list_supported_countries()
    rows = [
        (entry[1], module.replace("_", " ").title())
        for module, entry in holidays.registry.COUNTRIES.items()
        if entry[1] in supported
    ]
    return sorted(rows, key=lambda row: row[1])


@lru_cache(maxsize=1)
def _all_holiday_regions() -> dict[str, list[tuple[str, str]]]:
    rows = {}
    for code, subdivisions in holidays.list_supported_countries().items():
        entity = getattr(holidays, code, None)
        aliases = getattr(entity, "subdivisions_aliases", {}) or {}
        named: dict[str, str] = {}
        for alias, sub in aliases.items():
            named.setdefault(sub, alias)  # the first alias is the full name ("Wien", not "W")
        rows[code] = [(sub, f"{code}: {named.get(sub, sub)}") for sub in subdivisions]
    return rows


def holiday_regions(country: str = "") -> list[tuple[str, str]]:
    """(region code, "country: region name") of the subdivisions of
    ``country`` ("DE", or "DE Germany" as typed from the list), or of every
    country while none (or an unknown one) is chosen."""
    regions = _all_holiday_regions()
    code = (country or "").split(" ")[0].strip().upper()
    if code in regions:
        return regions[code]
    return [row for rows in regions.values() for row in rows]


def profile_triggers(user, profile: PresenceProfile) -> list[Trigger]:
    """A profile's triggers, for its owner, time triggers by time of day
    (one query)."""
    return list(
        Trigger.objects.filter(profile=profile, profile__owner=user, profile__kind=PresenceProfile.Kind.PERSONAL)
        .select_related("connector")
        .order_by("kind", "time_of_day", "id")
    )


def user_triggers(user) -> list[Trigger]:
    """All the user's triggers with their profiles (one query)."""
    return list(
        Trigger.objects.filter(profile__owner=user, profile__kind=PresenceProfile.Kind.PERSONAL)
        .select_related("profile", "connector")
        .order_by("profile__position", "profile_id", "kind", "time_of_day", "id")
    )


def get_own_trigger(user, trigger_id) -> Trigger:
    """A trigger on one of the user's own profiles; Trigger.DoesNotExist
    otherwise (views answer 404, so others' ids reveal nothing)."""
    return Trigger.objects.select_related("profile", "connector").get(
        pk=trigger_id, profile__owner=user, profile__kind=PresenceProfile.Kind.PERSONAL
    )


def configured_connectors() -> list[StatusConnector]:
    return [c for c in StatusConnector.objects.filter(enabled=True).order_by("id") if c.configured]


def meeting_trigger_problem(trigger: Trigger) -> str:
    """Why a meeting trigger cannot work now ('' when it can): shown to
    the user beside the trigger (docs/rules.md#rule-9)."""
    if trigger.kind != Trigger.Kind.MEETING:
        return ""
    if trigger.connector is None or not trigger.connector.configured:
        if configured_connectors():
            return ""
        return NO_CONNECTOR
    return ""


# --- services ---------------------------------------------------------------------


def _check_own_profile(user, profile: PresenceProfile) -> None:
    if profile.kind != PresenceProfile.Kind.PERSONAL or profile.owner_id != user.pk:
        raise NotAllowed(_("Triggers can only be attached to your own profiles."))


def _clean_time_fields(fields: dict) -> dict:
    errors = {}
    time_of_day = fields.get("time_of_day")
    if not isinstance(time_of_day, dt.time):
        errors["time_of_day"] = _("Choose the time of day the trigger switches at.")
    else:
        fields["time_of_day"] = time_of_day.replace(second=0, microsecond=0, tzinfo=None)
    weekdays = fields.get("weekdays")
    if not isinstance(weekdays, int) or not 0 < weekdays <= ALL_WEEKDAYS:
        errors["weekdays"] = _("Choose at least one weekday.")
    country = (fields.get("holiday_country") or "").strip().upper()
    subdivision = (fields.get("holiday_subdivision") or "").strip()
    supported = holidays.list_supported_countries()
    if country and country not in supported:
        errors["holiday_country"] = f"{country} is not a country with a holiday calendar; use a code such as DE or US."
    elif subdivision and not country:
        errors["holiday_subdivision"] = _("Choose the country of this region first.")
    elif subdivision:
        known = {s.upper(): s for s in supported[country]}
        if subdivision.upper() not in known:
            errors["holiday_subdivision"] = f"{subdivision} is not a region of {country} with its own holidays."
        else:
            subdivision = known[subdivision.upper()]
    fields["holiday_country"], fields["holiday_subdivision"] = country, subdivision
    start, end = fields.get("active_from"), fields.get("active_until")
    if start and end and end < start:
        errors["active_until"] = _("The end of the date range is before its start.")
    if errors:
        raise ValidationError(errors)
    return fields


def _reschedule(trigger: Trigger, *, now: dt.datetime | None = None) -> None:
    account_zone = Account.objects.filter(user_id=trigger.profile.owner_id).values_list("time_zone", flat=True).first()
    trigger.next_fire_at = trigger_next_fire(trigger, account_zone or "UTC", now or timezone.now())


def create_time_trigger(
    *,
    user,
    profile: PresenceProfile,
    time_of_day: dt.time,
    weekdays: int = 0b0011111,
    holiday_country: str = "",
    holiday_subdivision: str = "",
    active_from: dt.date | None = None,
    active_until: dt.date | None = None,
    enabled: bool = True,
) -> Trigger:
    """A trigger switching ``user`` to ``profile`` at ``time_of_day`` (their
    local time) on the ``weekdays`` bitmask (bit 0 = Monday)."""
    _check_own_profile(user, profile)
    fields = _clean_time_fields(
        {
            "time_of_day": time_of_day,
            "weekdays": weekdays,
            "holiday_country": holiday_country,
            "holiday_subdivision": holiday_subdivision,
            "active_from": active_from,
            "active_until": active_until,
        }
    )
    trigger = Trigger(profile=profile, kind=Trigger.Kind.TIME, enabled=enabled, **fields)
    _reschedule(trigger)
    trigger.save()
    return trigger


def update_time_trigger(*, user, trigger: Trigger, **changes) -> Trigger:
    """Change a time trigger's schedule (any of TIME_FIELDS); the next
    firing is recomputed from now."""
    unknown = set(changes) - set(TIME_FIELDS)
    if unknown:
        raise ValueError(f"not time-trigger fields: {sorted(unknown)}")
    _check_own_profile(user, trigger.profile)
    if trigger.kind != Trigger.Kind.TIME:
        raise PortalError(_("Only time triggers have a schedule to change."))
    enabled = changes.pop("enabled", trigger.enabled)
    current = {name: getattr(trigger, name) for name in TIME_FIELDS if name != "enabled"}
    fields = _clean_time_fields({**current, **changes})
    with transaction.atomic():
        trigger = Trigger.objects.select_for_update().select_related("profile").get(pk=trigger.pk)
        for name, value in fields.items():
            setattr(trigger, name, value)
        trigger.enabled = bool(enabled)
        _reschedule(trigger)
        trigger.save(update_fields=[*fields, "enabled", "next_fire_at"])
    return trigger


def set_trigger_enabled(*, user, trigger: Trigger, enabled: bool) -> Trigger:
    """Turn a trigger on or off. Turning a time trigger on schedules it from
    now: occurrences that passed while it was off are not caught up."""
    _check_own_profile(user, trigger.profile)
    with transaction.atomic():
        trigger = Trigger.objects.select_for_update().select_related("profile").get(pk=trigger.pk)
        if enabled and trigger.kind == Trigger.Kind.MEETING and meeting_trigger_problem(trigger):
            raise PortalError(str(NO_CONNECTOR))
        trigger.enabled = bool(enabled)
        _reschedule(trigger)
        trigger.save(update_fields=["enabled", "next_fire_at"])
    return trigger


def delete_trigger(*, user, trigger: Trigger) -> None:
    _check_own_profile(user, trigger.profile)
    trigger.delete()


def create_meeting_trigger(*, user, profile: PresenceProfile, connector: StatusConnector | None = None) -> Trigger:
    """A trigger switching ``user`` to ``profile`` while they are in a
    meeting, reported by a status connector. A user has at most one: two
    profiles for the same meeting would contradict each other."""
    _check_own_profile(user, profile)
    if connector is None:
        available = configured_connectors()
        connector = available[0] if available else None
    if connector is None or not connector.configured:
        raise PortalError(str(NO_CONNECTOR))
    existing = Trigger.objects.filter(profile__owner=user, kind=Trigger.Kind.MEETING).select_related("profile").first()
    if existing is not None:
        raise PortalError(
            _("You already have a meeting trigger (switching to %(profile)s). Change or delete that one instead.")
            % {"profile": display_profile_name(existing.profile.name)}
        )
    return Trigger.objects.create(profile=profile, kind=Trigger.Kind.MEETING, connector=connector, next_fire_at=None)


def set_time_zone(*, user, time_zone: str) -> Account:
    """The user's own time zone (an IANA name such as Europe/Berlin): their
    time triggers are recomputed in it at once. ValidationError on the
    ``time_zone`` field for a name that is no time zone."""
    name = (time_zone or "").strip()
    try:
        validate_time_zone(name)
    except ValidationError as exc:
        raise ValidationError({"time_zone": exc.messages}) from None
    if name not in available_time_zones():
        raise ValidationError(
            {"time_zone": _("%(name)s is not a time zone; use an IANA name such as Europe/Berlin.") % {"name": name}}
        )
    with transaction.atomic():
        account = Account.objects.select_for_update().filter(user=user).first()
        if account is None:
            raise PortalError(_("Presence profiles are not set up for you; ask your administrator."))
        account.time_zone = name
        account.save(update_fields=["time_zone"])
        reschedule_user_triggers(user)
    return account


@lru_cache(maxsize=1)
def available_time_zones() -> frozenset[str]:
    """IANA zone names, without the legacy aliases' odd ones (posix/, right/)."""
    return frozenset(z for z in zoneinfo.available_timezones() if not z.startswith(("posix/", "right/", "Etc/GMT")))


def reschedule_user_triggers(user, *, now: dt.datetime | None = None) -> int:
    """Recompute every time trigger of ``user`` (after a change of their
    time zone); returns how many were updated."""
    now = now or timezone.now()
    zone = user_zone(user)
    with transaction.atomic():
        triggers = list(
            Trigger.objects.select_for_update().filter(
                profile__owner=user, profile__kind=PresenceProfile.Kind.PERSONAL, kind=Trigger.Kind.TIME
            )
        )
        for trigger in triggers:
            trigger.next_fire_at = trigger_next_fire(trigger, zone, now)
        Trigger.objects.bulk_update(triggers, ["next_fire_at"])
    return len(triggers)
