from django.conf import settings


def live(request) -> dict:
    """Where the pages find the event stream (LIVE_STREAM_URL)."""
    return {"live_stream_url": settings.LIVE_STREAM_URL}
