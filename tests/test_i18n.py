"""German and English: the catalogue is complete (no empty or fuzzy entry,
every string the code and templates mark is in it), no template or form
shows an English text that is not marked for translation, the browser's
language is the default, the choice on the page is remembered, dates follow
the language, and seeded profile names read in the reader's language."""

import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_python
from babel.messages.pofile import read_po
from django import forms
from django.conf import settings
from django.template.base import Lexer, TokenType
from django.urls import reverse
from django.utils import translation
from django.utils.translation.template import templatize

from portal.translations import compile_catalogues
from profiles import forms as portal_forms
from profiles.models import Selection
from tests.factories import make_user, profile_named

ROOT = Path(settings.BASE_DIR)
PO = ROOT / "locale" / "de" / "LC_MESSAGES" / "django.po"
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))
CODE_DIRS = ("portal", "profiles", "devices")
KEYWORDS = {
    "_": None,
    "gettext": None,
    "gettext_lazy": None,
    "gettext_noop": None,
    "ngettext": (1, 2),
    "ngettext_lazy": (1, 2),
    "pgettext": ((1, "c"), 2),
    "pgettext_lazy": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "npgettext_lazy": ((1, "c"), 2, 3),
}


def catalogue():
    with PO.open("rb") as fh:
        return read_po(fh, locale="de")


def msgids() -> set[str]:
    ids = set()
    for message in catalogue():
        if message.id:
            ids.add(message.id[0] if isinstance(message.id, tuple) else message.id)
    return ids


# --- the catalogue ------------------------------------------------------------------------


def test_german_catalogue_has_no_empty_or_fuzzy_entry():
    problems = []
    for message in catalogue():
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        if not all(s.strip() for s in strings):
            problems.append(f"empty: {message.id!r}")
    assert problems == []


def test_german_translations_keep_every_placeholder():
    pattern = re.compile(r"%\(\w+\)s|\{\w*\}")
    problems = []
    for message in catalogue():
        if not message.id:
            continue
        source = message.id[0] if isinstance(message.id, tuple) else message.id
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for s in strings:
            if sorted(set(pattern.findall(s))) != sorted(set(pattern.findall(source))):
                problems.append((source, s))
    assert problems == []


_STR = r"u'(?:[^'\\]|\\.)*'"
TEMPLATE_CALL = re.compile(rf"\b(?:n?p?gettext)\({_STR}(?:\s*,\s*{_STR})*(?:\s*,\s*\w+)?\)")


def _marked_in_templates() -> set[str]:
    """What makemessages finds in the templates, without GNU gettext: Django's
    templatize, then the gettext calls read as Python."""
    found = set()
    for path in TEMPLATES:
        code = templatize(path.read_text(encoding="utf-8"), origin=str(path))
        calls = "\n".join(TEMPLATE_CALL.findall(code)).encode()
        for _line, func, message, _comments in extract_python(io.BytesIO(calls), KEYWORDS, [], {}):
            if func.startswith(("pgettext", "npgettext")):
                message = message[1:]
            found.add(message[0] if isinstance(message, tuple) else message)
    return found


def _marked_in_code() -> set[str]:
    found = set()
    for folder in CODE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            with path.open("rb") as fh:
                for _line, func, message, _comments in extract_python(fh, KEYWORDS, [], {}):
                    if func.startswith(("pgettext", "npgettext")):
                        message = message[1:]  # (context, singular, …)
                    found.add(message[0] if isinstance(message, tuple) else message)
    return {m for m in found if m}


def test_every_marked_string_is_in_the_german_catalogue():
    """Someone who wraps a string but forgets makemessages + German fails here."""
    missing = (_marked_in_templates() | _marked_in_code()) - msgids()
    assert sorted(missing) == []


def test_catalogue_compiles_in_pure_python_and_django_reads_it(tmp_path):
    locale = tmp_path / "de" / "LC_MESSAGES"
    locale.mkdir(parents=True)
    (locale / "django.po").write_bytes(PO.read_bytes())
    written = compile_catalogues(tmp_path)
    assert written == [locale / "django.mo"]
    import gettext

    with (locale / "django.mo").open("rb") as fh:
        mo = gettext.GNUTranslations(fh)
    assert mo.gettext("My presence") == "Meine Präsenz"
    assert mo.ngettext("%(counter)s action", "%(counter)s actions", 2) == "%(counter)s Aktionen"


