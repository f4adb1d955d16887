"""Profiles and the profile editor: list, create, edit, delete (refused for
the selected and system profiles), copy, reorder; actions added through
type-specific forms with field errors in place; bob never sees alice's."""

import pytest
from django.urls import reverse

from profiles.models import Action, PresenceProfile, Selection
from tests.factories import make_user, profile_named

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def alice(client):
    user = make_user("alice", "1000", teams=["Sales"])
    client.force_login(user)
    return user


def system_profile():
    return PresenceProfile.objects.filter(kind=PresenceProfile.Kind.SYSTEM).first()


def test_list_shows_own_and_system_profiles(client, alice):
    html = client.get(reverse("profiles:profiles")).content.decode()
    assert "My profiles" in html and "In the office" in html
    assert system_profile().name in html


def test_create_profile(client, alice):
    response = client.post(
        reverse("profiles:profile_new"),
        {"name": "Lunch", "icon": "utensils", "colour": "#aa5500", "icon_visible": "on"},
    )
    profile = profile_named(alice, "Lunch")
    assert response.status_code == 302 and response["Location"] == reverse("profiles:profile_edit", args=[profile.pk])
    assert profile.icon == "utensils" and profile.colour == "#aa5500" and profile.icon_visible and not profile.sticky


def test_create_profile_with_bad_input_shows_errors_and_creates_nothing(client, alice):
    before = PresenceProfile.objects.count()
    response = client.post(reverse("profiles:profile_new"), {"name": "In the office", "icon": "nope", "colour": "red"})
    html = response.content.decode()
    assert response.status_code == 422
    assert "Select a valid choice" in html and "#rrggbb" in html
    response = client.post(
        reverse("profiles:profile_new"), {"name": "In the office", "icon": "house", "colour": "#123456"}
    )
    assert "You already have a profile with this name." in response.content.decode()
    assert PresenceProfile.objects.count() == before


