"""Idempotency-Key: a replayed purchase makes one order and gets the first answer, against the real Redis and worker."""

import threading
import time

import pytest
from django.db import connections
from django.test import override_settings

from products.models import Product
from seckill.gate import admissions, records
from seckill.gate import stock as gate
from seckill.models import Order
from seckill.purchases import admission, sale_cache
from seckill.purchases.request import PurchaseRequest
from seckill.worker import decisions
from tests.support.http import api_client

pytestmark = pytest.mark.worker

BUY = "/api/seckill/"


def test_idempotency_key_replayed_concurrently_makes_one_order(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=5)
    answers, lock, barrier = [], threading.Lock(), threading.Barrier(20)

    def buy():
        try:
            client = api_client(user)
            barrier.wait(timeout=30)
            response = client.post(BUY, {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="order-42")
            with lock:
                answers.append(response)
        finally:
            connections.close_all()

    with override_settings(SECKILL_USER_RATE_RULES=[]):
        threads = [threading.Thread(target=buy) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)

    assert {(r.status_code, r.json()["code"]) for r in answers} == {(200, "success")}
    assert len({r.json()["request_id"] for r in answers}) == 1
    assert len({r.json()["order_id"] for r in answers}) == 1
    assert Order.objects.filter(user=user).count() == 1
    # A day later (or another key) it is a new request: one live order per buyer still holds.
    again = api_client(user).post(BUY, {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="order-43")
    assert again.json()["code"] == "already_purchased"


def test_idempotency_key_replays_a_refusal_too(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=0)
    client = api_client(user)
    first = client.post(BUY, {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.json()["code"] == "sold_out"
    sale_cache.sale_cache_clear()
    gate.adjust_stock(product_id=product.pk, delta=+1)  # stock came back
    Product.objects.filter(pk=product.pk).update(stock_total=1, stock_left=1)
    replay = client.post(BUY, {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert (replay.status_code, replay.json()["code"]) == (409, "sold_out")  # the first answer, not a sale
    assert not Order.objects.exists()
    fresh = client.post(BUY, {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="k2")
    assert fresh.json()["code"] == "success"


def test_idempotency_key_lets_the_retry_through_after_busy(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=1)  # bound: 2 in flight
    for rid in ("held-1", "held-2"):
        admissions.admit(product_id=product.pk, request_id=rid, quantity=1, factor=1.5, slot_ms=60_000)[0]
    client = api_client(user)
    first = client.post(BUY, {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="retry-me")
    assert (first.status_code, first.json()["code"]) == (429, "busy")
    for rid in ("held-1", "held-2"):
        admissions.admission_release(product_id=product.pk, request_id=rid)
    again = client.post(BUY, {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="retry-me")
    assert (again.status_code, again.json()["code"]) == (200, "success")


def abandoned_keyed_request(user, product, request_id: str, key: str, *, mid_commit: bool = False) -> dict:
    """A request made with Idempotency-Key `key` that the logic layer gave up on (its task's retries ran out, or
    the sweeper gave up): recorded `unavailable`. With `mid_commit`, the logic layer tried to give it up while
    its sale was being committed (the decision is sold, the order not yet visible): then it stays pending."""
    purchase = PurchaseRequest(request_id=request_id, user_id=user.pk, product_id=product.pk, quantity=1)
    assert records.idempotency_claim(user_id=user.pk, key=key, request_id=request_id, ttl_s=600) is None
    assert admissions.admit(**purchase.task_kwargs(), factor=1.5, slot_ms=60_000, created=time.time())[0] == "admitted"
    if mid_commit:
        assert gate.sell(**purchase.task_kwargs())[0] is gate.Sell.SOLD
    assert decisions.purchase_abandon(purchase).code == ("pending" if mid_commit else "unavailable")
    return purchase


def test_idempotency_key_lets_the_retry_through_after_the_first_was_given_up(worker, make_buyers, make_product):
    # Nothing was sold: a retry with the same key must be a new attempt, not that answer again.
    (user,) = make_buyers(1)
    product = make_product(stock_total=1)
    abandoned_keyed_request(user, product, "given-up-1", "after-outage")

    client = api_client(user)
    retry = client.post(BUY, {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="after-outage")
    assert (retry.status_code, retry.json()["code"]) == (200, "success")
    assert retry.json()["request_id"] != "given-up-1"
    replay = client.post(BUY, {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="after-outage")
    assert replay.json()["order_id"] == retry.json()["order_id"]  # the key now names the sale
    assert Order.objects.filter(user=user).count() == 1


def test_a_request_mid_commit_is_not_given_up_and_keeps_its_key(worker, make_buyers, make_product, settings):
    # Sold in Redis, the order not yet in the ledger: nothing is recorded, the units stay taken, and a retry with
    # the key waits on that request (no second attempt, which would be refused already_purchased).
    (user,) = make_buyers(1)
    product = make_product(stock_total=2)
    committing = f"{product.pk}-committing-1"  # (a request id names its product: keys.request_id_new)
    purchase = abandoned_keyed_request(user, product, committing, "mid-commit", mid_commit=True)
    assert records.request_get(committing, product.pk).outcome is None
    assert committing in {rid for rid, _, _ in records.requests_pending_since(time.time(), 100)}
    assert gate.live_stock([product.pk]) == {product.pk: 1}

    settings.SECKILL_RESULT_TIMEOUT = 0.3
    retry = api_client(user).post(BUY, {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="mid-commit")
    assert (retry.status_code, retry.json()["code"], retry.json()["request_id"]) == (202, "pending", committing)
    assert records.idempotency_claim(user_id=user.pk, key="mid-commit", request_id="x", ttl_s=600) == committing

    # The access layer's own 503 path (publish failed, the message got through and sold) records nothing either.
    admission.purchase_refuse_unsent(purchase)
    assert records.request_get(committing, product.pk).outcome is None