# --- nothing user-visible left untranslated -----------------------------------------------

VISIBLE_ATTRS = re.compile(r'\b(?:aria-label|title|placeholder|alt|hx-confirm)="([^"]*)"')
TAG = re.compile(r"<[^>]*>")
WORD = re.compile(r"[A-Za-zÄÖÜäöüß]{2,}")


def _untranslated_text(path: Path) -> list[str]:
    """Text between HTML tags and in visible attributes that is neither a
    template variable nor inside a translate/blocktranslate tag."""
    found = []
    depth = {"blocktranslate": 0, "comment": 0}
    pending = ""  # text of a tag split across template tokens (attributes)
    for token in Lexer(path.read_text(encoding="utf-8")).tokenize():
        if token.token_type == TokenType.BLOCK:
            name = token.contents.split()[0]
            if token.contents == "block main_class":  # CSS class names, not text
                depth["comment"] += 1
            elif name == "endblock" and depth["comment"] and not depth["blocktranslate"]:
                depth["comment"] = max(0, depth["comment"] - 1)
            for block in depth:
                if name == block:
                    depth[block] += 1
                elif name == f"end{block}":
                    depth[block] -= 1
            pending += " __TAG__ "
            continue
        if token.token_type in (TokenType.VAR, TokenType.COMMENT):
            pending += " __VAR__ "
            continue
        if any(depth.values()):
            continue
        text = pending + token.contents
        pending = ""
        last_open = text.rfind("<")
        if last_open > text.rfind(">"):
            pending, text = text[last_open:], text[:last_open]
        # Attributes: only the user-visible ones matter (not hx-*, class, url…).
        for value in VISIBLE_ATTRS.findall(text):
            if WORD.search(value.replace("__VAR__", "").replace("__TAG__", "")):
                found.append(value)
        without_tags = TAG.sub(" ", text)
        without_tags = re.sub(r"<script.*?</script>", " ", without_tags, flags=re.S)
        for chunk in without_tags.split():
            if chunk in ("__VAR__", "__TAG__"):
                continue
            if WORD.search(chunk):
                found.append(chunk)
    return found


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_template_has_no_untranslated_visible_text(path):
    assert _untranslated_text(path) == []


