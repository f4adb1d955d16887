"""The automation on the pages: "until" when switching, the time trigger
form with holidays and a date range, the user's own time zone, and the
"why am I in this profile" sentence for each source."""

import datetime as dt

import pytest
from django.urls import reverse

from profiles.automation import meetings, triggers
from profiles.automation.why import why_selected
from profiles.models import Account, PresenceProfile, Selection, StatusConnector, Trigger
from profiles.services import select_profile
from tests.factories import make_user, profile_named

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
UTC = dt.UTC
# Monday 30 November 2026, 10:00 in Berlin (CET, UTC+1).
NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
Source = Selection.Source


@pytest.fixture
def alice(client, time_machine):
    time_machine.move_to(NOW, tick=False)
    user = make_user("alice", "1000")
    Account.objects.filter(user=user).update(time_zone="Europe/Berlin")
    client.force_login(user)
    return user


def _select(client, user, name, **data):
    profile = profile_named(user, name)
    return client.post(reverse("profiles:select", args=[profile.pk]), data, **HX)


def _selection(user) -> Selection:
    return Selection.objects.select_related("profile", "previous_profile").get(user=user)


# --- "until" when switching ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "until"),
    [
        ({"until": "30m"}, NOW + dt.timedelta(minutes=30)),
        ({"until": "1h"}, NOW + dt.timedelta(hours=1)),
        # 17:00 in Berlin is 16:00 UTC.
        ({"until": "workday"}, dt.datetime(2026, 11, 30, 16, 0, tzinfo=UTC)),
        # A chosen wall time in the user's zone.
        ({"until": "at", "until_at": "2026-12-01T08:30"}, dt.datetime(2026, 12, 1, 7, 30, tzinfo=UTC)),
        ({"until": ""}, None),
        ({"until": "", "until_at": ""}, None),  # a tile's click in the page's form
        ({}, None),
    ],
)
def test_switch_with_until_sets_the_timer(client, alice, data, until):
    response = _select(client, alice, "Out of the office", **data)
    assert response.status_code == 200
    selection = _selection(alice)
    assert (selection.profile.name, selection.until) == ("Out of the office", until)
    assert selection.previous_profile.name == "In the office"


def test_the_timer_returns_the_user_when_it_ends(client, alice, time_machine):
    from profiles.automation.tasks import due_scan

    _select(client, alice, "Out of the office", until="30m")
    time_machine.move_to(NOW + dt.timedelta(minutes=31), tick=False)
    due_scan()
    selection = _selection(alice)
    assert (selection.profile.name, selection.source, selection.until) == ("In the office", Source.CLEAR_AFTER, None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"until": "at", "until_at": "2026-11-30T09:00"}, "Choose a time in the future."),
        ({"until": "at"}, "Choose the date and time to switch back at."),
        ({"until": "at", "until_at": "2027-06-01T09:00"}, "Choose a time within the next 31 days."),
        ({"until": "at", "until_at": "tomorrow"}, "Enter a valid date/time."),
        ({"until": "forever"}, "Select a valid choice."),
        ({"until": "", "until_at": "tomorrow"}, "Enter a valid date/time."),
    ],
)
def test_bad_until_is_refused_and_changes_nothing(client, alice, data, message):
    response = _select(client, alice, "Out of the office", **data)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert _selection(alice).profile.name == "In the office"


def test_end_of_working_day_after_it_ended_is_refused(client, alice, time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 30, 17, 30, tzinfo=UTC), tick=False)
    response = _select(client, alice, "Out of the office", until="workday")
    assert response.status_code == 422
    assert "Your working day ended at 17:00" in response.content.decode()
    assert _selection(alice).until is None


def test_until_rides_through_the_prompt_dialog(client, alice):
    response = _select(client, alice, "Working from home", until="1h")
    html = response.content.decode()
    assert '<input type="hidden" name="until" value="1h">' in html
    response = _select(client, alice, "Working from home", until="1h", prompted="1", forward="+4930123456")
    assert response.status_code == 200
    assert _selection(alice).until == NOW + dt.timedelta(hours=1)


def test_presence_page_offers_until_and_shows_the_time_zone(client, alice):
    html = client.get(reverse("profiles:presence")).content.decode()
    for option in ('value="30m"', 'value="1h"', 'value="workday"', 'value="at"', 'type="datetime-local"'):
        assert option in html
    assert "Your time zone:" in html
    assert "<strong>Europe/Berlin</strong>" in html


def test_presence_page_says_until_when_and_where_back(client, alice):
    _select(client, alice, "Out of the office", until="30m")
    html = client.get(reverse("profiles:presence")).content.decode()
    # 09:30 UTC is 10:30 in Berlin.
    assert "You chose it. Until Mon 30 Nov, 10:30, then back to In the office." in html


# --- the user's time zone ----------------------------------------------------------------------


def test_time_zone_page_lists_zones_to_search(client, alice):
    html = client.get(reverse("profiles:time_zone")).content.decode()
    assert '<option value="America/New_York">' in html
    assert 'list="time-zones"' in html


