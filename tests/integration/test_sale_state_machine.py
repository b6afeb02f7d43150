"""A state machine (Hypothesis) drives the services with random interleavings of purchases, duplicate deliveries,
payments, cancellations, expiry, stock top-ups and reductions, Redis losing the product's keys, and
reconciliation, and checks after every step that the orders, the database's stock and Redis agree and that no
buyer holds two live order_services. Real Redis, the test database (SQLite and PostgreSQL)."""

import itertools
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from products.models import Product
from seckill.catalogue import services as catalogue_services
from seckill.errors import OrderCancelled, OrderExpired, OrderNotFound, OrderPaid, StockConflict
from seckill.gate import stock as gate
from seckill.models import Order
from seckill.ops import reconcile
from seckill.orders import services as order_services
from seckill.purchases.request import PurchaseRequest
from seckill.worker import decisions
from tests.support.invariants import assert_gate_and_ledger_agree

BUYERS = 5
_examples = itertools.count()


class SaleMachine(RuleBasedStateMachine):
    @initialize()
    def open_the_sale(self):
        n = next(_examples)
        User = get_user_model()
        self.buyers = [User.objects.create(username=f"sm{n}-{i}", password="!").pk for i in range(BUYERS)]
        self.product = catalogue_services.product_create(name=f"machine {n}", stock_total=4, per_user_limit=2)
        self.requests: dict[str, tuple[PurchaseRequest, object]] = {}  # request id -> (request, first outcome)

    def _orders(self):
        return Order.objects.filter(product_id=self.product.pk)

    @rule(buyer=st.integers(0, BUYERS - 1), quantity=st.integers(1, 2))
    def buy(self, buyer, quantity):
        purchase = PurchaseRequest(
            request_id=uuid.uuid4().hex, user_id=self.buyers[buyer], product_id=self.product.pk, quantity=quantity
        )
        outcome = decisions.purchase_process(purchase)
        assert outcome.code in ("success", "sold_out", "already_purchased"), outcome
        self.requests[purchase.request_id] = (purchase, outcome)

    @rule(data=st.data())
    def deliver_again(self, data):
        if not self.requests:
            return
        purchase, first = self.requests[data.draw(st.sampled_from(sorted(self.requests)))]
        again = decisions.purchase_process(purchase)
        assert again.code == first.code and again.order_id == first.order_id  # every decision is final

    def _some_order(self, data):
        ids = list(self._orders().values_list("pk", flat=True))
        return data.draw(st.sampled_from(ids)) if ids else None

    @rule(data=st.data())
    def pay(self, data):
        order_id = self._some_order(data)
        if order_id is None:
            return
        before = Order.objects.get(pk=order_id).status
        try:
            assert order_services.order_pay(order_id=order_id).status == Order.Status.PAID
            assert before in (Order.Status.PENDING_PAYMENT, Order.Status.PAID)
        except (OrderExpired, OrderCancelled):
            assert before in (Order.Status.EXPIRED, Order.Status.CANCELLED, Order.Status.PENDING_PAYMENT)

    @rule(data=st.data())
    def cancel(self, data):
        order_id = self._some_order(data)
        if order_id is None:
            return
        before = Order.objects.get(pk=order_id).status
        try:
            assert order_services.order_cancel(order_id=order_id).status == Order.Status.CANCELLED
            assert before in (Order.Status.PENDING_PAYMENT, Order.Status.CANCELLED)
        except (OrderPaid, OrderExpired):
            assert before in (Order.Status.PAID, Order.Status.EXPIRED)
        except OrderNotFound:
            raise AssertionError("an order of this product vanished") from None

    @rule(data=st.data())
    def expire(self, data):
        pending = list(self._orders().filter(status=Order.Status.PENDING_PAYMENT).values_list("pk", flat=True))
        if not pending:
            return
        due = data.draw(st.lists(st.sampled_from(pending), min_size=1, unique=True))
        Order.objects.filter(pk__in=due).update(pay_by=timezone.now() - timedelta(seconds=1))
        assert order_services.orders_expire_due(limit=100) == len(due)

    @rule(units=st.integers(1, 3))
    def top_up(self, units):
        product = Product.objects.get(pk=self.product.pk)
        catalogue_services.product_update(product=product, stock_total=product.stock_total + units)

    @rule(units=st.integers(1, 3))
    def reduce(self, units):
        product = Product.objects.get(pk=self.product.pk)
        try:
            catalogue_services.product_update(product=product, stock_total=product.stock_total - units)
        except StockConflict:
            assert product.stock_left < units or gate.live_stock([product.pk])[product.pk] < units

    @rule()
    def redis_loses_the_product(self):
        gate.forget_product(self.product.pk)  # a restart without persistence, for this product

    @rule()
    def reconcile_and_repair(self):
        reconcile.product_reconcile(product_id=self.product.pk, fix=True)

    @invariant()
    def orders_the_ledger_and_redis_agree(self):
        if not hasattr(self, "product"):
            return
        assert_gate_and_ledger_agree(self.product.pk)
        drift = [d for d in reconcile.product_reconcile(product_id=self.product.pk) if reconcile.is_drift(d)]
        assert drift == [], drift  # and the reconciliation sees nothing to repair either


@pytest.mark.django_db(transaction=True)
def test_random_interleavings_keep_orders_stock_and_redis_in_agreement(clean_redis):
    run_state_machine_as_test(
        SaleMachine,
        settings=hypothesis_settings(
            max_examples=30, stateful_step_count=25, deadline=None, suppress_health_check=list(HealthCheck)
        ),
    )
