"""A worker's batch of purchases decided together (seckill.worker.decisions.purchases_decide_together): one transaction,
one commit, one Redis round trip; each task then finds its sale. Anything unusual rolls the batch back and each
request is decided alone, by the usual path, with the same invariants."""

from unittest import mock

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from products.models import Product
from seckill.gate import stock as gate
from seckill.models import Order
from seckill.purchases.request import PurchaseRequest
from seckill.tasks import purchase_task
from seckill.worker import decisions
from seckill_site.integrations import celery_batches
from tests.support.invariants import assert_gate_and_ledger_agree

pytestmark = pytest.mark.django_db(transaction=True)


def requests_for(buyers, product, prefix="r") -> list[dict]:
    """The batch as the worker hands it to the prelude: each task's kwargs."""
    return [dict(request_id=f"{prefix}-{b.pk}", user_id=b.pk, product_id=product.pk, quantity=1) for b in buyers]


def decide_one(kwargs: dict):
    return decisions.purchase_process(PurchaseRequest(**kwargs))


def decide_alone(requests: list[dict]) -> list[str]:
    return [decide_one(r).code for r in requests]


def run_as_one_job(batch: list[dict], task) -> list:
    """The batch as a pool process runs it (celery_batches.run_batch): the prelude, then `task(kwargs)` for each."""
    return celery_batches.run_batch(task, [(r,) for r in batch], (purchase_task.batch_prelude, batch))


def test_a_batch_is_sold_in_one_commit_and_each_task_finds_its_sale(clean_redis, make_buyers, make_product):
    product = make_product(stock_total=5)
    batch = requests_for(make_buyers(4), product)

    def task(kwargs):  # each request's task: its sale is there, no query, no Redis decision again
        with CaptureQueriesContext(connection) as queries, mock.patch.object(gate, "sell") as sell:
            outcome = decisions.purchase_process(PurchaseRequest(**kwargs))
        return outcome, len(queries), sell.call_count

    with mock.patch.object(connection, "commit", wraps=connection.commit) as commit:
        found = run_as_one_job(batch, task)
    assert commit.call_count == 1
    assert gate.live_stock([product.pk]) == {product.pk: 1}
    assert Product.objects.get(pk=product.pk).stock_left == 1
    for r, (outcome, queries, sells) in zip(batch, found, strict=True):
        assert (outcome.code, queries, sells) == ("success", 0, 0)
        assert outcome.order_id == Order.objects.get(request_id=r["request_id"]).pk
    assert decisions.purchase_process(PurchaseRequest(**batch[0])).code == "success"  # outside the job: decided
    assert_gate_and_ledger_agree(product.pk)


def test_off_by_setting(clean_redis, make_buyers, make_product, settings):
    settings.SECKILL_WORKER_BATCH_TRANSACTION = False
    product = make_product(stock_total=5)
    batch = requests_for(make_buyers(2), product)
    assert decisions.purchases_decide_together(batch) == {} and not Order.objects.exists()
    assert decide_alone(batch) == ["success", "success"]


def test_a_replayed_task_after_the_batch_decides_by_the_usual_path(clean_redis, make_buyers, make_product):
    product = make_product(stock_total=5)
    batch = requests_for(make_buyers(2), product)
    first = [outcome.order_id for outcome in run_as_one_job(batch, decide_one)]
    again = [decide_one(r).order_id for r in batch]  # nothing kept: the ledger's order is found
    assert first == again and Order.objects.count() == 2
    assert_gate_and_ledger_agree(product.pk)


def test_requests_the_ledger_refuses_are_left_to_be_decided_alone(clean_redis, make_buyers, make_product):
    product = make_product(stock_total=2)
    buyers = make_buyers(4)
    buyers[1].is_active = False
    buyers[1].save()
    batch = requests_for(buyers, product)
    # Buyer 1 is inactive. On PostgreSQL the stock cannot cover the three others together: none is sold;
    # elsewhere buyers 0 and 2 are, and 3 finds none left.
    sold = len(decisions.purchases_decide_together(batch))
    assert sold == (0 if connection.vendor == "postgresql" else 2)
    for left_out in [1, 3] if sold else [0, 1, 2, 3]:  # undecided in Redis
        assert gate.decision_get(product_id=product.pk, request_id=batch[left_out]["request_id"]) is None
    assert decide_alone(batch) == ["success", "user_inactive", "success", "sold_out"]
    assert_gate_and_ledger_agree(product.pk)


def test_a_batch_of_two_products_is_sold_in_one_commit(clean_redis, make_buyers, make_product):
    first, second = make_product(stock_total=3), make_product(stock_total=3)
    buyers = make_buyers(4)
    batch = requests_for(buyers[:2], first) + requests_for(buyers[2:], second) + requests_for(buyers[:1], second, "s")
    with mock.patch.object(connection, "commit", wraps=connection.commit) as commit:
        assert len(decisions.purchases_decide_together(batch)) == 5
    assert commit.call_count == 1
    assert [Product.objects.get(pk=p.pk).stock_left for p in (first, second)] == [1, 0]
    assert decide_alone(batch) == ["success"] * 5
    for product in (first, second):
        assert_gate_and_ledger_agree(product.pk)


