import gc
import os

from celery import Celery
from celery.signals import worker_process_init
from kombu.transport import TRANSPORT_ALIASES

# A filesystem:// broker (the embedded default, the tests without Redis) is
# kombu's filesystem transport with each message written whole before it
# appears (portal/filebroker.py: kombu's own lets a worker read one empty).
# Set before any connection: kombu keeps the class it resolves per name.
TRANSPORT_ALIASES["filesystem"] = "portal.filebroker:Transport"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The automation's tasks live in a package of the profiles app.
app.autodiscover_tasks(["profiles.automation"])

# Allocations between two collections of the youngest generation (Python's
# default: 700).
GC_GEN0_THRESHOLD = 20_000


@worker_process_init.connect
def collect_less(**kwargs) -> None:
    """A worker process starts with Django, Celery and the app loaded, a few
    hundred thousand objects that live as long as it does: frozen, the
    cyclic garbage collector no longer walks them on every full collection.
    The batch tasks (500 users each) allocate hundreds of thousands of small
    objects: with the default thresholds the collector ran hundreds of times
    per batch and took a quarter of its CPU (bench/profile_burst.py, 6
    batches: 0.67 s of collections, 0.17 s with both)."""
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])