def test_setting_the_time_zone_reschedules_triggers(client, alice):
    trigger = triggers.create_time_trigger(
        user=alice, profile=profile_named(alice, "Do Not Disturb"), time_of_day=dt.time(12), weekdays=0b1111111
    )
    assert trigger.next_fire_at == dt.datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
    response = client.post(reverse("profiles:time_zone"), {"time_zone": " America/New_York "})
    assert response.status_code == 302
    assert Account.objects.get(user=alice).time_zone == "America/New_York"
    trigger.refresh_from_db()
    # 12:00 in New York (EST, UTC-5) is 17:00 UTC.
    assert trigger.next_fire_at == dt.datetime(2026, 11, 30, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "posix/Europe/Berlin", "x" * 65])
def test_a_name_that_is_no_time_zone_is_refused(client, alice, name):
    response = client.post(reverse("profiles:time_zone"), {"time_zone": name})
    assert response.status_code == 422
    assert 'class="field-error"' in response.content.decode()
    assert Account.objects.get(user=alice).time_zone == "Europe/Berlin"


# --- time trigger form: holidays and a date range ---------------------------------------------------


def _trigger_form(user, **fields):
    profile = profile_named(user, "Do Not Disturb")
    data = {"new-time_of_day": "08:00", "new-weekdays": ["0", "1", "2", "3", "4"]}
    data.update({f"new-{k}": v for k, v in fields.items()})
    return profile, data


def test_time_trigger_with_holidays_and_a_date_range(client, alice):
    profile, data = _trigger_form(
        alice, holiday_country="DE", holiday_subdivision="by", active_from="2026-12-01", active_until="2027-03-31"
    )
    response = client.post(reverse("profiles:time_trigger_new", args=[profile.pk]), data)
    assert response.status_code == 302
    trigger = Trigger.objects.get(profile=profile)
    assert (trigger.holiday_country, trigger.holiday_subdivision) == ("DE", "BY")
    assert (trigger.active_from, trigger.active_until) == (dt.date(2026, 12, 1), dt.date(2027, 3, 31))
    # Not before the range starts: Tuesday 1 December, 08:00 in Berlin.
    assert trigger.next_fire_at == dt.datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    html = client.get(reverse("profiles:triggers", args=[profile.pk])).content.decode()
    assert "not on public holidays (DE-BY)" in html
    assert "1 Dec 2026 – 31 Mar 2027" in html


def test_time_trigger_skips_a_holiday(client, alice, time_machine):
    time_machine.move_to(dt.datetime(2026, 12, 24, 12, 0, tzinfo=UTC), tick=False)
    client.force_login(alice)  # the session of 30 November has expired
    profile, data = _trigger_form(alice, holiday_country="DE")
    response = client.post(reverse("profiles:time_trigger_new", args=[profile.pk]), data)
    assert response.status_code == 302
    # 25 Dec (Fri) is a holiday in Germany, then the weekend, then Mon 28 Dec.
    assert Trigger.objects.get(profile=profile).next_fire_at == dt.datetime(2026, 12, 28, 7, 0, tzinfo=UTC)


def test_trigger_form_offers_countries_and_regions_to_search(client, alice):
    profile = profile_named(alice, "Do Not Disturb")
    html = client.get(reverse("profiles:triggers", args=[profile.pk])).content.decode()
    assert '<option value="DE">Germany</option>' in html
    assert '<option value="BY">DE: Bayern</option>' in html
    assert 'type="date"' in html


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"holiday_country": "XX"}, "XX is not a country with a holiday calendar"),
        ({"holiday_country": "DE", "holiday_subdivision": "ZZ"}, "ZZ is not a region of DE"),
        ({"holiday_subdivision": "BY"}, "Choose the country of this region first."),
        ({"active_from": "2027-01-02", "active_until": "2027-01-01"}, "The end of the date range is before its start."),
        ({"active_from": "someday"}, "Enter a valid date."),
    ],
)
def test_bad_holiday_or_range_is_a_form_error(client, alice, fields, message):
    profile, data = _trigger_form(alice, **fields)
    response = client.post(reverse("profiles:time_trigger_new", args=[profile.pk]), data)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Trigger.objects.filter(profile=profile).exists()


def test_editing_a_trigger_keeps_and_changes_its_holidays(client, alice):
    profile = profile_named(alice, "Do Not Disturb")
    trigger = triggers.create_time_trigger(user=alice, profile=profile, time_of_day=dt.time(8), holiday_country="AT")
    url = reverse("profiles:trigger_edit", args=[trigger.pk])
    assert 'value="AT"' in client.get(url).content.decode()
    data = {
        f"t{trigger.pk}-time_of_day": "09:00",
        f"t{trigger.pk}-weekdays": ["0"],
        f"t{trigger.pk}-holiday_country": "US",
    }
    assert client.post(url, data).status_code == 302
    trigger.refresh_from_db()
    assert (trigger.holiday_country, trigger.time_of_day) == ("US", dt.time(9))


# --- why am I in this profile ---------------------------------------------------------------------

