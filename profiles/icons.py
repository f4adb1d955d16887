"""The icons a profile can show: names from the vendored Lucide set (ISC
licence), whose SVGs live in static/icons/<name>.svg."""

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

ICONS = [
    ("circle-check", _("Available")),
    ("building-2", _("Office")),
    # With a context: the admin's breadcrumb "Home" is "Start" in German, not this.
    ("house", pgettext_lazy("icon", "Home")),
    ("circle-minus", _("Do not disturb")),
    ("users", _("Meeting")),
    ("calendar-clock", _("Appointment")),
    ("door-open", _("Out of the office")),
    ("palm-tree", _("Holiday")),
    ("plane", _("Travelling")),
    ("coffee", _("Break")),
    ("utensils", _("Lunch")),
    ("thermometer", _("Sick")),
    ("headset", _("On a call")),
    ("car", _("Driving")),
    ("graduation-cap", _("Training")),
    ("moon", _("Off duty")),
    ("circle-off", _("Unreachable")),
    ("circle", _("Plain")),
]
ICON_NAMES = {name for name, _label in ICONS}
