"""The access layer's guards through the HTTP API, against the real Redis and worker: sold-out shedding, the
admission gate, the origin allow-list, a buyer's own limit. Blacklists, rate limits and idempotency keys have
their own files."""

import threading
import time
from contextlib import contextmanager

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from products.models import Product
from seckill.access import blacklist
from seckill.gate import admissions, records
from seckill.models import Order
from seckill.worker import sweep
from seckill_site.celery import app as celery_app
from tests.support.access import refused_as
from tests.support.http import api_client
from tests.support.polling import wait_for

pytestmark = pytest.mark.worker

BUY = "/api/seckill/"


@contextmanager
def no_queries():
    """Fails with the SQL of any query this process makes in the block (pytest-django's count names none)."""
    with CaptureQueriesContext(connection) as captured:
        yield
    assert [query["sql"] for query in captured.captured_queries] == []


@pytest.fixture
def publishes(monkeypatch):
    """Every message this process sends to the broker: all go through the app's send_task (seckill.purchases.enqueue).
    (The server's LPUSH count would include whatever else shares this Redis server.)"""
    sent, send_task = [], celery_app.send_task
    monkeypatch.setattr(celery_app, "send_task", lambda *a, **k: sent.append(a) or send_task(*a, **k))
    return sent


def broker_queue_length():
    return sweep.purchase_queue_length()


def test_sold_out_product_sheds_5000_requests_without_broker_or_database(worker, make_buyers, make_product, publishes):
    buyers = make_buyers(50)
    product = make_product(stock_total=1)
    assert api_client(buyers[0]).post(BUY, {"product_id": product.pk}, format="json").status_code == 200
    celery_app.control.cancel_consumer("celery", destination=[worker.name], reply=True, timeout=5)
    clients = [api_client(b) for b in buyers[1:]]
    published_before = len(publishes)
    blacklist.blacklist_reconcile()  # the mirror exists (clean_redis removed it): a refresh reads only Redis

    codes = set()
    # The steady state of a flood: this process knows the sale and the blacklists (each refreshed from Redis
    # alone, at most once per period; kept long here so that the count is about the answers, not the clock).
    with (
        override_settings(SECKILL_USER_RATE_RULES=[], SECKILL_LOCAL_CACHE_TTL=120, SECKILL_BLACKLIST_REFRESH=120),
        no_queries(),
    ):
        for i in range(5000):
            response = clients[i % len(clients)].post(BUY, {"product_id": product.pk}, format="json")
            codes.add((response.status_code, response.json()["code"]))

    assert codes == {(409, "sold_out")}
    assert broker_queue_length() == 0
    assert len(publishes) == published_before  # not one message was sent to the broker
    assert Order.objects.count() == 1


def test_admission_gate_never_lets_more_than_the_bound_through(worker, make_buyers, make_product):
    users = make_buyers(300)
    product = make_product(stock_total=10)  # bound: ceil(10 * 1.5) = 15 in flight
    celery_app.control.cancel_consumer("celery", destination=[worker.name], reply=True, timeout=5)
    answers, lock, barrier = [], threading.Lock(), threading.Barrier(300)

    def buy(user):
        try:
            client = api_client(user)
            barrier.wait(timeout=60)
            response = client.post(BUY, {"product_id": product.pk}, format="json")
            with lock:
                answers.append((response.status_code, response.json()["code"], response.get("Retry-After")))
        finally:
            connections.close_all()

    with override_settings(SECKILL_RESULT_TIMEOUT=0.2):
        threads = [threading.Thread(target=buy, args=(u,)) for u in users]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)

    admitted = [a for a in answers if a[0] == 202]
    busy = [a for a in answers if a[0] == 429]
    assert len(admitted) == 15
    assert len(busy) == 285 and {a[1] for a in busy} == {"busy"} and {a[2] for a in busy} == {"1"}
    assert admissions.admitted_count(product.pk) == 15
    # All 15 messages wait in the queue, but for the up to 2 a parked worker may hold (prefetch 1 x concurrency 2).
    assert broker_queue_length() >= 15 - 2

    # The worker comes back: every admitted request is decided and every slot given back.
    celery_app.control.add_consumer("celery", destination=[worker.name], reply=True, timeout=5)
    assert wait_for(lambda: admissions.admitted_count(product.pk) == 0, 20)
    assert Order.objects.filter(product=product).count() == 10
    assert Product.objects.get(pk=product.pk).stock_left == 0


