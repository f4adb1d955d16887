""" "Why am I in this profile": one sentence for My presence, from the
selection's source, detail, timer and the profile it returns to."""

from __future__ import annotations

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from profiles.defaults import display_profile_name
from profiles.models import PresenceProfile, Selection
from profiles.stored_texts import source_detail

Source = Selection.Source


def _when(instant) -> str:
    # The language's own short format ("Mon 30 Nov, 14:05", "Mo., 30. Nov., 14:05").
    return formats.date_format(timezone.localtime(instant), "SHORT_DATETIME_FORMAT")


def why_selected(selection: Selection | None, *, previous: PresenceProfile | None = None) -> str:
    """The reason the user is in their current profile, and what ends it.
    ``selection`` with profile, previous_profile and until_profile loaded,
    or ``previous`` given (the profile a switch just left: no query)."""
    if selection is None:
        return ""
    # Stored in English (data); shown in the reader's language.
    detail = source_detail(selection.source_detail)
    if previous is None and selection.previous_profile_id:
        previous = selection.previous_profile
    previous = display_profile_name(previous.name) if previous is not None else ""
    source = selection.source
    if source == Source.USER:
        why = _("You chose it.")
    elif source == Source.ADMIN:
        why = _("Your administrator chose it.")
    elif source == Source.API:
        why = _("It was chosen through the API (%(detail)s).") % {"detail": detail or _("no detail")}
    elif source == Source.TRIGGER:
        why = _("Your %(trigger)s switched you to it.") % {"trigger": detail or _("time trigger")}
    elif source == Source.MEETING:
        why = _("You are in a %(meeting)s.") % {"meeting": detail or _("meeting")}
        if previous and selection.until is None:
            why += " " + _("When it ends you go back to %(profile)s.") % {"profile": previous}
    elif source == Source.MEETING_END:
        why = _("Your %(meeting)s; you are back in the profile from before it.") % {
            "meeting": detail or _("meeting ended")
        }
    elif source == Source.CLEAR_AFTER:
        why = _("Your timer ended (%(detail)s); you are back in the profile from before it.") % {
            "detail": detail or _("timer ended")
        }
    elif source == Source.SESSION_END:
        why = _("Your last client disconnected; your session trigger switched you to it.")
    elif source == Source.SESSION_BACK:
        why = _("A client connected again; you are back in the profile from before.")
    elif source == Source.SYSTEM:
        why = _("The portal applied it (%(detail)s).") % {"detail": detail or _("system")}
    else:
        why = f"{selection.source_label}{f' ({detail})' if detail else ''}."
    if selection.until is not None:
        when = _when(selection.until)
        if source == Source.MEETING:
            # A timer the meeting suspended: it resumes after the meeting.
            why += " " + _("After it, %(profile)s until %(time)s") % {"profile": previous or "?", "time": when}
            back = display_profile_name(selection.until_profile.name) if selection.until_profile_id else ""
        else:
            why += " " + _("Until %(time)s") % {"time": when}
            back = previous
        why += (", " + _("then back to %(profile)s.") % {"profile": back}) if back else "."
    if selection.profile.sticky and source != Source.MEETING:
        why += " " + _("It is sticky: only you switch away from it.")
    return why