def test_edit_profile_settings_with_htmx_rerenders_the_editor(client, alice):
    profile = profile_named(alice, "On holiday")
    response = client.post(
        reverse("profiles:profile_edit", args=[profile.pk]),
        {"name": "Vacation", "icon": "plane", "colour": "#00838f", "sticky": "on"},
        **HX,
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and 'id="settings"' in html
    assert response["HX-Retarget"] == "#editor" and "<h1>Vacation</h1>" in html
    assert html.count("Saved.") == 1
    profile.refresh_from_db()
    assert (profile.name, profile.icon, profile.sticky, profile.icon_visible) == ("Vacation", "plane", True, False)


def test_a_seeded_name_is_edited_in_the_readers_language_and_stays_stored_in_english(client, alice):
    client.cookies["django_language"] = "de"
    profile = profile_named(alice, "In the office")
    url = reverse("profiles:profile_edit", args=[profile.pk])
    assert 'value="Im Büro"' in client.get(url).content.decode()
    form = {"name": "Im Büro", "icon": "building-2", "colour": "#2e7d32", "icon_visible": "on", "sticky": "on"}
    assert client.post(url, form).status_code == 302
    profile.refresh_from_db()
    assert (profile.name, profile.sticky) == ("In the office", True)  # not renamed; the other change saved
    client.cookies["django_language"] = "en"
    assert 'value="In the office"' in client.get(url).content.decode()
    # Typing another name renames it, in any language.
    client.post(url, {**form, "name": "Büro"})
    profile.refresh_from_db()
    assert profile.name == "Büro"


def test_system_profile_is_read_only(client, alice):
    system = system_profile()
    html = client.get(reverse("profiles:profile_edit", args=[system.pk])).content.decode()
    assert "read-only" in html and 'id="settings"' not in html and "Copy to my profiles" in html
    response = client.post(
        reverse("profiles:profile_edit", args=[system.pk]), {"name": "Mine", "icon": "house", "colour": "#000000"}
    )
    assert response.status_code == 404
    assert PresenceProfile.objects.get(pk=system.pk).name == system.name


def test_delete_profile_after_confirmation(client, alice):
    profile = profile_named(alice, "On holiday")
    confirm = client.get(reverse("profiles:profile_delete", args=[profile.pk]), **HX)
    assert "<dialog" in confirm.content.decode() and confirm["HX-Retarget"] == "#dialog-slot"
    response = client.post(reverse("profiles:profile_delete", args=[profile.pk]), **HX)
    assert response["HX-Redirect"] == reverse("profiles:profiles")
    assert not PresenceProfile.objects.filter(pk=profile.pk).exists()


def test_deleting_the_selected_profile_is_refused_with_a_message(client, alice):
    office = profile_named(alice, "In the office")
    response = client.post(reverse("profiles:profile_delete", args=[office.pk]), **HX)
    assert response.status_code == 409
    assert response["HX-Retarget"] == "#messages"
    assert "You cannot delete the profile you have selected" in response.content.decode()
    assert PresenceProfile.objects.filter(pk=office.pk).exists()


def test_deleting_a_system_profile_is_refused_with_a_message(client, alice):
    system = system_profile()
    response = client.post(reverse("profiles:profile_delete", args=[system.pk]), follow=True)
    assert "System profiles cannot be deleted." in response.content.decode()
    assert PresenceProfile.objects.filter(pk=system.pk).exists()


def test_copy_a_system_profile(client, alice):
    system = system_profile()
    response = client.post(reverse("profiles:profile_copy", args=[system.pk]))
    copy = profile_named(alice, f"{system.name} (copy)")
    assert response["Location"] == reverse("profiles:profile_edit", args=[copy.pk])
    assert copy.actions.count() == system.actions.count()


def test_move_profile_down(client, alice):
    first = PresenceProfile.objects.filter(owner=alice).order_by("position", "id").first()
    response = client.post(reverse("profiles:profile_move", args=[first.pk]), {"direction": "down"}, **HX)
    assert response.status_code == 200 and 'id="profile-list"' in response.content.decode()
    assert list(PresenceProfile.objects.filter(owner=alice).order_by("position", "id"))[1] == first


def test_add_action_through_its_type_form(client, alice):
    profile = profile_named(alice, "On holiday")
    form = client.get(reverse("profiles:action_new", args=[profile.pk]) + "?type=set_forward&phase=exit", **HX)
    assert 'name="action-target"' in form.content.decode()
    response = client.post(
        reverse("profiles:action_new", args=[profile.pk]),
        {"type": "set_forward", "action-phase": "exit", "action-target": "+49 30 555"},
        **HX,
    )
    assert response.status_code == 200 and response["HX-Retarget"] == "#chains"
    action = Action.objects.get(profile=profile, phase="exit")
    assert action.type == "set_forward" and action.params == {"prompt": False, "target": "+4930555"}
    assert "Forward to +4930555" in response.content.decode()


def test_invalid_action_input_shows_field_errors_and_adds_nothing(client, alice):
    profile = profile_named(alice, "On holiday")
    before = Action.objects.filter(profile=profile).count()
    response = client.post(
        reverse("profiles:action_new", args=[profile.pk]),
        {"type": "change_destinations", "action-phase": "enter", "action-family": "all", "action-ring_delay": "500"},
        **HX,
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "Enter a number from 0 to 120." in html and 'id="id_action-ring_delay_error"' in html
    response = client.post(
        reverse("profiles:action_new", args=[profile.pk]),
        {"type": "set_forward", "action-phase": "enter", "action-target": ""},
        **HX,
    )
    assert "Enter a forward target, or choose to be asked on selection." in response.content.decode()
    assert Action.objects.filter(profile=profile).count() == before


def test_edit_toggle_move_and_delete_an_action(client, alice):
    profile = profile_named(alice, "In a meeting")
    chain = list(Action.objects.filter(profile=profile, phase="enter").order_by("position", "id"))
    dnd = next(a for a in chain if a.type == "set_dnd")
    response = client.post(
        reverse("profiles:action_edit", args=[dnd.pk]), {"action-on": "true", "action-message": "Back at 3"}, **HX
    )
    assert response.status_code == 200
    dnd.refresh_from_db()
    assert dnd.params["message"] == "Back at 3"
    client.post(reverse("profiles:action_toggle", args=[dnd.pk]), **HX)
    dnd.refresh_from_db()
    assert dnd.enabled is False
    client.post(reverse("profiles:action_move", args=[chain[0].pk]), {"direction": "down"}, **HX)
    assert list(Action.objects.filter(profile=profile, phase="enter").order_by("position", "id"))[1] == chain[0]
    client.post(reverse("profiles:action_delete", args=[dnd.pk]), **HX)
    assert not Action.objects.filter(pk=dnd.pk).exists()


def test_edits_of_the_selected_profile_apply_at_once(client, alice):
    office = profile_named(alice, "In the office")
    version = alice.target_state.version
    action = office.actions.filter(type="set_dnd").get()
    client.post(reverse("profiles:action_toggle", args=[action.pk]), **HX)
    alice.target_state.refresh_from_db()
    assert alice.target_state.version == version + 1


def test_bob_gets_404_for_alices_profiles_and_actions(client, alice):
    bob = make_user("bob", "1001")
    client.force_login(bob)
    profile = profile_named(alice, "On holiday")
    action = profile.actions.first()
    for url, method in [
        (reverse("profiles:profile_edit", args=[profile.pk]), "get"),
        (reverse("profiles:profile_edit", args=[profile.pk]), "post"),
        (reverse("profiles:profile_delete", args=[profile.pk]), "get"),
        (reverse("profiles:profile_delete", args=[profile.pk]), "post"),
        (reverse("profiles:profile_copy", args=[profile.pk]), "post"),
        (reverse("profiles:profile_move", args=[profile.pk]), "post"),
        (reverse("profiles:action_new", args=[profile.pk]), "get"),
        (reverse("profiles:action_edit", args=[action.pk]), "get"),
        (reverse("profiles:action_edit", args=[action.pk]), "post"),
        (reverse("profiles:action_toggle", args=[action.pk]), "post"),
        (reverse("profiles:action_delete", args=[action.pk]), "post"),
        (reverse("profiles:action_move", args=[action.pk]), "post"),
        (reverse("profiles:preview", args=[profile.pk]), "get"),
        (reverse("profiles:triggers", args=[profile.pk]), "get"),
    ]:
        assert getattr(client, method)(url).status_code == 404, url
    assert PresenceProfile.objects.filter(pk=profile.pk).exists()
    assert Action.objects.filter(pk=action.pk, enabled=True).exists()
    assert Selection.objects.get(user=bob).profile.owner == bob


def test_profile_names_are_escaped_in_list_and_editor(client, alice):
    profile = profile_named(alice, "On holiday")
    profile.name = "<script>alert(1)</script>"
    profile.save()
    for url in (reverse("profiles:profiles"), reverse("profiles:profile_edit", args=[profile.pk])):
        html = client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_not_found_page_is_friendly(client, alice, settings):
    settings.DEBUG = False
    response = client.get(reverse("profiles:profile_edit", args=[999999]))
    assert response.status_code == 404
    assert "This page does not exist, or it belongs to someone else." in response.content.decode()


def test_the_navigation_marks_only_the_page_it_is_on(client, alice, settings):
    settings.DEBUG = False
    missing = client.get("/no-such-page/")
    assert missing.status_code == 404 and 'aria-current="page"' not in missing.content.decode()
    for url, tab in [
        (reverse("profiles:session_trigger"), reverse("profiles:devices")),
        (reverse("profiles:profiles"), reverse("profiles:profiles")),
        (reverse("profiles:presence"), reverse("profiles:presence")),
    ]:
        html = client.get(url).content.decode()
        assert html.count('aria-current="page"') == 1, url
        assert f'<a href="{tab}" aria-current="page">' in html, url


def test_refuse_policy_shows_why_the_selected_profile_cannot_change(client, alice):
    alice.account.client_profile.selected_profile_edit_policy = "refuse"
    alice.account.client_profile.save()
    office = profile_named(alice, "In the office")
    response = client.post(
        reverse("profiles:profile_edit", args=[office.pk]), {"name": "Desk", "icon": "house", "colour": "#123456"}, **HX
    )
    assert response.status_code == 422
    assert "This profile is in use." in response.content.decode()
    response = client.post(
        reverse("profiles:action_new", args=[office.pk]), {"type": "unset_forward", "action-phase": "enter"}, **HX
    )
    assert response.status_code == 409 and "This profile is in use." in response.content.decode()
    office.refresh_from_db()
    assert office.name == "In the office" and office.actions.count() == 4


def test_huge_ids_answer_404(client, alice):
    assert client.get("/profiles/99999999999999999999999999/").status_code == 404
    assert client.post("/actions/99999999999999999999999999/toggle/").status_code == 404
