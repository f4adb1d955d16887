"""portal.broker.send: the message Celery would write, for a tenth of the
CPU; a real worker runs it; a broker that is down loses no switch."""

import json
import os

import pytest
import redis
from django.db import transaction

from devices import services as device_services
from devices.models import TargetState
from devices.state import UserState
from devices.tasks import converge_user, converge_users
from portal import broker
from portal.celery import app
from profiles.services import preview_switch, select_profile
from tests.factories import make_user, profile_named
from tests.integration.conftest import _reset_connections
from tests.integration.test_worker import wait_until_applied

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("broker")]

URL = os.environ.get("TEST_BROKER_URL", "") or "redis://127.0.0.1:6379/15"


@pytest.fixture
def redis_broker():
    """The broker is TEST_BROKER_URL's Redis (the one queue the worker tests share)."""
    saved = {key: app.conf.get(key) for key in ("broker_url", "broker_transport_options")}
    app.conf.broker_url = URL
    app.conf.broker_transport_options = {}
    _reset_connections()
    client = redis.Redis.from_url(URL)
    client.delete(app.conf.task_default_queue)
    yield client
    client.delete(app.conf.task_default_queue)
    app.conf.update(saved)
    _reset_connections()


def unexpected(exc: Exception) -> None:
    raise AssertionError(f"the broker could not be reached: {exc}")


def masked(raw: bytes) -> dict:
    """A stored message without what differs on every send."""
    message = json.loads(raw)
    for key in ("id", "root_id", "origin"):
        message["headers"][key] = "*"
    for key in ("correlation_id", "delivery_tag"):
        message["properties"][key] = "*"
    return message


@pytest.mark.parametrize(
    ("task", "args"),
    [
        (converge_user, (7, "switch")),
        (converge_user, (7,)),
        (converge_users, ([1, 2, 3], "trigger")),
        (converge_users, (list(range(100_000, 100_400)), "a batch whose arguments Celery shortens in the log")),
    ],
)
def test_send_stores_the_message_celery_stores(redis_broker, task, args):
    queue = app.conf.task_default_queue
    task.delay(*args)
    broker.send(task, *args, on_error=unexpected)
    broker.send(task, *args, on_error=unexpected)
    celery_message, ours, again = (redis_broker.lindex(queue, i) for i in (-1, -2, -3))
    assert masked(ours) == masked(celery_message)
    # Fresh ids, one origin per process, like Celery's.
    first, second = json.loads(ours), json.loads(again)
    assert first["headers"]["id"] != second["headers"]["id"]
    assert first["properties"]["delivery_tag"] != second["properties"]["delivery_tag"]
    assert first["headers"]["root_id"] == first["properties"]["correlation_id"] == first["headers"]["id"]
    assert first["headers"]["origin"] == json.loads(celery_message)["headers"]["origin"]


def pending_meeting(alice) -> int:
    """Alice's target "In a meeting" stored, nothing enqueued; its version."""
    desired = preview_switch(user=alice, profile=profile_named(alice, "In a meeting"))
    with transaction.atomic():
        version = device_services.store_target(user_id=alice.pk, desired=desired)
    assert TargetState.objects.get(user=alice).status == TargetState.Status.PENDING
    return version


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_what_send_stored(celery_worker):
    alice = make_user("alice", "1000")
    version = pending_meeting(alice)

    broker.send(converge_user, alice.pk, "sent by portal.broker", on_error=unexpected)

    target = wait_until_applied(alice, version)
    assert target.status == TargetState.Status.APPLIED
    assert UserState.from_json(target.state).extensions["1000"].dnd is True


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_is_down_loses_no_switch(caplog):
    saved = {key: app.conf.get(key) for key in ("broker_url", "broker_transport_options")}
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    app.conf.broker_transport_options = {}
    try:
        alice = make_user("alice", "1000")
        errors = []
        broker.send(converge_user, alice.pk, "", on_error=errors.append)
        assert len(errors) == 1 and isinstance(errors[0], broker.ERRORS)
        result = select_profile(user=alice, profile=profile_named(alice, "In a meeting"))  # no error for the user
    finally:
        app.conf.update(saved)
    assert f"could not enqueue converge of {alice.pk}" in caplog.text
    target = TargetState.objects.get(user=alice)
    assert (target.version, target.status) == (result.target_version, TargetState.Status.PENDING)
    assert device_services.sweep_pending() == []  # the sweep's turn comes later (tests/test_converge.py)


@pytest.mark.django_db(transaction=True)
def test_eager_mode_runs_the_task_in_place():
    alice = make_user("alice", "1000")
    version = pending_meeting(alice)
    app.conf.task_always_eager = True  # as the unit tests and CELERY_TASK_ALWAYS_EAGER run
    try:
        broker.send(converge_user, alice.pk, "eager", on_error=unexpected)
    finally:
        app.conf.task_always_eager = False
    target = TargetState.objects.get(user=alice)
    assert (target.applied_version, target.status) == (version, TargetState.Status.APPLIED)


def reroute():
    """Celery keeps the router it made first (with the routes of then)."""
    app.amqp.flush_routes()
    app.amqp.__dict__.pop("router", None)


def test_a_routed_task_is_sent_by_celery_itself(redis_broker):
    saved = app.conf.task_routes
    app.conf.task_routes = {"devices.tasks.converge_user": {"queue": "portal-test-elsewhere"}}
    reroute()
    broker._queue.cache_clear()
    try:
        broker.send(converge_user, 7, "routed", on_error=unexpected)
    finally:
        app.conf.task_routes = saved
        reroute()
        broker._queue.cache_clear()
    assert redis_broker.llen("portal-test-elsewhere") == 1  # Celery applied the route
    assert redis_broker.llen(app.conf.task_default_queue) == 0
    redis_broker.delete("portal-test-elsewhere")


def test_one_round_trip_holds_the_commands_until_its_end(redis_broker):
    from portal import redis_batch

    queue = app.conf.task_default_queue
    channel = "portal-test-channel"
    listener = redis_broker.pubsub()
    listener.subscribe(channel)
    assert listener.get_message(timeout=2)["type"] == "subscribe"
    with redis_batch.one_round_trip():
        broker.send(converge_user, 7, "held", on_error=unexpected)
        redis_batch.command(URL, lambda client: client.publish(channel, b"wake"), unexpected)
        with redis_batch.one_round_trip():  # a nested block joins the outer one
            broker.send(converge_user, 8, "held too", on_error=unexpected)
        assert redis_broker.llen(queue) == 0  # nothing sent yet
        assert listener.get_message(timeout=0.2) is None
    assert redis_broker.llen(queue) == 2
    assert listener.get_message(timeout=2)["data"] == b"wake"
    listener.close()


def test_one_round_trip_to_a_server_that_is_down_reports_each_command():
    from portal import redis_batch

    errors = []
    with redis_batch.one_round_trip():
        for n in range(3):
            redis_batch.command("redis://127.0.0.1:1/0", lambda client, n=n: client.lpush("q", n), errors.append)
    assert len(errors) == 3 and all(isinstance(e, redis_batch.ERRORS) for e in errors)