def test_the_template_check_catches_plain_text_and_attributes(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text(
        '{% load i18n %}<p>{% translate "Fine" %}</p><p>Not fine</p>'
        '<a aria-label="Close it" title="{% translate "Fine" %}">x</a>'
    )
    assert _untranslated_text(bad) == ["Not", "fine", "Close it"]


def _all_forms():
    yield portal_forms.ProfileForm()
    yield portal_forms.ActionTypeForm()
    yield portal_forms.TimeTriggerForm()
    yield portal_forms.PromptForm({"forward", "dnd_message"}, {})
    for form_class in portal_forms.ACTION_FORMS.values():
        yield form_class()


def _form_texts(form: forms.Form):
    for name, field in form.fields.items():
        if isinstance(field.widget, forms.HiddenInput):
            continue
        yield name, field.label
        yield name, field.help_text
        for _value, label in getattr(field, "choices", ()):
            yield name, label
        for message in field.error_messages.values():
            yield name, message


def test_every_form_text_is_translated():
    ids = msgids()
    # Django's own texts (its default error messages) come with Django's catalogue.
    django_own = {
        str(m)
        for f in (forms.CharField(), forms.ChoiceField(), forms.IntegerField())
        for m in f.error_messages.values()
    }
    untranslated = []
    with translation.override("en"):
        for form in _all_forms():
            for name, text in _form_texts(form):
                text = str(text or "")
                if WORD.search(text) and text not in ids and text not in django_own and not _django_translates(text):
                    untranslated.append(f"{type(form).__name__}.{name}: {text}")
    assert untranslated == []


def _django_translates(text: str) -> bool:
    with translation.override("de"):
        return translation.gettext(text) != text


# --- language choice, dates, demo names ----------------------------------------------------

pytestmark_db = pytest.mark.django_db


@pytest.fixture
def alice(client):
    user = make_user("alice", "1000", teams=["Sales"])
    client.force_login(user)
    return user


@pytestmark_db
def test_browser_language_is_the_default(client, alice):
    german = client.get(reverse("profiles:presence"), HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5")
    html = german.content.decode()
    assert '<html lang="de" ' in html
    assert "Meine Präsenz" in html
    assert "Im Büro" in html  # the seeded profile name, in German for a German reader
    english = client.get(reverse("profiles:presence"), HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")
    assert "My presence" in english.content.decode()
    assert "In the office" in english.content.decode()


@pytestmark_db
def test_language_choice_is_remembered_over_the_browser_language(client, alice):
    response = client.post(reverse("set_language"), {"language": "de", "next": "/devices/"})
    assert response.status_code == 302
    assert response["Location"] == "/devices/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME]["max-age"] == settings.LANGUAGE_COOKIE_AGE
    page = client.get(reverse("profiles:presence"), HTTP_ACCEPT_LANGUAGE="en")
    assert "Meine Präsenz" in page.content.decode()


@pytestmark_db
def test_every_page_offers_the_language_choice(client, alice):
    for url in (reverse("login"), reverse("profiles:presence"), reverse("profiles:devices")):
        html = client.get(url).content.decode()
        assert f'action="{reverse("set_language")}"' in html
        assert 'value="de"' in html and 'value="en"' in html


@pytestmark_db
def test_dates_follow_the_language(client, alice):
    selection = Selection.objects.get(user=alice)
    Selection.objects.filter(pk=selection.pk).update(since="2026-11-30T09:05:00Z")
    german = client.get(reverse("profiles:presence"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    english = client.get(reverse("profiles:presence"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Mo., 30. Nov., 09:05" in german or "Mo., 30. Nov., 10:05" in german
    assert "Mon 30 Nov, 09:05" in english or "Mon 30 Nov, 10:05" in english


@pytestmark_db
def test_a_renamed_profile_shows_as_typed_in_german(client, alice):
    office = profile_named(alice, "In the office")
    office.name = "Büro Berlin"
    office.save(update_fields=["name"])
    html = client.get(reverse("profiles:profiles"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Büro Berlin" in html
    assert "Im Homeoffice" in html  # the untouched seeded one is translated


@pytestmark_db
def test_the_switch_message_names_the_profile_in_german(client, alice):
    meeting = profile_named(alice, "In a meeting")
    response = client.post(
        reverse("profiles:select", args=[meeting.pk]), HTTP_HX_REQUEST="true", HTTP_ACCEPT_LANGUAGE="de"
    )
    assert "Gewechselt zu In einer Besprechung." in response.content.decode()


def test_every_admin_label_of_our_models_is_translated():
    """Field and model names are the admin's column headers and labels."""
    from django.apps import apps

    ids = msgids()
    untranslated = []
    with translation.override("en"):
        for app in ("devices", "profiles"):
            for model in apps.get_app_config(app).get_models():
                opts = model._meta
                for text in (opts.verbose_name, opts.verbose_name_plural):
                    if str(text) not in ids:
                        untranslated.append(f"{opts.label}: {text}")
                for field in opts.get_fields(include_hidden=False):
                    if not hasattr(field, "verbose_name") or field.auto_created:
                        continue
                    for text in (field.verbose_name, getattr(field, "help_text", "")):
                        if text and str(text) not in ids:
                            untranslated.append(f"{opts.label}.{field.name}: {text}")
    assert untranslated == []


def test_admin_speaks_german_and_says_mismatches():
    from devices.models import Mismatch

    with translation.override("en"):
        assert str(Mismatch._meta.verbose_name_plural) == "mismatches"  # not "Mismatchs"
    with translation.override("de"):
        assert str(Mismatch._meta.verbose_name_plural) == "Abweichungen"
        assert str(Mismatch._meta.get_field("detected_at").verbose_name) == "erkannt am"


@pytestmark_db
def test_the_admins_home_is_start_and_the_house_icon_is_zuhause_in_german(admin_client):
    from profiles.icons import ICONS

    admin_client.cookies["django_language"] = "de"
    html = admin_client.get("/admin/profiles/").content.decode()
    assert '<a href="/admin/">Start</a>' in html and "Zuhause" not in html  # Django's own word
    with translation.override("de"):
        assert str(dict(ICONS)["house"]) == "Zuhause"


# --- texts stored in English (data) read in the reader's language ---------------------------


def test_stored_details_and_calendar_statuses_read_in_german():
    from profiles.stored_texts import calendar_status, source_detail

    with translation.override("de"):
        assert source_detail("time trigger at 08:30") == "Zeitauslöser um 08:30"
        assert source_detail("calendar event (Work) ended") == "Kalendertermin (Work) beendet"
        assert calendar_status("ok: 3 matching events in the next 48 hours") == (
            "OK: 3 passende Termine in den nächsten 48 Stunden"
        )
        assert calendar_status("error: The calendar server answered 500.") == (
            "Fehler: Der Kalenderserver antwortete mit 500."
        )
        # An unknown error keeps its text behind the translated prefix.
        assert calendar_status("error: something new") == "Fehler: something new"
        assert source_detail("typed by someone") == "typed by someone"
    assert calendar_status("ok: unchanged") == "ok: unchanged"


@pytestmark_db
def test_why_sentence_reads_in_german_with_the_stored_detail_translated(client, alice):
    Selection.objects.filter(user=alice).update(
        source=Selection.Source.TRIGGER, source_detail="time trigger at 08:30", until=None
    )
    html = client.get(reverse("profiles:presence"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Ihr Zeitauslöser um 08:30 hat Sie in dieses Profil gewechselt." in html
    assert "time trigger" not in html


@pytest.mark.parametrize(
    ("stored", "german"),
    [
        (
            "The CalDAV server refused the user name or password (401); enter them again.",
            "Der CalDAV-Server hat Benutzername oder Passwort abgelehnt (401); geben Sie beide erneut ein.",
        ),
        (
            "The CalDAV server answered 405, not a WebDAV answer; is this a CalDAV address?",
            "Der CalDAV-Server antwortete mit 405, nicht mit einer WebDAV-Antwort; ist das eine CalDAV-Adresse?",
        ),
        (
            "The CalDAV server's answer cannot be read (ParseError); is this a CalDAV address?",
            "Die Antwort des CalDAV-Servers ist nicht lesbar (ParseError); ist das eine CalDAV-Adresse?",
        ),
        (
            "The CalDAV server took longer than 20 s to send it.",
            "Der CalDAV-Server brauchte länger als 20 s, um ihn zu senden.",
        ),
        (
            "The CalDAV server cannot be reached (ConnectionError).",
            "Der CalDAV-Server ist nicht erreichbar (ConnectionError).",
        ),
        ("The CalDAV account has no calendar with events.", "Das CalDAV-Konto hat keinen Kalender mit Terminen."),
    ],
)
def test_caldav_statuses_read_in_german(stored, german):
    from profiles.stored_texts import calendar_status

    with translation.override("de"):
        assert calendar_status(f"error: {stored}") == f"Fehler: {german}"


def test_every_caldav_error_of_the_reader_has_a_german_reading():
    """Each CalendarError sentence written in fetch_caldav's part of the module
    matches a pattern of profiles.stored_texts (else a German reader sees English)."""
    import ast
    import inspect

    from profiles.automation.connectors import calendar
    from profiles.stored_texts import _CALENDAR_ERRORS

    source = inspect.getsource(calendar)
    caldav_part = source[source.index("# --- CalDAV") : source.index("# --- the secrets")]
    sentences = []
    for node in ast.walk(ast.parse(caldav_part)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "CalendarError" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.JoinedStr):  # an f-string: its values become a sample
                parts = [v.value if isinstance(v, ast.Constant) else "401" for v in arg.values]
                sentences.append("".join(parts))
            elif isinstance(arg, ast.Constant):
                sentences.append(arg.value)
    assert len(sentences) >= 10
    for sentence in sentences:
        assert any(pattern.match(sentence) for pattern, _ in _CALENDAR_ERRORS), sentence
