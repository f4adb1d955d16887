"""My presence: the page, one-click switching with prompts, the live apply
status, mismatches with re-apply, and the switch preview."""

import pytest
from django.urls import reverse
from django.utils import timezone

from devices.models import Mismatch, TargetState
from profiles.models import RecentValue, Selection, SwitchEvent
from profiles.services import select_profile
from tests.factories import make_user, profile_named

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def alice(client):
    user = make_user("alice", "1000", teams=["Sales"])
    client.force_login(user)
    return user


def test_presence_requires_login(client):
    response = client.get(reverse("profiles:presence"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_presence_page_shows_current_profile_and_every_available_profile(client, alice):
    response = client.get(reverse("profiles:presence"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "In the office" in html
    for name in ("Do Not Disturb", "Working from home", "On holiday"):
        assert name in html
    assert 'hx-headers=\'{"X-CSRFToken"' in html


def test_switch_without_prompt_selects_and_status_turns_applied(client, alice, django_capture_on_commit_callbacks):
    meeting = profile_named(alice, "In a meeting")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("profiles:select", args=[meeting.pk]), **HX)
    assert response.status_code == 200
    assert Selection.objects.get(user=alice).profile == meeting
    html = response.content.decode()
    assert "<html" not in html
    # Only what changed: the current card, and the two tiles whose mark moved.
    assert 'id="current-card"' in html and 'id="presence"' not in html
    office = profile_named(alice, "In the office")
    assert f'id="tile-{meeting.pk}" class="profile-tile is-current"' in html
    assert f'id="tile-{office.pk}" class="profile-tile"' in html
    assert html.count('class="profile-tile') == 2
    assert "Applying to your phones" in html  # the converge runs after commit
    # The poll then shows the result (Celery eager ran the converge on commit).
    assert "Applied to your phones" in client.get(reverse("profiles:status"), **HX).content.decode()


def test_switch_to_prompting_profile_opens_dialog_and_changes_nothing(client, alice):
    home = profile_named(alice, "Working from home")
    response = client.post(reverse("profiles:select", args=[home.pk]), **HX)
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#dialog-slot"
    html = response.content.decode()
    assert "<dialog" in html and 'name="forward"' in html
    assert Selection.objects.get(user=alice).profile.name == "In the office"


def test_prompt_dialog_offers_recent_values(client, alice):
    RecentValue.objects.create(user=alice, kind="forward", value="+4930999888", last_used=timezone.now())
    home = profile_named(alice, "Working from home")
    html = client.post(reverse("profiles:select", args=[home.pk]), **HX).content.decode()
    assert '<datalist id="recent-forward"><option value="+4930999888">' in html


def test_prompt_value_switches_and_clears_dialog(client, alice):
    home = profile_named(alice, "Working from home")
    response = client.post(
        reverse("profiles:select", args=[home.pk]), {"prompted": "1", "forward": "+49 30 1234567"}, **HX
    )
    assert response.status_code == 200
    selection = Selection.objects.get(user=alice)
    assert selection.profile == home
    assert selection.prompt_values == {"forward": "+49301234567"}
    assert 'id="dialog-slot" hx-swap-oob="innerHTML"' in response.content.decode()


def test_bad_prompt_value_shows_field_error_and_changes_nothing(client, alice):
    home = profile_named(alice, "Working from home")
    response = client.post(reverse("profiles:select", args=[home.pk]), {"prompted": "1", "forward": "call me"}, **HX)
    assert response.status_code == 422
    assert 'class="field-error"' in response.content.decode()
    assert Selection.objects.get(user=alice).profile.name == "In the office"


def test_switch_without_javascript_redirects_or_shows_prompt_page(client, alice):
    meeting = profile_named(alice, "In a meeting")
    response = client.post(reverse("profiles:select", args=[meeting.pk]))
    assert response.status_code == 302
    home = profile_named(alice, "Working from home")
    response = client.post(reverse("profiles:select", args=[home.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and 'name="forward"' in html


def test_bob_cannot_select_alices_profile(client, alice):
    bob = make_user("bob", "1001")
    client.force_login(bob)
    response = client.post(reverse("profiles:select", args=[profile_named(alice, "In a meeting").pk]), **HX)
    assert response.status_code == 404
    assert Selection.objects.get(user=bob).profile.name == "In the office"


def test_status_partial_answers_304_when_nothing_changed(client, alice):
    response = client.get(reverse("profiles:status"), **HX)
    assert response.status_code == 200
    etag = response["ETag"]
    assert client.get(reverse("profiles:status"), HTTP_IF_NONE_MATCH=etag, **HX).status_code == 304
    select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    assert client.get(reverse("profiles:status"), HTTP_IF_NONE_MATCH=etag, **HX).status_code == 200


def test_status_shows_pending_and_failure_reason(client, alice):
    TargetState.objects.filter(user=alice).update(status="pending")
    assert "Applying to your phones" in client.get(reverse("profiles:status"), **HX).content.decode()
    TargetState.objects.filter(user=alice).update(status="failed", error="PBX said no", error_permanent=True)
    html = client.get(reverse("profiles:status"), **HX).content.decode()
    assert "Could not apply: PBX said no" in html


def test_mismatch_alert_and_reapply(client, alice):
    Mismatch.objects.create(
        user=alice,
        extension="1000",
        op="set_dnd",
        args={"on": False},
        description="1000: turn DND off",
        detected_at=timezone.now(),
    )
    html = client.get(reverse("profiles:presence")).content.decode()
    assert "Your phones differ from your profile" in html and "1000: turn DND off" in html
    response = client.post(reverse("profiles:reapply"), **HX)
    assert response.status_code == 200
    assert SwitchEvent.objects.filter(user=alice, event="reapply", source="user", actor=alice).exists()


def test_preview_lists_commands_without_switching(client, alice):
    meeting = profile_named(alice, "In a meeting")
    response = client.get(reverse("profiles:preview", args=[meeting.pk]), **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "1000: turn DND on" in html
    assert "1000: Desk phone 10001: deactivate" in html  # destinations by family and number, not ids
    assert "destination " not in html
    # Nothing converged yet in this test: the devices are idle, out of their teams.
    office = profile_named(alice, "In the office")
    html = client.get(reverse("profiles:preview", args=[office.pk]), **HX).content.decode()
    assert "1000: log in to Sales" in html  # team names, not ids
    assert "team " not in html
    assert Selection.objects.get(user=alice).profile.name == "In the office"


def test_profile_name_is_escaped(client, alice):
    profile = profile_named(alice, "On holiday")
    profile.name = "<script>alert(1)</script>"
    profile.save()
    html = client.get(reverse("profiles:presence")).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_user_without_presence_profiles_sees_a_notice_and_cannot_switch(client):
    from profiles.models import PresenceProfile

    carol = make_user("carol", "1002", enable=False)
    carol.account.client_profile.presence_profiles_enabled = False
    carol.account.client_profile.save()
    client.force_login(carol)
    html = client.get(reverse("profiles:presence")).content.decode()
    assert "Presence profiles are not enabled for you" in html
    system = PresenceProfile.objects.filter(kind=PresenceProfile.Kind.SYSTEM).first()
    response = client.post(reverse("profiles:select", args=[system.pk]), **HX)
    assert response.status_code == 409
    assert "not enabled" in response.content.decode()
    assert not Selection.objects.filter(user=carol).exists()


def test_user_without_account_gets_pages_not_errors(client, django_user_model):
    dave = django_user_model.objects.create_user("dave", password="pw-dave")
    client.force_login(dave)
    for name in ("presence", "profiles", "colleagues", "devices", "history"):
        assert client.get(reverse(f"profiles:{name}")).status_code == 200, name


def test_page_works_as_partial_for_htmx_and_full_for_navigation(client, alice):
    full = client.get(reverse("profiles:presence")).content.decode()
    partial = client.get(reverse("profiles:presence"), **HX).content.decode()
    assert full.startswith("<!doctype html>") and "<html" not in partial and 'id="presence"' in partial


def test_no_template_comment_leaks_into_pages(client, alice):
    html = client.get(reverse("profiles:presence")).content.decode()
    assert "{#" not in html and "{%" not in html


def test_a_kept_tile_is_the_tile_rendered_afresh_and_follows_what_it_shows(settings, alice):
    from django.utils import translation

    from profiles.templatetags import portal as tags

    settings.DEBUG = False
    office = profile_named(alice, "In the office")
    selection = select_profile(user=alice, profile=office).selection
    tags._kept_tile.cache_clear()

    first = tags.profile_tile(office, selection)
    again = tags.profile_tile(office, selection)
    assert again == first
    assert tags._kept_tile.cache_info().hits == 1  # kept, not rendered again
    settings.DEBUG = True  # rendered afresh each time: the same HTML
    assert tags.profile_tile(office, selection) == first
    settings.DEBUG = False
    assert 'class="profile-tile is-current"' in first and 'aria-pressed="true"' in first
    assert 'hx-swap-oob="true"' in tags.profile_tile(office, selection, oob=True)
    assert "hx-swap-oob" not in first

    other = profile_named(alice, "On holiday")
    assert 'aria-pressed="false"' in tags.profile_tile(other, selection)  # not the current one
    office.name, office.colour = "At my desk", "#123456"
    renamed = tags.profile_tile(office, selection)
    assert "At my desk" in renamed and 'data-colour="#123456"' in renamed
    with translation.override("de"):
        german = tags.profile_tile(other, selection)
    assert "Im Urlaub" in german and "Im Urlaub" not in tags.profile_tile(other, selection)


def test_the_iso_filter_writes_what_date_c_writes():
    import datetime as dt
    from zoneinfo import ZoneInfo

    from django.template import Context, Template

    template = Template("{% load portal %}{{ when|iso }}|{{ when|date:'c' }}")
    for when in (
        dt.datetime(2026, 3, 29, 0, 59, 59, 123456, tzinfo=dt.UTC),  # the hour before Berlin's DST change
        dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC),
        dt.datetime(9999, 12, 31, 23, 59, tzinfo=ZoneInfo("Pacific/Kiritimati")),
        None,
    ):
        for zone in ("UTC", "Europe/Berlin", "America/St_Johns"):
            with timezone.override(ZoneInfo(zone)):
                ours, django = template.render(Context({"when": when})).split("|")
            assert ours == django


def test_every_icon_is_inlined_on_one_line_as_the_same_drawing():
    import xml.etree.ElementTree as ET
    from pathlib import Path

    from django.conf import settings

    from profiles.templatetags.portal import _svg

    def shape(element):
        attributes = {k: " ".join(v.split()) for k, v in element.attrib.items()}
        return (element.tag, attributes, [shape(child) for child in element])

    files = sorted(Path(settings.BASE_DIR, "static", "icons").glob("*.svg"))
    assert len(files) > 20
    for path in files:
        inlined = _svg(path.stem)
        assert "\n" not in inlined
        drawn = ET.fromstring(inlined)
        assert (drawn.get("aria-hidden"), drawn.get("focusable")) == ("true", "false")
        for key in ("aria-hidden", "focusable"):
            del drawn.attrib[key]
        assert shape(drawn) == shape(ET.parse(path).getroot()), path.name


def test_fixed_url_is_the_url_tag_under_any_prefix():
    from django.template import Context, Template
    from django.urls import get_script_prefix, set_script_prefix

    template = Template('{% load portal %}{% fixed_url "profiles:status" %}|{% url "profiles:status" %}')
    saved = get_script_prefix()
    try:
        for prefix in ("/", "/portal/", "/other/"):
            set_script_prefix(prefix)
            ours, django = template.render(Context()).split("|")
            assert ours == django == f"{prefix}presence/status/"
    finally:
        set_script_prefix(saved)


def test_short_datetime_writes_what_the_date_filter_writes():
    import datetime as dt
    from zoneinfo import ZoneInfo

    from django.template import Context, Template
    from django.utils import translation

    template = Template('{% load portal %}{{ when|short_datetime }}|{{ when|date:"SHORT_DATETIME_FORMAT" }}')
    base = dt.datetime(2026, 3, 29, 0, 59, 1, tzinfo=dt.UTC)  # Berlin's clocks go forward at 01:00 UTC
    moments = [base + dt.timedelta(seconds=s) for s in (0, 58, 59, 60, 3600 * 5 + 7)] + [None]
    for language in ("en", "de"):
        for zone in ("UTC", "Europe/Berlin", "America/St_Johns", "Asia/Kolkata"):
            with translation.override(language), timezone.override(ZoneInfo(zone)):
                for when in moments:
                    ours, django = template.render(Context({"when": when})).split("|")
                    assert ours == django, (language, zone, when)
