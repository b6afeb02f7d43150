"""The result backend that stores a purchase's Celery result and its request record in one step
(seckill_site/integrations/celery_result_store.py with seckill/worker/outcome_record.py's recorder), against the
real Redis and, end to end, the real worker."""

import json
import threading
import time
import uuid
from contextlib import contextmanager

import pytest
import redis
from celery import states
from celery.app.task import Context
from celery.backends.redis import RedisBackend
from django.conf import settings
from kombu.utils.encoding import bytes_to_str

from seckill.gate import admissions, keys, records
from seckill.gate.client import get_client
from seckill.purchases.outcomes import Outcome
from seckill.purchases.request import PurchaseRequest
from seckill.tasks import purchase_task
from seckill.worker import outcome_record
from seckill.worker.outcome_record import outcome_recorded_with_result
from seckill_site.celery import app as celery_app
from seckill_site.integrations.celery_result_store import RecordingRedisBackend
from seckill_site.local_redis import with_db


@pytest.fixture
def backend(clean_redis):
    yield celery_app.backend
    made = list(clean_redis.scan_iter("celery-task-meta-gate-test-*"))
    if made:
        clean_redis.delete(*made)


def admitted_request(product_id=7, user_id=3):
    """A request as the access layer leaves it: record, pending entry, admission slot (admit.lua)."""
    request_id = f"gate-test-{uuid.uuid4().hex}"
    get_client().set(keys.stock(product_id), 10)
    assert (
        admissions.admit(
            product_id=product_id,
            request_id=request_id,
            quantity=1,
            factor=10.0,
            slot_ms=60_000,
            user_id=user_id,
            created=time.time(),
        )[0]
        == "admitted"
    )
    return request_id


def success_of(request_id, product_id=7, user_id=3):
    return Outcome.success(PurchaseRequest(request_id, user_id, product_id, 1), order_id=41).as_dict()


@pytest.fixture
def celery_stores(monkeypatch):
    """The keys Celery's own result store writes in this process (RedisBackend._set: its SETEX + PUBLISH)."""
    stored, real = [], RedisBackend._set

    def counting(self, key, value, expires=None):
        stored.append(bytes_to_str(key))
        return real(self, key, value, expires)

    monkeypatch.setattr(RedisBackend, "_set", counting)
    return stored


@contextmanager
def setex_watched(key: str):
    """The SETEX commands any client sends for `key` meanwhile (Redis MONITOR, filtered to this key: another
    process' store, such as the worker's, counts too, and nothing else sharing the server does)."""
    seen, ready, stop = [], threading.Event(), threading.Event()

    def watch():
        with get_client().monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                if stop.is_set():
                    return
                if command["command"].upper().startswith("SETEX") and key in command["command"]:
                    seen.append(command["command"])

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    assert ready.wait(5)
    try:
        yield seen
    finally:
        stop.set()
        get_client().ping()  # (a command to wake the monitor's loop)
        thread.join(5)


def pending_ids(client, product_id=7):
    return {member for member, _ in client.zrange(keys.pending(product_id), 0, -1, withscores=True)}


def test_the_projects_backend_shares_the_gate_database(backend):
    assert isinstance(backend, RecordingRedisBackend)
    assert backend.records("seckill.purchase") and not backend.records("seckill.sweep_pending")


def test_a_purchase_success_stores_result_and_record_in_one_step(backend, clean_redis, celery_stores):
    request_id = admitted_request()
    outcome = success_of(request_id)
    pubsub = get_client().pubsub()
    pubsub.subscribe(backend.get_key_for_task(request_id))
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"

    backend.store_result(request_id, outcome, states.SUCCESS, request=Context(task="seckill.purchase"))
    assert celery_stores == []  # not Celery's own store: outcome.lua did it

    assert backend.get_task_meta(request_id)["status"] == states.SUCCESS
    assert backend.get_task_meta(request_id)["result"] == outcome
    assert records.request_get(request_id, 7).outcome == outcome
    assert request_id not in pending_ids(clean_redis)
    assert admissions.admitted_count(7) == 0
    message = pubsub.get_message(timeout=2)  # the waiting view is woken, as by Celery's own store
    pubsub.close()
    assert message and json.loads(message["data"])["result"] == outcome
    assert 0 < clean_redis.ttl(backend.get_key_for_task(request_id)) <= settings.CELERY_RESULT_EXPIRES


def test_a_stored_success_is_never_overwritten(backend):
    request_id = admitted_request()
    first, second = success_of(request_id), dict(success_of(request_id), order_id=99)
    backend.store_result(request_id, first, states.SUCCESS, request=Context(task="seckill.purchase"))
    backend.store_result(request_id, second, states.SUCCESS, request=Context(task="seckill.purchase"))
    assert backend.get_task_meta(request_id)["result"]["order_id"] == 41


