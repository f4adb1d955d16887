"""Write the portal's Asterisk dialplan (devices.dialplan) to stdout or a file."""

from pathlib import Path

from django.core.management.base import BaseCommand

from devices.dialplan import render


class Command(BaseCommand):
    help = "Render extensions_portal.conf for Asterisk from the portal's extensions, destinations and locations."

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="file to write (default: standard output)")

    def handle(self, *args, output=None, **options):
        text = render()
        if output:
            Path(output).write_text(text)
        else:
            self.stdout.write(text, ending="")
