"""Template helpers for the user pages: inline SVG icons from the vendored
Lucide set, and small display filters."""

from __future__ import annotations

import re
import secrets
from functools import lru_cache
from types import SimpleNamespace

from django import template
from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import get_template
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.formats import date_format, get_format
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from profiles import stored_texts
from profiles.defaults import display_profile_name

register = template.Library()

_NAME = re.compile(r"^[a-z0-9-]+$")
_COMMENT = re.compile(r"<!--.*?-->\s*", re.S)
_BETWEEN_TAGS = re.compile(r">\s+<")
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=128)
def _svg(name: str) -> str:
    # Inline SVG (not <img>) so icons take the text colour (currentColor)
    # and the profile colour; read once per process.
    if not _NAME.match(name):
        return ""
    path = finders.find(f"icons/{name}.svg")
    if not path:
        return ""
    with open(path, encoding="utf-8") as fh:
        svg = _COMMENT.sub("", fh.read()).strip()
    # One line: the vendored files put each attribute and element on a line
    # of its own (about 300 bytes of a switch's 6.2 KB answer).
    svg = _SPACES.sub(" ", _BETWEEN_TAGS.sub("><", svg)).replace(" />", "/>").replace(" >", ">")
    return svg.replace("<svg", '<svg aria-hidden="true" focusable="false"', 1)


@register.simple_tag
def icon(name: str, css_class: str = "icon") -> SafeString:
    """``{% icon "house" %}``: the named icon, decorative (aria-hidden);
    the caller supplies visible or screen-reader text."""
    svg = _svg(str(name)) or _svg("circle")
    # Only our own vendored files reach mark_safe; the class is escaped.
    return format_html('<span class="{}">{}</span>', css_class, mark_safe(svg))


@register.simple_tag(takes_context=True)
def message_list(context) -> SafeString:
    """``{% message_list %}``: the queued messages, and a view's refusal, as
    the #messages region shows them (base.html and ``{% oob_messages %}``).
    A Python loop: the two includes it replaces cost a switch about 0.07 ms."""
    items = [
        format_html('<p class="message message-{}">{}</p>', message.tags or "info", message)
        for message in context.get("messages", ())
    ]
    if refusal := context.get("refusal"):
        items.append(format_html('<p class="message message-error">{} {}</p>', icon("triangle-alert"), refusal))
    return mark_safe("".join(items))


@register.simple_tag(takes_context=True)
def oob_messages(context) -> SafeString:
    """``{% oob_messages %}``: for htmx, #messages replaced out of band with
    the queued messages (a partial answer's "Saved." or "Switched to …")."""
    if not getattr(context.get("request"), "htmx", False):
        return ""
    return format_html(
        '<div id="messages" class="messages" role="status" aria-live="polite" hx-swap-oob="innerHTML">{}</div>',
        message_list(context),
    )


@register.simple_tag
def profile_tile(profile, selection, oob: bool = False) -> SafeString:
    """``{% profile_tile p selection %}``: the profile's tile in the switch
    grid (templates/profiles/_tile.html); ``oob``: as an htmx out-of-band
    swap (after a switch). A tile is the same for everyone who sees that
    profile, so each rendering is kept by what it reads: a switch answers
    with two tiles and the presence page shows them all, for a dictionary
    lookup each instead of about 0.4 ms of template (bench/switch_http.py).
    With DEBUG on (development) every tile is rendered, so an edited
    template shows at once."""
    current = selection is not None and selection.profile_id == profile.pk
    key = (profile.pk, profile.name, profile.colour, profile.icon, profile.is_system, current, bool(oob))
    if settings.DEBUG:
        return _render_tile(*key, get_language(), get_script_prefix())
    return _kept_tile(*key, get_language(), get_script_prefix())


def _render_tile(pk, name, colour, icon_name, is_system, current, oob, language, prefix) -> SafeString:
    # language and prefix: the active ones, which translation and {% url %} read.
    p = SimpleNamespace(pk=pk, name=name, colour=colour, icon=icon_name, is_system=is_system)
    return mark_safe(get_template("profiles/_tile.html").render({"p": p, "current": current, "oob": oob}))


_kept_tile = lru_cache(maxsize=4096)(_render_tile)


