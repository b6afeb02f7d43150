"""The Celery app against the real servers: the broker channel reusing its client on the test Redis, database
connections kept or dropped around a task as Django does around a request (tests/unit/test_celery_app.py has
the rest, without any server)."""

import pytest


def test_the_broker_channel_reuses_one_client_for_publishing():
    from seckill_site.celery import app
    from seckill_site.integrations.kombu_redis_client import RedisChannel

    with app.connection_for_write() as connection:
        channel = connection.default_channel
        assert isinstance(channel, RedisChannel)
        assert channel._create_client() is channel._create_client()
        assert channel._create_client(asynchronous=True) is not channel._create_client()
        channel._pool = None  # what a reconnect does: the next client uses the new pool
        assert channel._create_client().connection_pool is channel.pool


@pytest.mark.django_db(transaction=True)
def test_an_eager_task_inside_a_transaction_keeps_its_connection():
    from django.db import transaction

    from bench.tasks import noop_task
    from seckill.models import Order

    with transaction.atomic():
        noop_task.apply()  # runs the task_prerun/postrun handlers here, eagerly
        assert Order.objects.count() == 0  # the transaction's connection still works


@pytest.mark.django_db(transaction=True)
def test_a_task_drops_a_broken_database_connection_and_keeps_a_good_one():
    from django.db import connection

    from seckill_site.celery import _database_connections_as_per_request

    connection.ensure_connection()
    first = connection.connection
    _database_connections_as_per_request()
    assert connection.connection is first  # reused across tasks (CONN_MAX_AGE)
    connection.errors_occurred = True
    connection.is_usable = lambda: False  # what a database restart leaves behind
    try:
        _database_connections_as_per_request()
        assert connection.connection is None  # closed: the next query reconnects
    finally:
        del connection.is_usable
