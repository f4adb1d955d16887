"""{% keep %} and {% fresh %} (profiles/templatetags/portal.py): a block
rendered once per combination of the values it names, its fresh parts
rendered every time; and the current card, kept that way, checked against
its full rendering in every state it shows."""

import re
from datetime import timedelta
from unittest.mock import patch

import pytest
from django.template import Context, Engine, Template
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import override

from devices.models import Mismatch, TargetState
from profiles.models import Account, Selection
from profiles.services import select_profile
from profiles.services.switching import Source
from profiles.templatetags.portal import _FRESH, KeepNode
from tests.factories import make_user, profile_named


def _template(text: str) -> Template:
    libraries = {"portal": "profiles.templatetags.portal", "i18n": "django.templatetags.i18n"}
    return Engine(libraries=libraries).from_string("{% load portal %}" + text)


class Counter:
    """A value that counts how often the template read it."""

    def __init__(self):
        self.reads = 0

    def __str__(self):
        self.reads += 1
        return f"read {self.reads}"


def test_a_kept_block_is_rendered_once_per_key_and_its_fresh_part_every_time():
    t = _template("{% keep name %}<p>{{ name }} {{ slow }}</p><i>{% fresh %}{{ now }}{% endfresh %}</i>{% endkeep %}")
    slow = Counter()
    first = t.render(Context({"name": "Ann", "slow": slow, "now": 1}))
    again = t.render(Context({"name": "Ann", "slow": slow, "now": 2}))
    other = t.render(Context({"name": "Bob", "slow": slow, "now": 3}))
    assert first == "<p>Ann read 1</p><i>1</i>"
    assert again == "<p>Ann read 1</p><i>2</i>"  # kept: "slow" not read again; the fresh part is
    assert other == "<p>Bob read 2</p><i>3</i>"
    assert slow.reads == 2


def test_fresh_parts_inside_conditions_follow_the_key():
    t = _template(
        "{% keep on %}{% if on %}[{% fresh %}{{ a }}{% endfresh %}]{% endif %}({% fresh %}{{ b }}{% endfresh %}){% endkeep %}"
    )
    assert t.render(Context({"on": True, "a": 1, "b": 2})) == "[1](2)"
    assert t.render(Context({"on": False, "a": 1, "b": 2})) == "(2)"
    assert t.render(Context({"on": True, "a": 5, "b": 6})) == "[5](6)"


def test_fresh_output_is_escaped_as_anywhere_else():
    t = _template("{% keep 1 %}{% fresh %}{{ text }}{% endfresh %}{% endkeep %}")
    assert t.render(Context({"text": "<b>"})) == "&lt;b&gt;"
    assert t.render(Context({"text": "<i>"})) == "&lt;i&gt;"


def test_a_value_that_is_not_plain_data_renders_the_block_every_time():
    t = _template("{% keep thing %}{{ slow }}{% endkeep %}")
    slow = Counter()
    thing = object()
    assert t.render(Context({"thing": thing, "slow": slow})) == "read 1"
    assert t.render(Context({"thing": thing, "slow": slow})) == "read 2"


def test_the_language_is_part_of_the_key():
    t = _template('{% load i18n %}{% keep 1 %}{% translate "Change" %}{% endkeep %}')
    with override("en"):
        assert t.render(Context()) == "Change"
    with override("de"):
        assert t.render(Context()) == "Ändern"


@override_settings(DEBUG=True)
def test_with_debug_on_the_block_is_always_rendered():
    t = _template("{% keep 1 %}{{ slow }}{% endkeep %}")
    slow = Counter()
    t.render(Context({"slow": slow}))
    assert t.render(Context({"slow": slow})) == "read 2"


def test_a_tag_keeps_a_bounded_number_of_blocks(monkeypatch):
    monkeypatch.setattr(KeepNode, "MAX", 3)
    t = _template("{% keep n %}{{ n }}{% endkeep %}")
    for n in range(10):
        assert t.render(Context({"n": n})) == str(n)
    node = next(n for n in t.nodelist if isinstance(n, KeepNode))
    assert len(node.kept) == 3


