"""The ASGI entry point (uvicorn portal.asgi:application): the event stream
(live/asgi.py) on its path, everything else through Django."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django_application = get_asgi_application()

# After Django is set up:
from live.asgi import PATH, app as stream_application  # noqa: E402, I001


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == PATH:
        return await stream_application(scope, receive, send)
    return await django_application(scope, receive, send)