OFFICE = PresenceProfile(pk=1, name="In the office")
MEETING = PresenceProfile(pk=2, name="In a meeting")
DND = PresenceProfile(pk=3, name="Do Not Disturb")
HOLIDAY = PresenceProfile(pk=4, name="On holiday", sticky=True)
UNTIL = dt.datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("selection", "text"),
    [
        (Selection(profile=DND, source=Source.USER, previous_profile=OFFICE), "You chose it."),
        (
            Selection(profile=DND, source=Source.USER, previous_profile=OFFICE, until=UNTIL),
            "You chose it. Until Mon 30 Nov, 15:00, then back to In the office.",
        ),
        (
            Selection(profile=HOLIDAY, source=Source.USER, previous_profile=OFFICE),
            "You chose it. It is sticky: only you switch away from it.",
        ),
        (Selection(profile=DND, source=Source.ADMIN), "Your administrator chose it."),
        (
            Selection(profile=DND, source=Source.API, source_detail="token desk app"),
            "It was chosen through the API (token desk app).",
        ),
        (
            Selection(profile=DND, source=Source.TRIGGER, source_detail="time trigger at 08:00"),
            "Your time trigger at 08:00 switched you to it.",
        ),
        (
            Selection(profile=MEETING, source=Source.MEETING, source_detail="meeting (Teams)", previous_profile=OFFICE),
            "You are in a meeting (Teams). When it ends you go back to In the office.",
        ),
        (
            Selection(
                profile=MEETING,
                source=Source.MEETING,
                source_detail="meeting (Teams)",
                previous_profile=DND,
                until=UNTIL,
                until_profile=OFFICE,
            ),
            "You are in a meeting (Teams). After it, Do Not Disturb until Mon 30 Nov, 15:00, then back to In the office.",
        ),
        (
            Selection(profile=OFFICE, source=Source.MEETING_END, source_detail="meeting (Teams) ended"),
            "Your meeting (Teams) ended; you are back in the profile from before it.",
        ),
        (
            Selection(profile=OFFICE, source=Source.CLEAR_AFTER, source_detail="timer ended"),
            "Your timer ended (timer ended); you are back in the profile from before it.",
        ),
        (
            Selection(profile=DND, source=Source.SESSION_END, source_detail="the last client disconnected"),
            "Your last client disconnected; your session trigger switched you to it.",
        ),
        (
            Selection(profile=OFFICE, source=Source.SESSION_BACK, source_detail="a client connected again"),
            "A client connected again; you are back in the profile from before.",
        ),
        (
            Selection(profile=OFFICE, source=Source.SYSTEM, source_detail="re-apply"),
            "The portal applied it (re-apply).",
        ),
        (None, ""),
    ],
)
def test_why_for_each_source(selection, text, settings):
    settings.TIME_ZONE = "UTC"
    assert why_selected(selection) == text


def test_every_source_has_its_own_sentence():
    texts = {why_selected(Selection(profile=DND, source=source)) for source in Source.values}
    assert len(texts) == len(Source.values)


def test_presence_page_says_why_after_a_meeting_switch(client, alice):
    hook = StatusConnector.objects.create(name="Teams", kind=StatusConnector.Kind.WEBHOOK, webhook_secret="s")
    triggers.create_meeting_trigger(user=alice, profile=profile_named(alice, "In a meeting"))
    meetings.meeting_started(user_id=alice.pk, connector=hook)
    html = client.get(reverse("profiles:presence")).content.decode()
    assert "You are in a meeting (Teams). When it ends you go back to In the office." in html
    select_profile(user=alice, profile=profile_named(alice, "Out of the office"))
    assert "You chose it." in client.get(reverse("profiles:presence")).content.decode()


def test_the_region_list_follows_the_chosen_country(client, alice):
    # htmx asks for the list when the country changes (the field's own name, with its form prefix).
    url = reverse("profiles:holiday_regions")
    html = client.get(url, {"new-holiday_country": "AT Austria"}).content.decode()
    assert html.startswith('<datalist id="holiday-regions">')
    assert '<option value="9">AT: Wien</option>' in html
    assert "DE: Bayern" not in html
    every = client.get(url, {"t5-holiday_country": ""}).content.decode()
    assert "AT: Wien" in every and "DE: Bayern" in every
    assert "DE: Bayern" in client.get(url, {"t5-holiday_country": "XX"}).content.decode()


def test_without_javascript_the_form_lists_the_regions_of_its_country(client, alice):
    profile = profile_named(alice, "Do Not Disturb")
    trigger = triggers.create_time_trigger(user=alice, profile=profile, time_of_day=dt.time(8), holiday_country="DE")
    html = client.get(reverse("profiles:trigger_edit", args=[trigger.pk])).content.decode()
    assert '<option value="BY">DE: Bayern</option>' in html and "AT: Wien" not in html
    # A refused form comes back with the regions of the country it was sent with.
    profile, data = _trigger_form(alice, holiday_country="AT", holiday_subdivision="ZZ")
    response = client.post(reverse("profiles:time_trigger_new", args=[profile.pk]), data)
    assert response.status_code == 422
    html = response.content.decode()
    assert "AT: Wien" in html and "DE: Bayern" not in html
    assert 'hx-get="/triggers/holiday-regions/"' in html
