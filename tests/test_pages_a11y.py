"""Accessibility and request safety of the pages: every form control has a
label, the CSRF token travels in hx-headers, and POSTs without it fail."""

import json
import re
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from profiles.models import Selection
from tests.factories import make_user, profile_named

pytestmark = pytest.mark.django_db


class Controls(HTMLParser):
    """Collects form controls, label targets and the body's hx-headers."""

    def __init__(self):
        super().__init__()
        self.controls, self.labelled, self.hx_headers = [], set(), None
        self.label_depth = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.hx_headers = attrs.get("hx-headers")
        if tag == "label":
            self.label_depth += 1
            if attrs.get("for"):
                self.labelled.add(attrs["for"])
        if tag in ("input", "select", "textarea") and attrs.get("type") != "hidden":
            self.controls.append((attrs, self.label_depth > 0))

    def handle_endtag(self, tag):
        if tag == "label":
            self.label_depth -= 1


@pytest.fixture
def alice(client):
    user = make_user("alice", "1000", teams=["Sales"])
    client.force_login(user)
    return user


def page_urls(alice):
    office = profile_named(alice, "In the office")
    action = office.actions.first()
    return [
        reverse("profiles:presence"),
        reverse("profiles:time_zone"),
        reverse("profiles:profiles"),
        reverse("profiles:profile_new"),
        reverse("profiles:profile_edit", args=[office.pk]),
        reverse("profiles:action_new", args=[office.pk]) + "?type=change_destinations",
        reverse("profiles:action_edit", args=[action.pk]),
        reverse("profiles:triggers", args=[office.pk]),
        reverse("profiles:colleagues"),
        reverse("profiles:devices"),
        reverse("profiles:session_trigger"),
        reverse("profiles:history"),
    ]


def test_every_form_control_has_a_label(client, alice):
    for url in page_urls(alice):
        parser = Controls()
        parser.feed(client.get(url).content.decode())
        for attrs, inside_label in parser.controls:
            labelled = inside_label or attrs.get("id") in parser.labelled or attrs.get("aria-label")
            assert labelled, (url, attrs)


def test_csrf_token_is_in_hx_headers_on_body(client, alice):
    parser = Controls()
    parser.feed(client.get(reverse("profiles:presence")).content.decode())
    token = json.loads(parser.hx_headers)["X-CSRFToken"]
    assert re.fullmatch(r"[A-Za-z0-9]{64}", token)


def test_post_without_csrf_token_is_refused_and_with_header_accepted(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    meeting = profile_named(alice, "In a meeting")
    url = reverse("profiles:select", args=[meeting.pk])
    assert client.post(url, HTTP_HX_REQUEST="true").status_code == 403
    assert Selection.objects.get(user=alice).profile.name == "In the office"
    parser = Controls()
    parser.feed(client.get(reverse("profiles:presence")).content.decode())
    token = json.loads(parser.hx_headers)["X-CSRFToken"]
    response = client.post(url, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    assert Selection.objects.get(user=alice).profile == meeting
