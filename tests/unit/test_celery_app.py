"""The Celery app (seckill_site/celery.py): its configuration read once into a dict, the broker channel that
reuses its client, database connections treated per task as Django treats them per request, a pool process
that exits waiting seconds, not half a minute, for the worker to read its results."""

import pytest
from django.conf import settings


def test_every_celery_setting_reaches_celery_unchanged_under_a_name_celery_knows():
    from celery.app.defaults import DEFAULTS

    from seckill_site.celery import app

    names = [name for name in dir(settings) if name.startswith("CELERY_") and name != "CELERY_DB_REUSE_MAX"]
    assert "CELERY_TASK_ACKS_LATE" in names and "CELERY_BROKER_TRANSPORT_OPTIONS" in names
    for name in names:
        key = name[len("CELERY_") :].lower()
        assert key in DEFAULTS, f"{name}: Celery has no setting {key!r}"
        assert app.conf[key] == getattr(settings, name), name
    assert app.conf.task_acks_late is True
    assert app.conf.get("CELERY_DB_REUSE_MAX") == settings.CELERY_DB_REUSE_MAX  # read by the Django fixup


@pytest.mark.parametrize("url, tls", [("redis://127.0.0.1:6379/0", False), ("rediss://127.0.0.1:6380/0", True)])
def test_redis_brokers_get_the_reusing_channel_and_keep_tls(url, tls):
    from seckill_site.celery import app
    from seckill_site.integrations.kombu_redis_client import RedisTransport

    connection = app.connection_for_write(url)  # lazy: nothing is dialled
    assert connection.get_transport_cls() is RedisTransport
    assert bool(connection.ssl) is tls


def test_the_connection_handler_runs_around_every_task():
    from celery import signals

    from seckill_site.celery import _database_connections_as_per_request as handler

    for signal in (signals.task_prerun, signals.task_postrun):
        assert any(receiver() is handler for _, receiver in signal.receivers), signal


def test_a_stopping_pool_process_waits_seconds_not_half_a_minute_for_its_results_to_be_read():
    import billiard.pool

    from seckill_site.celery import _bound_pool_process_exit_wait
    from seckill_site.integrations.billiard_exit_wait import POOL_PROCESS_EXIT_WAIT_S

    before = billiard.pool.GUARANTEE_MESSAGE_CONSUMPTION_RETRY_LIMIT  # (renamed, this fails: the bound is off)
    try:
        _bound_pool_process_exit_wait()
        limit = billiard.pool.GUARANTEE_MESSAGE_CONSUMPTION_RETRY_LIMIT
        assert limit * billiard.pool.GUARANTEE_MESSAGE_CONSUMPTION_RETRY_INTERVAL == pytest.approx(
            POOL_PROCESS_EXIT_WAIT_S
        )
        assert limit < before
    finally:
        billiard.pool.GUARANTEE_MESSAGE_CONSUMPTION_RETRY_LIMIT = before


def test_a_worker_started_without_a_queue_option_consumes_every_queue_a_task_is_routed_to():
    """`celery -A seckill_site worker` (no -Q) consumes the declared queues: a routed queue left undeclared would
    hold sweeps and expiry that no plain worker ever runs."""
    from seckill_site.celery import app

    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    routed |= {app.amqp.router.route({}, entry["task"])["queue"].name for entry in app.conf.beat_schedule.values()}
    assert "maintenance" in routed
    assert routed | {app.conf.task_default_queue} <= set(app.amqp.queues)


def test_beat_runs_the_scheduler_that_writes_its_heartbeat():
    from celery.beat import PersistentScheduler
    from kombu.utils.imports import symbol_by_name

    from seckill_site.celery import app

    scheduler = symbol_by_name(app.conf.beat_scheduler)
    assert issubclass(scheduler, PersistentScheduler) and scheduler.__name__ == "HeartbeatScheduler"


def test_a_dead_workers_unacknowledged_messages_are_looked_for_every_second():
    """kombu's Redis transport scans for them every interval × throttle seconds (10 × 10 by default), and a worker
    killed holding the scan's lock stopped every scan for its expiry (300 s by default)."""
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    assert options["unacked_restore_interval"] * options["unacked_restore_throttle"] <= 1
    assert options["unacked_mutex_expire"] <= 10


def test_each_queue_is_bound_by_its_own_name():
    """A queue declared without its routing key is bound by the default one ('celery'): a message sent to the
    'celery' exchange by that key would then land in every such queue, purchases in the maintenance queue too."""
    from seckill_site.celery import app

    for name, queue in app.amqp.queues.items():
        assert (queue.exchange.name, queue.routing_key) == (name, name)