def test_a_success_overwrites_an_earlier_retry_state(backend):
    request_id = admitted_request()
    backend.store_result(request_id, RuntimeError("transient"), states.RETRY, request=Context(task="seckill.purchase"))
    assert backend.get_task_meta(request_id)["status"] == states.RETRY
    assert records.request_get(request_id, 7).outcome is None  # a retry decides nothing

    backend.store_result(request_id, success_of(request_id), states.SUCCESS, request=Context(task="seckill.purchase"))
    assert backend.get_task_meta(request_id)["status"] == states.SUCCESS
    assert records.request_get(request_id, 7).outcome["code"] == "success"


def test_a_pending_outcome_is_stored_but_not_recorded(backend):
    # purchase_abandon's answer for a request it could not give up (sold in Redis, not yet in the ledger): the
    # request must stay pending for the sweeper, not be recorded as decided.
    request_id = admitted_request()
    pending = Outcome.pending(PurchaseRequest(request_id, 3, 7, 1)).as_dict()
    backend.store_result(request_id, pending, states.SUCCESS, request=Context(task="seckill.purchase"))
    assert backend.get_task_meta(request_id)["result"]["code"] == "pending"
    assert records.request_get(request_id, 7).outcome is None
    assert request_id in pending_ids(get_client())


def test_other_tasks_are_stored_by_celery_alone(backend, clean_redis, celery_stores):
    request_id = admitted_request()
    backend.store_result(request_id, success_of(request_id), states.SUCCESS, request=Context(task="bench.noop"))
    assert celery_stores == [backend.get_key_for_task(request_id).decode()]  # what the others count is counted
    assert backend.get_task_meta(request_id)["status"] == states.SUCCESS
    assert records.request_get(request_id, 7).outcome is None
    assert admissions.admitted_count(7) == 1


def test_a_connection_error_in_the_step_is_retried(backend, monkeypatch):
    request_id = admitted_request()
    real, calls = records.request_set_outcome, []

    def flaky(**kwargs):
        calls.append(kwargs["request_id"])
        if len(calls) == 1:
            raise redis.ConnectionError("connection reset")
        return real(**kwargs)

    monkeypatch.setattr(outcome_record, "request_set_outcome", flaky)
    backend.store_result(request_id, success_of(request_id), states.SUCCESS, request=Context(task="seckill.purchase"))
    assert len(calls) == 2
    assert records.request_get(request_id, 7).outcome["code"] == "success"
    assert backend.get_task_meta(request_id)["status"] == states.SUCCESS


def test_a_redis_outage_fails_the_store_as_celerys_own_would(backend, monkeypatch):
    request_id = admitted_request()

    def down(**kwargs):
        raise redis.ConnectionError("connection refused")

    monkeypatch.setattr(outcome_record, "request_set_outcome", down)
    with pytest.raises(redis.ConnectionError):
        backend.store_result(
            request_id, success_of(request_id), states.SUCCESS, request=Context(task="seckill.purchase")
        )
    assert request_id in pending_ids(get_client())  # left to the sweeper


def test_a_backend_on_another_database_leaves_the_record_to_the_task():
    gate_db = get_client().connection_pool.connection_kwargs["db"]
    other = RecordingRedisBackend(app=celery_app, url=with_db(settings.REDIS_URL, (gate_db + 1) % 16))
    assert not other.records("seckill.purchase")


@pytest.mark.parametrize(
    "context, backend_records, expected",
    [
        (dict(), True, True),  # a worker's run whose result is stored
        (dict(), False, False),  # result backend elsewhere: the task records
        (dict(is_eager=True), True, False),
        (dict(called_directly=True), True, False),
        (dict(ignore_result=True), True, False),  # nothing stored: the task records
    ],
)
def test_the_task_records_unless_the_backend_will(monkeypatch, context, backend_records, expected):
    monkeypatch.setattr(purchase_task.backend, "records", lambda task_name: backend_records)
    purchase_task.push_request(**{"called_directly": False, **context})
    try:
        assert outcome_recorded_with_result(purchase_task) is expected
    finally:
        purchase_task.pop_request()


@pytest.mark.worker
def test_a_purchase_through_the_worker_records_its_outcome(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=3)
    request_id = f"gate-test-{uuid.uuid4().hex}"
    assert (
        admissions.admit(
            product_id=product.pk,
            request_id=request_id,
            quantity=1,
            factor=10.0,
            slot_ms=60_000,
            user_id=user.pk,
            created=time.time(),
        )[0]
        == "admitted"
    )

    with setex_watched(request_id) as setex:
        result = purchase_task.apply_async(
            kwargs=dict(request_id=request_id, user_id=user.pk, product_id=product.pk, quantity=1), task_id=request_id
        ).get(timeout=10)
    assert result["code"] == "success"
    assert setex == []  # stored by outcome.lua in the worker, not by Celery's pipeline
    assert records.request_get(request_id, product.pk).outcome == result
    assert request_id not in pending_ids(get_client(), product.pk)
    assert admissions.admitted_count(product.pk) == 0
