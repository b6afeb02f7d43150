"""The library patches (seckill_site/integrations/): each applies on the versions it was tested with, turns itself
off with one warning on any other, and all of them off, the system still sells exactly its stock."""

import os
import threading
import time
import uuid
from collections import Counter

import pytest
from django.db import connections

from seckill.models import Order
from seckill_site import integrations
from seckill_site.celery import app as celery_app
from seckill_site.integrations import (
    billiard_exit_wait,
    celery_batches,
    celery_result_store,
    celery_result_wait,
    drf_early_answer,
    kombu_redis_client,
    kombu_sentinel_close,
    simplejwt_token,
)
from tests.support.http import http, token_for
from tests.support.invariants import assert_gate_and_ledger_agree
from tests.support.polling import wait_for
from tests.support.processes import WorkerProcess

PATCHES = [
    celery_result_wait,
    kombu_redis_client,
    kombu_sentinel_close,
    billiard_exit_wait,
    celery_result_store,
    celery_batches,
    simplejwt_token,
    drf_early_answer,
]


@pytest.fixture
def versions(monkeypatch):
    """Make the installed versions look like others: versions({"celery": "9.9.9"})."""
    monkeypatch.setattr(integrations, "_warned", set())

    def look_like(found: dict):
        installed = integrations._version
        monkeypatch.setattr(integrations, "_version", lambda name: found.get(name) or installed(name))

    return look_like


@pytest.mark.parametrize("patch", PATCHES, ids=lambda module: module.__name__.rsplit(".", 1)[1])
def test_each_patch_is_on_with_the_tested_versions_and_off_with_one_warning_on_others(patch, versions, caplog):
    assert integrations.allowed(patch.__name__, patch.TESTED)  # the pinned versions (requirements.txt)
    distribution = next(iter(patch.TESTED))
    versions({distribution: "999.0.0"})
    assert not integrations.allowed(patch.__name__, patch.TESTED)
    assert not integrations.allowed(patch.__name__, patch.TESTED)  # asked again: no second warning
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and patch.__name__ in r.getMessage()]
    assert len(warnings) == 1 and f"{distribution} 999.0.0" in warnings[0].getMessage()


def test_the_switch_turns_every_patch_off(settings, caplog):
    settings.SECKILL_LIBRARY_PATCHES = False
    assert not any(integrations.allowed(patch.__name__, patch.TESTED) for patch in PATCHES)
    assert celery_result_store.backends() == {}
    assert simplejwt_token.token_from_payload(object, b"raw", {"user_id": "1"}) is None


@pytest.mark.slow
@pytest.mark.worker
def test_with_every_patch_off_the_system_sells_exactly_its_stock(web, worker, make_buyers, make_product, tmp_path):
    """A web process and a worker with SECKILL_LIBRARY_PATCHES=0: Celery's own result wait, client, backend and
    strategy, simplejwt's decode, DRF for every request. Twelve buyers for five units, all at once."""
    celery_app.control.cancel_consumer("celery", destination=[worker.name], reply=True, timeout=5)
    plain = WorkerProcess(f"unpatched-{os.getpid()}@localhost", tmp_path / "unpatched.log")
    try:
        plain.start(extra_env={"SECKILL_LIBRARY_PATCHES": "0"})
        base = web(SECKILL_LIBRARY_PATCHES="0")
        buyers = make_buyers(12)
        product = make_product(stock_total=5)
        tokens = [token_for(buyer) for buyer in buyers]
        answers, barrier = [], threading.Barrier(len(tokens))

        def buy(token):
            try:
                barrier.wait(10)
                status, body = http("POST", f"{base}/api/seckill/", {"product_id": product.pk}, token)
                if status == 202:  # decided later: its result
                    assert wait_for(lambda: http("GET", base + body["result_url"], token=token)[0] != 202, 30)
                    status, body = http("GET", base + body["result_url"], token=token)
                answers.append(body["code"])
            finally:
                connections.close_all()

        threads = [threading.Thread(target=buy, args=(token,)) for token in tokens]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert "Library patch" not in plain.log_tail(200)  # switched off, not found wanting
    finally:
        plain.stop()
        celery_app.control.add_consumer("celery", destination=[worker.name], reply=True, timeout=5)
    codes = Counter(answers)
    assert codes["success"] == 5 and codes["sold_out"] + codes["busy"] == 7, codes  # (busy: the admission gate)
    assert Order.objects.filter(product=product).count() == 5
    assert_gate_and_ledger_agree(product.pk)


def test_the_patches_of_the_celery_client_are_applied_once_its_configuration_is_read():
    from celery.backends import asynchronous

    assert celery_app.conf.broker_url  # (reading the configuration applies them)
    assert asynchronous.drainers["default"] is celery_result_wait.BoundedDrainer
    assert celery_app.loader.override_backends == celery_result_store.backends()


def test_a_sentinel_channel_closed_after_its_transport_raises_a_connection_error(tmp_path):
    """What stopped a worker on a broker failover: the channel's close asks for a pool after the transport's client
    was dropped. kombu's own channel raises AttributeError (not a connection error: the worker exits); ours a
    connection error, which the close ignores."""
    import kombu
    import redis
    from kombu.transport import redis as kombu_redis

    from tests.support.redis_cluster import MASTER_NAME, RedisSentinelSet

    sentinels = RedisSentinelSet(tmp_path / "sentinel")
    sentinels.start()
    try:
        for transport, error in (
            (kombu_sentinel_close.SentinelTransport, redis.exceptions.ConnectionError),
            (kombu_redis.SentinelTransport, AttributeError),
        ):
            connection = kombu.Connection(
                sentinels.url, transport=transport, transport_options={"master_name": MASTER_NAME}
            )
            channel = connection.default_channel
            channel._pool = None  # a reconnect dropped it
            connection.transport.client = None  # and a close dropped the transport's client
            with pytest.raises(error):
                channel._connparams()
            if error is redis.exceptions.ConnectionError:
                assert error in connection.connection_errors  # so a close goes on past it
    finally:
        sentinels.stop()


def test_the_sentinel_transport_is_ours_once_the_configuration_is_read():
    import kombu.transport

    assert celery_app.conf.broker_url
    assert kombu.transport.resolve_transport("sentinel") is kombu_sentinel_close.SentinelTransport


def test_a_result_wait_ends_near_its_timeout_where_celerys_own_drainer_waits_a_second(clean_redis):
    # The same wait for a result that never comes (no task has the id), with each drainer, side by side.
    from celery.backends import asynchronous
    from celery.exceptions import TimeoutError as ResultTimeout

    consumer = celery_app.backend.result_consumer
    installed = consumer.drainer

    def waited(drainer_class) -> float:
        consumer.drainer = drainer_class(consumer)
        result = celery_app.AsyncResult(uuid.uuid4().hex)
        started = time.monotonic()
        with pytest.raises(ResultTimeout):
            result.get(timeout=0.05)
        elapsed = time.monotonic() - started
        celery_app.backend.remove_pending_result(result)
        return elapsed

    try:
        bounded, celerys = waited(celery_result_wait.BoundedDrainer), waited(asynchronous.Drainer)
    finally:
        consumer.drainer = installed
    assert celerys >= 0.9  # what the patch avoids: a second, whatever the timeout
    assert bounded < celerys / 2


def test_an_untested_celery_leaves_its_own_drainer(versions, monkeypatch):
    from celery.backends import asynchronous

    monkeypatch.setitem(asynchronous.drainers, "default", asynchronous.Drainer)
    versions({"celery": "999.0.0"})
    assert celery_result_wait.apply() is False
    assert asynchronous.drainers["default"] is asynchronous.Drainer