@register.simple_tag
def fixed_url(name: str) -> str:
    """``{% fixed_url "profiles:status" %}``: ``{% url %}`` for a URL without
    arguments, reversed once per URL configuration and prefix (reverse()
    costs about 23 µs; the apply status is rendered on every poll and switch)."""
    return _fixed_url(name, get_urlconf(), get_script_prefix())


@lru_cache(maxsize=256)
def _fixed_url(name: str, urlconf, prefix: str) -> str:
    return reverse(name, urlconf=urlconf)


@register.filter(expects_localtime=True)
def short_datetime(value) -> str:
    """``{{ when|short_datetime }}``: ``date:"SHORT_DATETIME_FORMAT"``, kept
    by wall-clock minute and language when the language's format shows
    nothing finer or zone-dependent (portal/formats: day and minute);
    formatting costs about 45 µs and lists show many times of one minute."""
    if not value:
        return ""
    language = get_language()
    if not _minute_format(language):
        return date_format(value, "SHORT_DATETIME_FORMAT")
    return _short_datetime(value.replace(second=0, microsecond=0, tzinfo=None), language)


@lru_cache(maxsize=64)
def _minute_format(language: str) -> bool:
    fmt = get_format("SHORT_DATETIME_FORMAT", language)
    return not any(char in fmt for char in "suUcreOTZI\\")


@lru_cache(maxsize=4096)
def _short_datetime(wall_minute, language: str) -> str:
    # The language is active (it is the key's): date_format reads it.
    return date_format(wall_minute, "SHORT_DATETIME_FORMAT")


@register.filter(expects_localtime=True)
def iso(value) -> str:
    """``{{ when|iso }}``: a ``<time>`` element's machine-readable value, as
    ``date:'c'`` writes it (ISO 8601 in the current time zone), without the
    format parser (15 µs a time)."""
    return value.isoformat() if value else ""


