"""Orders after the sale (seckill.orders.services): payment, expiry, cancellation, each deciding an order once, and
units that come back to the ledger and the gate exactly once. Real Redis, the test database (SQLite and PostgreSQL)."""

import threading
import time
import uuid
from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from products.models import Product
from seckill.errors import OrderCancelled, OrderExpired, OrderNotFound, OrderPaid
from seckill.gate import stock as gate
from seckill.models import Order
from seckill.orders import services as order_services
from seckill.purchases.request import PurchaseRequest
from seckill.worker import decisions
from tests.support.http import api_client
from tests.support.invariants import assert_gate_and_ledger_agree

pytestmark = pytest.mark.django_db(transaction=True)


def sell(user, product, quantity=1) -> Order:
    outcome = decisions.purchase_process(
        PurchaseRequest(request_id=uuid.uuid4().hex, user_id=user.pk, product_id=product.pk, quantity=quantity)
    )
    assert outcome.code == "success", outcome
    return Order.objects.get(pk=outcome.order_id)


def make_due(*orders_: Order) -> None:
    Order.objects.filter(pk__in=[o.pk for o in orders_]).update(pay_by=timezone.now() - timedelta(seconds=1))


def test_a_paid_order_stays_and_paying_again_answers_the_same(clean_redis, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=3)
    order = sell(user, product)
    paid = order_services.order_pay(order_id=order.pk, user_id=user.pk)
    assert paid.status == Order.Status.PAID and paid.paid_at is not None
    assert order_services.order_pay(order_id=order.pk, user_id=user.pk).paid_at == paid.paid_at
    with pytest.raises(OrderPaid):
        order_services.order_cancel(order_id=order.pk, user_id=user.pk)
    make_due(order)
    assert order_services.orders_expire_due(limit=10) == 0  # a paid order never expires
    assert_gate_and_ledger_agree(product.pk)


def test_someone_elses_order_cannot_be_paid_or_cancelled(clean_redis, make_buyers, make_product):
    owner, other = make_buyers(2)
    order = sell(owner, make_product())
    for action in (order_services.order_pay, order_services.order_cancel):
        with pytest.raises(OrderNotFound):
            action(order_id=order.pk, user_id=other.pk)
    assert Order.objects.get(pk=order.pk).status == Order.Status.PENDING_PAYMENT


def test_cancelling_gives_the_units_back_once_and_the_buyer_may_buy_again(clean_redis, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=2, per_user_limit=2)
    order = sell(user, product, quantity=2)
    assert gate.live_stock([product.pk]) == {product.pk: 0}
    cancelled = order_services.order_cancel(order_id=order.pk, user_id=user.pk)
    assert cancelled.status == Order.Status.CANCELLED and cancelled.gate_released
    assert (
        order_services.order_cancel(order_id=order.pk, user_id=user.pk).closed_at == cancelled.closed_at
    )  # again: same
    assert gate.live_stock([product.pk]) == {product.pk: 2}
    assert Product.objects.get(pk=product.pk).stock_left == 2
    with pytest.raises(OrderCancelled):
        order_services.order_pay(order_id=order.pk, user_id=user.pk)
    assert sell(user, product).status == Order.Status.PENDING_PAYMENT  # bought again
    assert_gate_and_ledger_agree(product.pk)


def test_due_orders_expire_and_a_late_payment_is_refused(clean_redis, make_buyers, make_product):
    users = make_buyers(3)
    product = make_product(stock_total=3)
    due, due_unswept, fresh = (sell(user, product) for user in users)
    make_due(due, due_unswept)
    assert order_services.orders_expire_due(limit=1) == 1  # oldest deadline first, one batch of one
    assert Order.objects.get(pk=due.pk).status == Order.Status.EXPIRED
    with pytest.raises(OrderExpired):
        order_services.order_pay(order_id=due.pk)
    with pytest.raises(OrderExpired):  # past its deadline, not swept yet: the payment expires it
        order_services.order_pay(order_id=due_unswept.pk)
    assert Order.objects.get(pk=fresh.pk).status == Order.Status.PENDING_PAYMENT
    assert gate.live_stock([product.pk]) == {product.pk: 2}
    assert_gate_and_ledger_agree(product.pk)