def test_admission_slot_of_a_task_that_never_finished_frees_itself(worker, make_buyers, make_product):
    (user, other) = make_buyers(2)
    product = make_product(stock_total=1)  # bound: ceil(1 * 1.5) = 2
    # Slots live 3 s: long enough for the first request to find them taken on a loaded machine (at 0.5 s a busy
    # CI host reached it after they had lapsed), short enough for the test.
    admissions.admit(product_id=product.pk, request_id="dead-1", quantity=1, factor=1.5, slot_ms=3000)[0]
    admissions.admit(product_id=product.pk, request_id="dead-2", quantity=1, factor=1.5, slot_ms=3000)[
        0
    ]  # workers died
    with override_settings(SECKILL_ADMISSION_SLOT_TTL=3):
        assert api_client(user).post(BUY, {"product_id": product.pk}, format="json").status_code == 429
        assert wait_for(
            lambda: api_client(other).post(BUY, {"product_id": product.pk}, format="json").status_code == 200, 15, 0.5
        )
    assert admissions.admitted_count(product.pk) == 0


def test_origin_allow_list_and_trusted_proxy_through_the_api(worker, make_buyers, make_product):
    import ipaddress

    (user,) = make_buyers(1)
    product = make_product(stock_total=0)
    client = api_client(user)
    with override_settings(SECKILL_ALLOWED_ORIGINS=frozenset({"shop.example.com"})):
        refused = client.post(BUY, {"product_id": product.pk}, format="json", HTTP_ORIGIN="https://evil.example")
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden_origin")
        allowed = client.post(BUY, {"product_id": product.pk}, format="json", HTTP_ORIGIN="https://shop.example.com")
        assert allowed.json()["code"] == "sold_out"

    call_command("blacklist", "add", "ip", "203.0.113.7")
    assert wait_for(lambda: refused_as(user.pk, "203.0.113.7") == "blacklisted", 1)
    via_proxy = dict(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert client.post(BUY, {"product_id": product.pk}, format="json", **via_proxy).json()["code"] == "sold_out"
    with override_settings(SECKILL_TRUSTED_PROXIES=(ipaddress.ip_network("10.0.0.0/8"),)):
        response = client.post(BUY, {"product_id": product.pk}, format="json", **via_proxy)
        assert (response.status_code, response.json()["code"]) == (403, "blacklisted")


def test_a_buyer_short_of_units_does_not_make_the_product_sold_out_for_others(worker, make_buyers, make_product):
    first, big, small = make_buyers(3)
    product = make_product(stock_total=3, per_user_limit=2)
    # This process caches "3 left" with the first purchase and keeps it for a second: the gate decides below.
    assert api_client(first).post(BUY, {"product_id": product.pk, "quantity": 2}, format="json").status_code == 200
    refused = api_client(big).post(BUY, {"product_id": product.pk, "quantity": 2}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (409, "sold_out")  # 1 left, 2 asked
    with override_settings(SECKILL_LOCAL_CACHE_TTL=60):  # whatever the cache holds now, it holds
        bought = api_client(small).post(BUY, {"product_id": product.pk, "quantity": 1}, format="json")
    assert (bought.status_code, bought.json()["code"]) == (200, "success")


def test_a_buyer_who_bought_is_answered_at_the_gate_without_the_broker_or_the_database(
    worker, make_buyers, make_product, publishes
):
    # A double-click storm of a winner: the logic layer would refuse it after taking the ledger's lock.
    (user,) = make_buyers(1)
    product = make_product(stock_total=5)
    client = api_client(user)
    assert client.post(BUY, {"product_id": product.pk}, format="json").json()["code"] == "success"
    published_before = len(publishes)
    blacklist.blacklist_reconcile()  # the mirror exists (clean_redis removed it): a refresh reads only Redis
    with override_settings(SECKILL_USER_RATE_RULES=[]), no_queries():
        again = [client.post(BUY, {"product_id": product.pk}, format="json") for _ in range(20)]
    assert {(r.status_code, r.json()["code"]) for r in again} == {(409, "already_purchased")}
    assert len(publishes) == published_before
    assert admissions.admitted_count(product.pk) == 0 and records.requests_pending_since(time.time() + 1, 10) == []
    assert Order.objects.filter(product=product).count() == 1
    # Another buyer still gets through.
    (other,) = make_buyers(1, prefix="other")
    assert api_client(other).post(BUY, {"product_id": product.pk}, format="json").json()["code"] == "success"