@register.filter
def get_item(mapping, key):
    """``{{ mapping|get_item:key }}`` for dicts keyed by runtime values."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def one_of(value, words: str) -> bool:
    """``{% if here|one_of:"devices session_trigger" %}``: ``value`` is one of
    the space-separated words (``in`` on the string would also take a part
    of a word, and the empty name of a page that matched no URL)."""
    return bool(value) and str(value) in words.split()


@register.filter
def yesno_dash(value) -> str:
    """None (the profile does not care) as a dash; booleans as on/off."""
    if value is None:
        return "—"
    if value is True:
        return _("on")
    if value is False:
        return _("off")
    return value


@register.filter
def profile_name(name: str) -> str:
    """``{{ profile.name|profile_name }}``: a seeded default name ("In the
    office") in the reader's language; any other name as stored."""
    return display_profile_name(name)


# What caused a switch or an apply run, for people (the stored codes are
# internal: "hot_desk_login", "service_start", …).
EVENT_LABELS = {
    "select": gettext_lazy("Profile switched"),
    "reapply": gettext_lazy("Profile applied again"),
    "edit": gettext_lazy("Profile changed"),
    "hot_desk_login": gettext_lazy("Logged in at a hot desk"),
    "hot_desk_logout": gettext_lazy("Logged out of a hot desk"),
    "session_connect": gettext_lazy("Softphone client connected"),
    "session_disconnect": gettext_lazy("Softphone client disconnected"),
    "service_start": gettext_lazy("Portal started"),
    "switch": gettext_lazy("Profile switched"),
    "trigger": gettext_lazy("Time trigger"),
    "clear_after": gettext_lazy("Timer ended"),
    "sweep": gettext_lazy("Delayed change sent"),
    "superseded": gettext_lazy("Newer change sent"),
}


@register.filter
def event_label(code: str) -> str:
    """``{{ run.reason|event_label }}``: the cause of a switch or run in words."""
    return str(EVENT_LABELS.get(code, gettext_lazy("Phones updated")))


@register.filter
def source_detail(text: str) -> str:
    """``{{ selection.source_detail|source_detail }}`` in the reader's language."""
    return stored_texts.source_detail(text)


@register.filter
def calendar_status(text: str) -> str:
    """``{{ calendar.status|calendar_status }}`` in the reader's language."""
    return stored_texts.calendar_status(text)


# --- kept fragments ------------------------------------------------------------------

# Marks where a fresh part goes while a kept fragment is first rendered; a
# text that held it anyway (NUL is refused in all input) is not kept.
_FRESH = f"\x00fresh-{secrets.token_hex(8)}\x00"
_RECORDING = "portal.keep.recording"
# The values a kept fragment may be keyed by: what compares by value.
_KEY_TYPES = (str, int, float, bool, type(None), tuple)


class KeepNode(template.Node):
    """``{% keep a b … %}…{% endkeep %}``: the block rendered once per
    combination of the values named (and the active language, URL
    configuration and script prefix), then served from memory, with its
    ``{% fresh %}`` parts rendered on every use. What the block shows must
    follow from the values named; a value that is not a str, number, bool,
    None or tuple renders the block every time (a model instance compares
    by its primary key only). Each tag keeps at most MAX fragments per
    process. With DEBUG on (development) the block is always rendered, so an
    edited template shows at once; tests/test_keep.py checks each kept block
    against its full rendering in many states."""

    MAX = 2048

    def __init__(self, values, nodelist):
        self.values = values
        self.nodelist = nodelist
        self.kept: dict = {}

    def render(self, context):
        if settings.DEBUG or _RECORDING in context.render_context:
            return self.nodelist.render(context)
        key = tuple(value.resolve(context) for value in self.values)
        if not all(isinstance(v, _KEY_TYPES) for v in key):
            return self.nodelist.render(context)
        key += (get_language(), get_urlconf(), get_script_prefix())
        kept = self.kept.get(key)
        if kept is None:
            kept = self._record(context)
            if kept is None:
                return self.nodelist.render(context)
            self.kept[key] = kept
            if len(self.kept) > self.MAX:
                try:
                    del self.kept[next(iter(self.kept))]  # the oldest
                except (KeyError, RuntimeError, StopIteration):
                    pass  # another thread trimmed it
        parts, fresh = kept
        out = [parts[0]]
        for node, part in zip(fresh, parts[1:], strict=True):
            out += (node.nodelist.render(context), part)
        return mark_safe("".join(out))

    def _record(self, context) -> tuple[list[str], list] | None:
        fresh: list = []
        context.render_context[_RECORDING] = fresh
        try:
            text = self.nodelist.render(context)
        finally:
            del context.render_context[_RECORDING]
        parts = text.split(_FRESH)
        return (parts, fresh) if len(parts) == len(fresh) + 1 else None


class FreshNode(template.Node):
    """``{% fresh %}…{% endfresh %}`` inside ``{% keep %}``: rendered on every
    use of the kept block. It may read only names set where the keep tag
    stands (not a loop's or a ``with``'s inside the block), and stands in the
    keep tag's own template (not in an included one)."""

    def __init__(self, nodelist):
        self.nodelist = nodelist

    def render(self, context):
        recording = context.render_context.get(_RECORDING)
        if recording is None:
            return self.nodelist.render(context)
        recording.append(self)
        return _FRESH


@register.tag
def keep(parser, token):
    values = [parser.compile_filter(bit) for bit in token.split_contents()[1:]]
    nodelist = parser.parse(("endkeep",))
    parser.delete_first_token()
    return KeepNode(values, nodelist)


@register.tag
def fresh(parser, token):
    if len(token.split_contents()) != 1:
        raise template.TemplateSyntaxError("{% fresh %} takes no arguments")
    nodelist = parser.parse(("endfresh",))
    parser.delete_first_token()
    return FreshNode(nodelist)


@register.filter
def card_key(selection) -> tuple:
    """``{% keep selection|card_key … %}``: what the current card
    (templates/profiles/presence.html) shows of a selection, but its since
    time (a fresh part)."""
    if selection is None or selection == "":
        return ()
    profile, values = selection.profile, selection.prompt_values or {}
    return (
        profile.pk,
        profile.name,
        profile.icon,
        profile.colour,
        selection.source,
        selection.source_detail,
        str(values.get("forward") or ""),
        str(values.get("dnd_message") or ""),
    )


@register.filter
def status_key(status) -> tuple:
    """``{% keep status|status_key … %}``: what the apply status shows of a
    target, but its tag and the mismatches (fresh parts)."""
    target = getattr(status, "target", None)
    if target is None:
        return ()
    return (target.status, target.error, target.error_permanent)