def race_payment_and_expiry(order_id: int) -> dict:
    """A buyer pays at the moment the deadline passes: the payment and the expiry start together."""
    barrier, results = threading.Barrier(2), {}

    def pay():
        barrier.wait(timeout=10)
        try:
            results["pay"] = order_services.order_pay(order_id=order_id).status
        except OrderExpired:
            results["pay"] = "refused"

    def expire():
        barrier.wait(timeout=10)
        results["expire"] = order_services.orders_close(order_ids=[order_id], status=Order.Status.EXPIRED)

    threads = [threading.Thread(target=pay), threading.Thread(target=expire)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_expiry_racing_a_payment_lets_exactly_one_win(clean_redis, make_buyers, make_product):
    rounds = 20
    users = make_buyers(rounds)
    product = make_product(stock_total=rounds)
    outcomes = []
    for user in users:
        order = sell(user, product)
        results = race_payment_and_expiry(order.pk)
        final = Order.objects.get(pk=order.pk).status
        assert (results["pay"] == "paid") == (results["expire"] == []) == (final == Order.Status.PAID)
        outcomes.append(final)
    paid = outcomes.count(Order.Status.PAID)
    assert paid + outcomes.count(Order.Status.EXPIRED) == rounds
    assert Product.objects.get(pk=product.pk).stock_left == rounds - paid  # each expiry gave its unit once
    assert_gate_and_ledger_agree(product.pk)


def test_two_sweeps_at_once_give_each_order_back_once(clean_redis, make_buyers, make_product):
    count = 60
    users = make_buyers(count)
    product = make_product(stock_total=count)
    make_due(*[sell(user, product) for user in users])
    barrier, expired = threading.Barrier(2), []

    def sweep():
        barrier.wait(timeout=10)
        expired.append(order_services.orders_expire_due(limit=count))

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(expired) == count
    assert Product.objects.get(pk=product.pk).stock_left == count
    assert gate.live_stock([product.pk]) == {product.pk: count}
    assert_gate_and_ledger_agree(product.pk)


def test_units_of_an_order_closed_while_redis_was_down_come_back_with_the_next_sweep(
    clean_redis, make_buyers, make_product, monkeypatch
):
    (user,) = make_buyers(1)
    product = make_product(stock_total=1)
    order = sell(user, product)

    def redis_down(**kwargs):
        raise redis.ConnectionError("down")

    monkeypatch.setattr(gate, "release", redis_down)
    order_services.order_cancel(order_id=order.pk)
    assert not Order.objects.get(pk=order.pk).gate_released
    assert gate.live_stock([product.pk]) == {product.pk: 0}  # the ledger has it back, the gate not yet
    assert_gate_and_ledger_agree(product.pk)  # (on its way: not a disagreement)
    monkeypatch.undo()
    assert order_services.orders_release_to_gate() == 1
    assert order_services.orders_release_to_gate() == 0  # once
    assert gate.live_stock([product.pk]) == {product.pk: 1}
    assert_gate_and_ledger_agree(product.pk)


@pytest.mark.parametrize("demo", [True, False])
def test_the_pay_and_cancel_endpoints(clean_redis, make_buyers, make_product, settings, demo):
    settings.SECKILL_DEMO_PAYMENTS = demo
    owner, other = make_buyers(2)
    product = make_product(stock_total=2)
    first, second = sell(owner, product), sell(other, product)
    response = api_client(owner).post(f"/api/orders/{first.pk}/pay/")
    if not demo:
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
        return
    assert response.status_code == 200 and response.json()["status"] == "paid"
    assert api_client(owner).post(f"/api/orders/{first.pk}/pay/").status_code == 200
    assert api_client(owner).post(f"/api/orders/{second.pk}/cancel/").json()["code"] == "order_not_found"
    assert api_client(owner).post(f"/api/orders/{first.pk}/cancel/").json()["code"] == "order_paid"
    cancelled = api_client(other).post(f"/api/orders/{second.pk}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    refused = api_client(other).post(f"/api/orders/{second.pk}/pay/")
    assert (refused.status_code, refused.json()["code"]) == (409, "order_cancelled")
    detail = api_client(other).get(f"/api/orders/{second.pk}/").json()
    assert detail["status"] == "cancelled" and detail["closed_at"] and detail["pay_by"]
    assert_gate_and_ledger_agree(product.pk)


@pytest.mark.worker
def test_a_sold_out_product_whose_unpaid_orders_expire_sells_exactly_the_units_that_came_back(
    worker, make_buyers, make_product, settings
):
    settings.SECKILL_USER_RATE_RULES = []  # the newcomers retry until the units show
    product = make_product(stock_total=5)
    first = make_buyers(5, prefix="first")
    for user in first:
        assert api_client(user).post("/api/seckill/", {"product_id": product.pk}, format="json").status_code == 200
    early = make_buyers(1, prefix="early")[0]
    refused = api_client(early).post("/api/seckill/", {"product_id": product.pk}, format="json")
    assert refused.json()["code"] == "sold_out"
    make_due(*Order.objects.filter(user__in=first[:3]))
    assert order_services.orders_expire_due(limit=100) == 3
    newcomers = make_buyers(10, prefix="new")
    answers, lock = [], threading.Lock()

    def try_until_decided(user):
        # Within the web process' cache of the sale state (SECKILL_LOCAL_CACHE_TTL) the product may still look
        # sold out; after it, the returned units are on sale. Each buyer tries for a few seconds.
        deadline = time.monotonic() + settings.SECKILL_LOCAL_CACHE_TTL + 5
        while True:
            code = api_client(user).post("/api/seckill/", {"product_id": product.pk}, format="json").json()["code"]
            if code == "success" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        with lock:
            answers.append(code)

    threads = [threading.Thread(target=try_until_decided, args=(user,)) for user in newcomers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert answers.count("success") == 3 and len(answers) == 10
    assert Order.objects.filter(product=product, status__in=Order.LIVE).count() == 5
    assert_gate_and_ledger_agree(product.pk)


@pytest.mark.parametrize("page_size", ["null", "0", "-3", "2.5"])
def test_an_order_page_size_that_is_no_whole_number_is_400(clean_redis, make_buyers, page_size):
    from tests.support.http import api_client

    (user,) = make_buyers(1)
    response = api_client(user).get(f"/api/orders/?page_size={page_size}")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")


def test_a_deactivated_buyers_unexpired_token_is_refused_on_the_order_endpoints(clean_redis, make_buyers, make_product):
    from tests.support.http import api_client
    from tests.support.polling import wait_for

    (user,) = make_buyers(1)
    product = make_product(stock_total=2)
    order = decisions.purchase_process(
        PurchaseRequest(request_id="inactive-1", user_id=user.pk, product_id=product.pk, quantity=1)
    )
    client = api_client(user)  # the token was issued while the account was active
    assert client.get("/api/orders/").status_code == 200
    user.is_active = False
    user.save()
    assert wait_for(lambda: client.get("/api/orders/").status_code == 403, 5)  # every process within a second
    for method, url in [
        ("get", "/api/orders/"),
        ("get", f"/api/orders/{order.order_id}/"),
        ("post", f"/api/orders/{order.order_id}/cancel/"),
        ("get", "/api/seckill/requests/inactive-1/"),
    ]:
        response = getattr(client, method)(url)
        assert (response.status_code, response.json()["code"]) == (403, "user_inactive"), url
    assert Order.objects.get(pk=order.order_id).status == Order.Status.PENDING_PAYMENT