# --- the current card, kept, against its full rendering --------------------------------

_CARD = re.compile(r'<section id="current-card".*?</section>', re.S)
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


def _card(client) -> str:
    html = client.get(reverse("profiles:presence")).content.decode()
    return _CSRF.sub('name="csrfmiddlewaretoken" value="…"', _CARD.search(html)[0])


def _both(client) -> tuple[str, str]:
    """The card as served (kept), then rendered in full. Not by turning
    DEBUG on: that rebuilds the template engines, and with them the kept
    blocks, so a stale block would never be seen."""
    kept = _card(client)
    with patch.object(KeepNode, "render", lambda node, context: node.nodelist.render(context)):
        full = _card(client)
    return kept, full


@pytest.mark.django_db
def test_the_kept_current_card_matches_its_full_rendering_in_every_state(client):
    alice = make_user("alice", "1000", teams=["Sales"])
    client.force_login(alice)
    office, meeting = profile_named(alice, "In the office"), profile_named(alice, "In a meeting")
    dnd = profile_named(alice, "Do Not Disturb")
    target = TargetState.objects.get(user=alice)
    seen = set()

    def check():
        kept, full = _both(client)
        assert kept == full
        seen.add(kept)

    check()
    select_profile(user=alice, profile=meeting, actor=alice)
    check()
    # The same profile, source and status: only the since time differs.
    Selection.objects.filter(user=alice).update(since=timezone.now() - timedelta(days=3))
    check()
    # Only the reason differs: a clear-after time and the profile to go back to.
    select_profile(user=alice, profile=meeting, actor=alice, until=timezone.now() + timedelta(hours=2))
    check()
    select_profile(user=alice, profile=office, source=Source.TRIGGER, source_detail="time trigger Mornings")
    check()
    select_profile(user=alice, profile=office, source=Source.TRIGGER, source_detail="time trigger Evenings")
    check()
    select_profile(user=alice, profile=dnd, actor=alice, prompt_values={"dnd_message": "Back at 3"})
    check()
    select_profile(user=alice, profile=dnd, actor=alice, prompt_values={"dnd_message": "Back at 4"})
    check()
    home = profile_named(alice, "Working from home")
    select_profile(user=alice, profile=home, actor=alice, prompt_values={"forward": "+4930123"})
    check()
    for status, error, permanent in (
        ("applied", "", False),
        ("failed", "PBX unreachable", False),
        ("failed", "PBX unreachable", True),
        ("failed", "", True),
        ("pending", "", False),
    ):
        TargetState.objects.filter(pk=target.pk).update(status=status, error=error, error_permanent=permanent)
        check()
    Mismatch.objects.create(
        user=alice,
        extension="1000",
        op="set_dnd",
        args={"on": True},
        description="DND is on at the phone",
        detected_at=timezone.now(),
    )
    check()
    Mismatch.objects.all().delete()
    Account.objects.filter(user=alice).update(time_zone="America/New_York")
    check()
    client.cookies["django_language"] = "de"
    check()
    meeting.name, meeting.colour = "Im Termin", "#123456"
    meeting.save()
    select_profile(user=alice, profile=meeting, actor=alice)
    check()
    Selection.objects.filter(user=alice).delete()
    check()
    alice.account.client_profile.presence_profiles_enabled = False
    alice.account.client_profile.save()
    check()
    alice.is_staff = True
    alice.save()
    check()
    # Every step above showed a card of its own.
    assert len(seen) >= 19


def test_a_value_that_holds_the_mark_is_shown_as_is_and_not_kept():
    t = _template("{% keep 1 %}{{ text }}{% endkeep %}")
    odd = f"a{_FRESH}b"
    assert t.render(Context({"text": odd})) == odd
    assert t.render(Context({"text": "plain"})) == "plain"  # nothing was kept for the odd one