def test_a_redelivered_request_rolls_the_batch_back_and_each_is_decided_alone(clean_redis, make_buyers, make_product):
    product = make_product(stock_total=5)
    batch = requests_for(make_buyers(3), product)
    first = decisions.purchase_process(PurchaseRequest(**batch[1]))  # its order exists: the batch's INSERT of it fails
    assert decisions.purchases_decide_together(batch) == {}
    assert Order.objects.count() == 1 and Product.objects.get(pk=product.pk).stock_left == 4
    codes = decide_alone(batch)
    assert codes == ["success"] * 3
    assert Order.objects.get(request_id=batch[1]["request_id"]).pk == first.order_id
    assert_gate_and_ledger_agree(product.pk)


def test_a_buyer_twice_in_one_batch_buys_once(clean_redis, make_buyers, make_product):
    product = make_product(stock_total=5)
    (buyer,) = make_buyers(1)
    batch = requests_for([buyer], product, "first") + requests_for([buyer], product, "second")
    assert decisions.purchases_decide_together(batch) == {}  # the one-live-order rule fails the INSERT
    assert decide_alone(batch) == ["success", "already_purchased"]
    assert_gate_and_ledger_agree(product.pk)


def test_a_refusal_by_redis_rolls_the_batch_back_and_redis_sales_are_written_alone(
    clean_redis, make_buyers, make_product
):
    product = make_product(stock_total=5)
    batch = requests_for(make_buyers(3), product)
    decisions.purchase_abandon(
        PurchaseRequest(**batch[1])
    )  # given up: refused in Redis, for good; the ledger does not know
    assert decisions.purchases_decide_together(batch) == {}
    assert not Order.objects.exists() and Product.objects.get(pk=product.pk).stock_left == 5
    # Redis sold the first (its decision is final), stopped at the refusal, and left the third undecided.
    assert gate.decision_get(product_id=product.pk, request_id=batch[0]["request_id"]) == gate.SOLD
    assert gate.decision_get(product_id=product.pk, request_id=batch[2]["request_id"]) is None
    assert decide_alone(batch) == ["success", "unavailable", "success"]
    assert_gate_and_ledger_agree(product.pk)


def test_a_product_redis_refuses_rolls_back_alone_and_the_other_products_sales_commit(
    clean_redis, make_buyers, make_product
):
    """A job of two products: one sell.lua call per product (each its own slot), a savepoint per product, so the
    product whose call Redis did not sell whole is rolled back alone and decided request by request."""
    first, second = make_product(stock_total=5), make_product(stock_total=5)
    buyers = make_buyers(5)
    refused, sold = requests_for(buyers[:3], first, "f"), requests_for(buyers[3:], second, "s")
    decisions.purchase_abandon(PurchaseRequest(**refused[1]))  # given up: refused in Redis, for good
    decided = decisions.purchases_decide_together(refused + sold)
    assert sorted(decided) == sorted(r["request_id"] for r in sold)  # the second product's sales, committed
    assert Order.objects.filter(product=first).count() == 0 and Order.objects.filter(product=second).count() == 2
    assert [Product.objects.get(pk=p.pk).stock_left for p in (first, second)] == [5, 3]
    assert decide_alone(refused) == ["success", "unavailable", "success"]
    for product in (first, second):
        assert_gate_and_ledger_agree(product.pk)


def test_a_failed_commit_leaves_redis_sales_to_be_written_alone(clean_redis, make_buyers, make_product):
    product = make_product(stock_total=5)
    batch = requests_for(make_buyers(2), product)
    # The COMMIT fails (as Django reports a driver's error: atomic() then rolls back).
    with mock.patch.object(connection, "_commit", side_effect=OperationalError("gone")):
        assert decisions.purchases_decide_together(batch) == {}
    assert not Order.objects.exists()
    assert gate.live_stock([product.pk]) == {product.pk: 3}  # Redis sold both: final, waiting for their orders
    assert decide_alone(batch) == ["success", "success"]
    assert_gate_and_ledger_agree(product.pk)


def test_the_purchase_task_uses_the_batchs_sale(clean_redis, make_buyers, make_product):
    product = make_product(stock_total=3)
    batch = requests_for(make_buyers(2), product)
    with mock.patch.object(decisions, "_purchase_decide", side_effect=AssertionError("decided again")):
        results = run_as_one_job(batch, lambda r: purchase_task.apply(kwargs=r, task_id=r["request_id"]).get())
    for r, result in zip(batch, results, strict=True):
        assert result["code"] == "success" and result["order_id"] == Order.objects.get(request_id=r["request_id"]).pk
    assert_gate_and_ledger_agree(product.pk)
