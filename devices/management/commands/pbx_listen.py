"""Run the PBX event listener (devices.listener) until stopped."""

import signal
import threading

from django.core.management.base import BaseCommand

from devices.listener import Listener


class Command(BaseCommand):
    help = "Listen to the phone system's events: instant mismatches, line states, recovery after outages."

    def handle(self, *args, **options):
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        Listener(stop=stop).run()
