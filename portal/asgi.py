"""The ASGI entry point (uvicorn portal.asgi:application): the event stream
(live/asgi.py) on its path, everything else through Django."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django_application = get_asgi_application()

# After Django is set up:
from live.asgi import PATH, app as stream_application  # noqa: E402, I001

# What is loaded by now (Django, the apps, settings) lives as long as the
# process: out of the garbage collector's way, so a full collection walks
# only the objects of the open streams (found with bench/live_probe.py).
gc.freeze()


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == PATH:
        return await stream_application(scope, receive, send)
    return await django_application(scope, receive, send)
