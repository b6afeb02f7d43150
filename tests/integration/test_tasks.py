"""A redelivered task (same request id) never sells twice: acks_late makes delivery at-least-once."""

import threading

import pytest
from django.db import connections

from products.models import Product
from seckill.gate import admissions, keys, records, sync
from seckill.gate import stock as gate
from seckill.gate.client import get_client
from seckill.models import Order
from seckill.purchases.request import PurchaseRequest
from seckill.tasks import purchase_task
from seckill.worker import decisions

pytestmark = pytest.mark.worker


def send(request_id, user, product, quantity=1):
    return purchase_task.apply_async(
        kwargs=dict(request_id=request_id, user_id=user.pk, product_id=product.pk, quantity=quantity),
        task_id=request_id,
    )


def assert_sold_once(product, user, stock_total):
    assert Order.objects.filter(product=product).count() == 1
    assert Order.objects.get(product=product).user_id == user.pk
    assert Product.objects.get(pk=product.pk).stock_left == stock_total - 1
    assert gate.live_stock([product.pk]) == {product.pk: stock_total - 1}


def test_replaying_the_same_task_sells_once(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=5)
    first = send("req-replay", user, product).get(timeout=10)
    second = send("req-replay", user, product).get(timeout=10)

    assert first["code"] == second["code"] == "success"
    assert first["order_id"] == second["order_id"]
    assert_sold_once(product, user, 5)


def test_two_deliveries_of_one_request_at_once_sell_once(worker, make_buyers, make_product):
    # Two workers running the same request at the same moment (a redelivery racing the original).
    users = make_buyers(20)
    product = make_product(stock_total=100)
    outcomes, barrier = [], threading.Barrier(2)

    def deliver(user):
        try:
            barrier.wait(timeout=10)
            outcomes.append(
                decisions.purchase_process(
                    PurchaseRequest(request_id=f"twice-{user.pk}", user_id=user.pk, product_id=product.pk, quantity=1)
                )
            )
        finally:
            connections.close_all()

    for user in users:
        threads = [threading.Thread(target=deliver, args=(user,)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)

    assert len(outcomes) == 40
    assert {o.code for o in outcomes} == {"success"}
    for user in users:
        order_ids = {o.order_id for o in outcomes if o.user_id == user.pk}
        assert len(order_ids) == 1
    assert Order.objects.filter(product=product).count() == 20
    assert Product.objects.get(pk=product.pk).stock_left == 80
    assert gate.live_stock([product.pk]) == {product.pk: 80}


def test_replay_after_the_order_was_written_but_before_the_ack(worker, make_buyers, make_product):
    # The worker wrote the order, then died before acknowledging: the redelivery finds the order.
    (user,) = make_buyers(1)
    product = make_product(stock_total=3)
    purchase = PurchaseRequest(request_id="req-crash", user_id=user.pk, product_id=product.pk, quantity=1)
    first = decisions.purchase_process(purchase)
    get_client().hdel(keys.request(product.pk, "req-crash"), "outcome")  # the outcome was never recorded
    again = send("req-crash", user, product).get(timeout=10)
    assert again["code"] == "success" and again["order_id"] == first.order_id
    assert_sold_once(product, user, 3)


def test_a_request_given_up_while_its_task_writes_the_order_sells_nothing(
    worker, make_buyers, make_product, monkeypatch
):
    """The sweeper gives a request up (another process) after the task's ledger statements, before Redis
    decides: sell.lua finds the refusal, the transaction rolls back, and both stores keep their units."""
    (user,) = make_buyers(1)
    product = make_product(stock_total=2)
    purchase = PurchaseRequest(request_id="req-abandon", user_id=user.pk, product_id=product.pk, quantity=1)
    sync.stock_gate_load(product_id=product.pk)
    assert (
        admissions.admit(**purchase.task_kwargs(), factor=10, slot_ms=60_000, created=1.0)[0] == "admitted"
    )  # its record
    abandoned = []

    def sweeper():
        try:
            abandoned.append(decisions.purchase_abandon(purchase).code)
        finally:
            connections.close_all()

    real_sell = gate.sell

    def given_up_first(**kwargs):
        thread = threading.Thread(target=sweeper)  # its own database connection: the order is not committed
        thread.start()
        thread.join(timeout=30)
        return real_sell(**kwargs)

    monkeypatch.setattr(gate, "sell", given_up_first)
    outcome = decisions.purchase_process(purchase)
    assert abandoned == ["unavailable"] and outcome.code == "unavailable"
    assert records.request_get("req-abandon", product.pk).outcome["code"] == "unavailable"
    assert gate.live_stock([product.pk]) == {product.pk: 2}
    assert Product.objects.get(pk=product.pk).stock_left == 2
    assert not Order.objects.exists()
