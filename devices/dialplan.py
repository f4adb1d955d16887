"""The portal's Asterisk dialplan (docs/asterisk/extensions_portal.conf),
rendered from the extensions, destinations and locations in the database
so that every PORTAL/<ext>/… key the Asterisk driver writes changes what a
call does. README "Dialplan" explains where to include it."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.template.loader import render_to_string

from devices.models import Destination, Extension, Location

# How each destination family is dialled ({number}: the destination's
# number, {ext}: the extension's). Mobile destinations ring the app unless
# GSM mode is on; then they ring the GSM number over the trunk.
DIAL = {
    Destination.Family.DESK: "PJSIP/{number}",
    Destination.Family.SOFTPHONE: "PJSIP/{number}",
    Destination.Family.DECT: "PJSIP/{number}",
    Destination.Family.MOBILE: "PJSIP/{ext}-app",
    Destination.Family.EXTERNAL: "Local/{number}@from-internal/n",
    Destination.Family.VOICEMAIL: "",
}
GSM = "Local/{number}@from-internal/n"
LOCATION_DEVICE = "PJSIP/location{location}"


@dataclass(frozen=True)
class DestinationLine:
    id: int
    family: str
    dial: str
    gsm: str
    delay: int
    timeout: int


def _fill(template: str, **values: str) -> str:
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


def render() -> str:
    """The dialplan for every extension with destinations (three queries)."""
    extensions = []
    for ext in Extension.objects.prefetch_related("destinations").order_by("number"):
        dests = list(ext.destinations.all())
        if not dests:
            continue
        lines = [
            DestinationLine(
                id=d.pk,
                family=d.family,
                dial=_fill(DIAL[d.family], number=d.number, ext=ext.number),
                gsm=_fill(GSM, number=d.number, ext=ext.number) if d.family == Destination.Family.MOBILE else "",
                delay=d.ring_delay,
                timeout=d.ring_timeout,
            )
            for d in dests
        ]
        voicemail = next((d.pk for d in dests if d.family == Destination.Family.VOICEMAIL), "")
        extensions.append(
            {
                "number": ext.number,
                "ids": " ".join(str(d.pk) for d in dests),
                "destinations": lines,
                "voicemail": voicemail,
            }
        )
    locations = [
        {"id": loc.pk, "dial": _fill(LOCATION_DEVICE, location=str(loc.pk))} for loc in Location.objects.order_by("pk")
    ]
    # A regular expression: the dots match themselves too.
    return render_to_string(
        "asterisk/extensions_portal.conf",
        {
            "family": settings.AMI_PORTAL_FAMILY,
            "dnd_family": settings.AMI_DND_FAMILY,
            "cf_family": settings.AMI_CF_FAMILY,
            "queue_interface_regex": settings.AMI_QUEUE_INTERFACE.replace("{ext}", "${ME}"),
            "extensions": extensions,
            "locations": locations,
        },
    )
