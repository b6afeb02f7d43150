"""The logic layer's write to the ledger (decisions.order_write, plain SQL on the usual path) keeps the ORM's
rules on SQLite and PostgreSQL: the price and time of the sale, the stock, and every refusal."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from products.models import Product
from seckill.errors import AlreadyPurchased
from seckill.gate import stock as gate
from seckill.gate import sync
from seckill.gate.client import get_client
from seckill.models import Order
from seckill.purchases.request import PurchaseRequest
from seckill.worker import decisions, ledger

pytestmark = pytest.mark.django_db(transaction=True)


def write(user, product, quantity=1, request_id=None):
    sync.stock_gate_load(product_id=product.pk)
    request_id = request_id or uuid.uuid4().hex
    purchase = PurchaseRequest(request_id=request_id, user_id=user.pk, product_id=product.pk, quantity=quantity)
    return decisions.order_write(purchase)  # the ledger's statements, then sell.lua, in one transaction


def test_a_sale_writes_the_order_as_the_orm_would(clean_redis, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=5, price="12.34", per_user_limit=3)
    before = timezone.now()
    order_id = write(user, product, quantity=2)
    order = Order.objects.get(pk=order_id)
    assert (order.user_id, order.product_id, order.quantity) == (user.pk, product.pk, 2)
    assert order.unit_price == Decimal("12.34") and order.status == Order.Status.PENDING_PAYMENT
    assert before <= order.created_at <= timezone.now() and order.created_at.tzinfo is not None
    assert order.pay_by == order.created_at + timedelta(seconds=settings.SECKILL_PAYMENT_WINDOW)
    assert order.paid_at is None and order.closed_at is None and not order.gate_released
    assert Product.objects.get(pk=product.pk).stock_left == 3


def test_with_payment_off_a_sale_is_born_paid(clean_redis, make_buyers, make_product, settings):
    settings.SECKILL_PAYMENT_WINDOW = 0
    (user,) = make_buyers(1)
    product = make_product(stock_total=5)
    order = Order.objects.get(pk=write(user, product))
    assert (order.status, order.pay_by, order.paid_at) == (Order.Status.PAID, None, order.created_at)


def test_the_price_is_the_one_at_the_time_of_the_sale(clean_redis, make_buyers, make_product):
    first, second = make_buyers(2)
    product = make_product(stock_total=5, price="1.00")
    a = write(first, product)
    Product.objects.filter(pk=product.pk).update(price="2.50")
    b = write(second, product)
    assert [Order.objects.get(pk=pk).unit_price for pk in (a, b)] == [Decimal("1.00"), Decimal("2.50")]


def test_an_inactive_buyer_takes_nothing(clean_redis, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=5)
    user.is_active = False
    user.save()
    with pytest.raises(decisions.PurchaseRefused, match="user_inactive"):  # the ledger's refusal, final in Redis
        write(user, product)
    assert Product.objects.get(pk=product.pk).stock_left == 5 and not Order.objects.exists()


def test_no_more_than_the_ledger_holds(clean_redis, make_buyers, make_product):
    first, second = make_buyers(2)
    product = make_product(stock_total=3, per_user_limit=3)
    Product.objects.filter(pk=product.pk).update(stock_left=1)  # the ledger has fewer than the gate thinks
    with pytest.raises(decisions.PurchaseRefused, match="sold_out"):
        write(first, product, quantity=2)
    assert Product.objects.get(pk=product.pk).stock_left == 1 and not Order.objects.exists()


def test_a_second_order_of_a_buyer_rolls_the_stock_back(clean_redis, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=5)
    write(user, product)
    get_client().delete(*get_client().keys("seckill:*"))  # the gate forgot the buyer
    with pytest.raises(AlreadyPurchased):
        write(user, product)
    assert Product.objects.get(pk=product.pk).stock_left == 4 and Order.objects.count() == 1


def test_a_replay_returns_the_same_order(clean_redis, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=5)
    first = write(user, product, request_id="same-1")
    assert write(user, product, request_id="same-1") == first
    assert Product.objects.get(pk=product.pk).stock_left == 4


def test_the_write_is_part_of_the_callers_transaction(clean_redis, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=5)
    sync.stock_gate_load(product_id=product.pk)
    with transaction.atomic():
        order_id = ledger.ledger_sell(request_id="tx-1", user_id=user.pk, product_id=product.pk, quantity=1)
        assert order_id is not None
        transaction.set_rollback(True)
    assert Product.objects.get(pk=product.pk).stock_left == 5 and not Order.objects.exists()


def test_the_sale_is_one_statement_on_postgresql_and_two_elsewhere(clean_redis, make_buyers, make_product):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    users = make_buyers(2)
    product = make_product(stock_total=1)
    with transaction.atomic(), CaptureQueriesContext(connection) as sold:
        order_id = ledger.ledger_sell(request_id="one-stmt", user_id=users[0].pk, product_id=product.pk, quantity=1)
    with transaction.atomic():
        nothing = ledger.ledger_sell(request_id="none-left", user_id=users[1].pk, product_id=product.pk, quantity=1)
    expected = 1 if connection.vendor == "postgresql" else 2
    assert len([q for q in sold.captured_queries if "INSERT" in q["sql"] or "UPDATE" in q["sql"]]) == expected
    assert Order.objects.get(pk=order_id).request_id == "one-stmt"
    assert nothing is None and not Order.objects.filter(request_id="none-left").exists()  # the WITH sold nothing
    assert Product.objects.get(pk=product.pk).stock_left == 0


def test_a_refusal_by_redis_rolls_the_ledger_write_back(clean_redis, make_buyers, make_product):
    """Redis decides last, inside the ledger's transaction: a request given up meanwhile (or refused before)
    takes nothing from the ledger, and a sale takes from both."""
    first, second = make_buyers(2)
    product = make_product(stock_total=5)
    sync.stock_gate_load(product_id=product.pk)
    assert (
        gate.refuse(product_id=product.pk, request_id="given-up", user_id=first.pk, quantity=1, code="unavailable")
        == "unavailable"
    )
    with pytest.raises(decisions.PurchaseRefused) as refused:
        decisions.order_write(
            PurchaseRequest(request_id="given-up", user_id=first.pk, product_id=product.pk, quantity=1)
        )
    assert refused.value.code == "unavailable"
    assert Product.objects.get(pk=product.pk).stock_left == 5 and not Order.objects.exists()
    assert gate.live_stock([product.pk]) == {product.pk: 5}
    order_id = decisions.order_write(
        PurchaseRequest(request_id="sold", user_id=second.pk, product_id=product.pk, quantity=1)
    )
    assert Order.objects.get(pk=order_id).request_id == "sold"
    assert Product.objects.get(pk=product.pk).stock_left == 4 and gate.live_stock([product.pk]) == {product.pk: 4}
    assert gate.decision_get(product_id=product.pk, request_id="sold") == gate.SOLD


# A worker's batch of one product's sales (ledger.ledger_sell_many): one statement on PostgreSQL.


def batch_of(buyers, product, quantity=1, prefix="b") -> list[dict]:
    return [dict(request_id=f"{prefix}-{b.pk}", user_id=b.pk, product_id=product.pk, quantity=quantity) for b in buyers]


def test_a_batch_writes_each_order_as_one_sale_would(clean_redis, make_buyers, make_product):
    buyers = make_buyers(4)
    product = make_product(stock_total=10, price="7.25", per_user_limit=2)
    with transaction.atomic():
        alone = ledger.ledger_sell(request_id="alone", user_id=buyers[0].pk, product_id=product.pk, quantity=2)
        sold = ledger.ledger_sell_many(batch_of(buyers[1:], product, quantity=2))
    assert len(sold) == 3 and Product.objects.get(pk=product.pk).stock_left == 2
    columns = ("user_id", "product_id", "quantity", "unit_price", "status", "paid_at", "closed_at", "gate_released")
    reference = Order.objects.values(*columns).get(pk=alone)
    for request in batch_of(buyers[1:], product):
        order = Order.objects.get(pk=sold[request["request_id"]])
        assert order.request_id == request["request_id"]
        assert Order.objects.values(*columns).get(pk=order.pk) == {**reference, "user_id": request["user_id"]}
        assert order.pay_by == order.created_at + timedelta(seconds=settings.SECKILL_PAYMENT_WINDOW)


def test_a_batch_with_payment_off_is_born_paid(clean_redis, make_buyers, make_product, settings):
    settings.SECKILL_PAYMENT_WINDOW = 0
    product = make_product(stock_total=5)
    with transaction.atomic():
        sold = ledger.ledger_sell_many(batch_of(make_buyers(2), product))
    for order in Order.objects.filter(pk__in=sold.values()):
        assert (order.status, order.pay_by, order.paid_at) == (Order.Status.PAID, None, order.created_at)


def test_a_batch_leaves_an_inactive_buyer_out(clean_redis, make_buyers, make_product):
    buyers = make_buyers(3)
    buyers[1].is_active = False
    buyers[1].save()
    product = make_product(stock_total=5)
    requests = batch_of(buyers, product)
    with transaction.atomic():
        sold = ledger.ledger_sell_many(requests)
    assert set(sold) == {requests[0]["request_id"], requests[2]["request_id"]}
    assert Product.objects.get(pk=product.pk).stock_left == 3 and Order.objects.count() == 2


def test_a_batch_never_takes_more_than_the_stock(clean_redis, make_buyers, make_product):
    """PostgreSQL sells the whole batch or none of it; elsewhere each request in turn until the stock runs out.
    Either way the stock never goes below zero and every unit taken is an order's."""
    from django.db import connection

    product = make_product(stock_total=3)
    requests = batch_of(make_buyers(5), product)
    with transaction.atomic():
        sold = ledger.ledger_sell_many(requests)
    expected = [] if connection.vendor == "postgresql" else [r["request_id"] for r in requests[:3]]
    assert sorted(sold) == sorted(expected)
    assert Product.objects.get(pk=product.pk).stock_left == 3 - len(expected)
    assert sorted(Order.objects.values_list("request_id", flat=True)) == sorted(expected)


def test_a_batch_is_one_statement_on_postgresql(clean_redis, make_buyers, make_product):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    product = make_product(stock_total=10)
    requests = batch_of(make_buyers(6), product)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        assert len(ledger.ledger_sell_many(requests)) == 6
    writes = [q for q in queries.captured_queries if "INSERT" in q["sql"] or "UPDATE" in q["sql"]]
    assert len(writes) == (1 if connection.vendor == "postgresql" else 12)


def test_a_batch_of_two_products_is_refused(clean_redis, make_buyers, make_product):
    first, second = make_product(stock_total=5), make_product(stock_total=5)
    buyers = make_buyers(2)
    with pytest.raises(ValueError), transaction.atomic():
        ledger.ledger_sell_many(batch_of(buyers[:1], first) + batch_of(buyers[1:], second))
