"""The API's request and response bodies (OpenAPI components)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import StrictBool, StrictInt, StrictStr, field_validator, model_validator

Name = Field(..., min_length=1, max_length=64)
# An id in a body: what the database's bigint holds (a larger number is a
# field error, not a failed query).
Id = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]


def text_fits_the_database(value):
    """Reject what PostgreSQL cannot store (NUL characters, lone UTF-16
    surrogates), anywhere in a value, as a field error instead of a 500."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("Text may not contain NUL characters.")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("Text must be valid Unicode.") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            text_fits_the_database(key)
            text_fits_the_database(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            text_fits_the_database(item)
    return value


class In(Schema):
    """A request body: a JSON object, every text in it fits the database."""

    @model_validator(mode="wrap")
    @classmethod
    def _an_object(cls, data, handler):
        if not isinstance(data, dict) and not hasattr(data, "keys") and not isinstance(data, cls):
            raise ValueError("Send a JSON object.")
        return handler(data)

    @field_validator("*")
    @classmethod
    def _text_fits_the_database(cls, value):
        return text_fits_the_database(value)


class UserOut(Schema):
    id: int
    username: str
    name: str


class ProfileOut(Schema):
    id: int
    name: str
    kind: Literal["personal", "system"]
    icon: str
    colour: str
    icon_visible: bool
    sticky: bool
    position: int
    editable: bool


class ProfileIn(In):
    name: StrictStr = Name
    icon: StrictStr = "circle"
    colour: StrictStr = Field("#2e7d32", max_length=7)
    icon_visible: StrictBool = True
    sticky: StrictBool = False


class ProfilePatch(In):
    name: StrictStr | None = Field(None, min_length=1, max_length=64)
    icon: StrictStr | None = Field(None, max_length=32)
    colour: StrictStr | None = Field(None, max_length=7)
    icon_visible: StrictBool | None = None
    sticky: StrictBool | None = None


class CopyIn(In):
    name: StrictStr | None = Field(None, min_length=1, max_length=64)


class MoveIn(In):
    direction: Literal["up", "down"]


class ActionOut(Schema):
    id: int
    profile_id: int
    phase: Literal["enter", "exit"]
    position: int
    enabled: bool
    type: str
    params: dict[str, Any]
    description: str


class ActionIn(In):
    type: StrictStr = Field(..., max_length=32)
    phase: Literal["enter", "exit"] = "enter"
    params: dict[str, Any] = {}
    enabled: StrictBool = True


class ActionPatch(In):
    params: dict[str, Any] | None = None
    enabled: StrictBool | None = None


class TriggerOut(Schema):
    id: int
    profile_id: int
    profile_name: str
    kind: Literal["time", "meeting"]
    enabled: bool
    time_of_day: str | None
    weekdays: list[str]
    holiday_country: str
    holiday_subdivision: str
    active_from: dt.date | None
    active_until: dt.date | None
    next_fire_at: dt.datetime | None
    problem: str


Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


class TimeTriggerIn(In):
    time_of_day: dt.time
    weekdays: list[Weekday] = Field(["Mon", "Tue", "Wed", "Thu", "Fri"], min_length=1, max_length=7)
    holiday_country: StrictStr = Field("", max_length=8)
    holiday_subdivision: StrictStr = Field("", max_length=16)
    active_from: dt.date | None = None
    active_until: dt.date | None = None
    enabled: StrictBool = True


class TimeTriggerPatch(In):
    time_of_day: dt.time | None = None
    weekdays: list[Weekday] | None = Field(None, min_length=1, max_length=7)
    holiday_country: StrictStr | None = Field(None, max_length=8)
    holiday_subdivision: StrictStr | None = Field(None, max_length=16)
    active_from: dt.date | None = None
    active_until: dt.date | None = None
    enabled: StrictBool | None = None


class MeetingTriggerIn(In):
    connector_id: Id | None = None


class ApplyOut(Schema):
    status: Literal["none", "pending", "applied", "failed"]
    version: int
    applied_version: int
    error: str


class MismatchOut(Schema):
    extension: str
    description: str
    detected_at: dt.datetime


class MeOut(Schema):
    user: UserOut
    presence_enabled: bool
    profile: ProfileOut | None
    why: str
    why_detail: str
    why_text: str
    since: dt.datetime | None
    until: dt.datetime | None
    previous_profile_id: int | None
    prompt_values: dict[str, str]
    apply: ApplyOut
    mismatches: list[MismatchOut]


class SwitchIn(In):
    profile_id: Id
    prompt_values: dict[str, StrictStr] | None = None
    until: dt.datetime | None = None

    @field_validator("until")
    @classmethod
    def aware(cls, value):
        if value is not None and value.tzinfo is None:
            raise ValueError("Give the time with its UTC offset, e.g. 2026-12-01T17:00:00+01:00.")
        return value


class LineOut(Schema):
    """What the colleague's phone line is doing, as the colleagues board shows it."""

    state: Literal["idle", "ringing", "on_call", "on_hold", "unavailable"]
    label: str = Field(description="For people, in the request's language.")
    changed_at: dt.datetime


class ColleagueOut(Schema):
    user_id: int
    name: str
    extension: str
    profile: str
    icon: str | None
    colour: str
    since: dt.datetime
    line: LineOut | None = Field(description="None while the phone system has reported nothing for the extension.")


class ColleaguesOut(Schema):
    count: int
    page: int
    pages: int
    version: str
    results: list[ColleagueOut]


class TeamOut(Schema):
    id: int
    name: str


class FieldOut(Schema):
    field: str
    actual: Any
    profile: Any
    differs: bool


class DeviceOut(Schema):
    extension: str
    name: str
    role: Literal["primary", "softphone"]
    fields: list[FieldOut]


class DestinationOut(Schema):
    id: int
    family: str
    number: str
    active: bool | None
    profile_active: bool | None


class TeamStateOut(Schema):
    id: int
    name: str
    logged_in: bool | None
    paused: bool | None
    pickup: bool | None
    profile_logged_in: bool | None
    profile_paused: bool | None


class SessionOut(Schema):
    id: int
    extension: str
    client_id: str
    client_name: str
    client_version: str
    connected_at: dt.datetime
    last_heartbeat_at: dt.datetime | None
    expires_at: dt.datetime | None
    heartbeat_interval: int


class DevicesOut(Schema):
    devices: list[DeviceOut]
    destinations: list[DestinationOut]
    teams: list[TeamStateOut]
    sessions: list[SessionOut]
    read_error: str


class SwitchEventOut(Schema):
    id: int
    at: dt.datetime
    event: str
    source: str
    detail: str
    actor: str | None
    old_profile: str
    new_profile: str
    target_version: int


class StepOut(Schema):
    extension: str
    description: str
    ok: bool
    error: str


class ApplyRunOut(Schema):
    id: int
    started_at: dt.datetime
    reason: str
    target_version: int
    result: str
    duration_ms: int
    error: str
    steps: list[StepOut]


class Page(Schema):
    count: int
    page: int
    pages: int


class SwitchEventPage(Page):
    results: list[SwitchEventOut]


class ApplyRunPage(Page):
    results: list[ApplyRunOut]


class ConnectIn(In):
    extension: StrictStr = Field(..., min_length=1, max_length=8, description="The softphone's extension number.")
    client_id: StrictStr = Field(..., min_length=1, max_length=64, description="Stable per installation.")
    client_name: StrictStr = Field("", max_length=100)
    client_version: StrictStr = Field("", max_length=40)


class HeartbeatOut(Schema):
    expires_at: dt.datetime


class StaffSwitchIn(In):
    profile_id: Id = Field(..., description="A system profile.")
    client_profile_id: Id | None = None
    team_id: Id | None = None
    user_ids: list[Id] | None = Field(None, max_length=10000)
    until: dt.datetime | None = None
    prompt_values: dict[str, StrictStr] | None = Field(
        None, description="Values for what the profile asks (e.g. a DND message), the same for everyone."
    )

    @field_validator("until")
    @classmethod
    def aware(cls, value):
        if value is not None and value.tzinfo is None:
            raise ValueError("Give the time with its UTC offset, e.g. 2026-12-01T17:00:00+01:00.")
        return value


class StaffSwitchOut(Schema):
    users: int
    switched: int
    skipped: dict[str, int]


class StaffReapplyIn(In):
    client_profile_id: Id | None = None
    everyone: StrictBool = False


class CountOut(Schema):
    users: int


class SessionTriggerOut(Schema):
    profile_id: int | None = Field(description="Your own choice; none: the client profile's default applies.")
    return_on_connect: bool
    effective_profile_id: int | None = Field(description="What applies now (yours or the default).")
    effective_return_on_connect: bool


class TimeZoneIn(In):
    time_zone: StrictStr = Field(..., max_length=64)


class TimeZoneOut(Schema):
    time_zone: str


class SessionTriggerIn(In):
    profile_id: Id | None = None
    return_on_connect: StrictBool = False
