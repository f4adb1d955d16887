"""A real Celery worker for the integration tests.

The broker is TEST_BROKER_URL (CI: redis://127.0.0.1:6379/15); without it,
kombu's filesystem broker in a temporary folder, so the tests run on a
machine with no Redis too (never skipped). The worker runs in a thread of
the test process, against the transactional test database.
"""

import os
from contextlib import contextmanager

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connection
from kombu import pools

from portal.celery import app


@pytest.fixture(autouse=True)
def _eager_celery(settings):
    """Overrides the suite's eager Celery: tasks go through the broker."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    yield


def _close_worker_connection(**kwargs):
    # The worker thread's database connection would outlive the test and
    # keep the test database from being dropped.
    connection.close()


@pytest.fixture
def celery_worker(tmp_path):
    """One worker with one task at a time (the solo pool)."""
    with _worker(tmp_path, pool="solo", concurrency=1) as worker:
        yield worker


@pytest.fixture
def celery_worker_two_threads(tmp_path):
    """A worker running two tasks at once (the threads pool): two converges
    of one user overlap, as on two worker machines."""
    with _worker(tmp_path, pool="threads", concurrency=2) as worker:
        yield worker


@contextmanager
def _worker(tmp_path, *, pool: str, concurrency: int):
    url = os.environ.get("TEST_BROKER_URL", "")
    saved = {key: app.conf.get(key) for key in ("broker_url", "broker_transport_options")}
    if url:
        app.conf.broker_url = url
        app.conf.broker_transport_options = {}
    else:
        folders = {name: tmp_path / name for name in ("queue", "control", "processed")}
        for folder in folders.values():
            folder.mkdir()
        app.conf.broker_url = "filesystem://"
        app.conf.broker_transport_options = {
            "data_folder_in": str(folders["queue"]),
            "data_folder_out": str(folders["queue"]),
            "control_folder": str(folders["control"]),
            "processed_folder": str(folders["processed"]),
            "store_processed": False,
        }
    _reset_connections()
    if url:
        app.control.purge()  # messages left by an earlier, interrupted run
    task_postrun.connect(_close_worker_connection, weak=False)
    try:
        with start_worker(
            app,
            pool=pool,
            concurrency=concurrency,
            perform_ping_check=False,
            shutdown_timeout=20,
            loglevel="WARNING",
        ) as worker:
            yield worker
    finally:
        task_postrun.disconnect(_close_worker_connection)
        app.conf.update(saved)
        _reset_connections()


def _reset_connections():
    """Forget pooled broker connections made with the previous settings."""
    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None
    pools.reset()  # kombu's registry would hand the closed pools out again
