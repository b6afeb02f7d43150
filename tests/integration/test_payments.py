"""The payment provider's webhook (seckill.payments): valid, replayed, forged, stale, wrong amount, unknown
order, and a success that comes after the order expired."""

import json
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from seckill import orders, process
from seckill.models import Order, PaymentEvent
from seckill.payments import signature_make
from tests.conftest import api_client, assert_gate_and_ledger_agree

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "whsec-test-0123456789abcdef"
URL = "/api/payments/webhook/"


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.SECKILL_PAYMENT_WEBHOOK_SECRET = SECRET


@pytest.fixture
def order(clean_redis, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=2, price="12.50", per_user_limit=2)
    outcome = process.purchase_process(request_id=uuid.uuid4().hex, user_id=user.pk, product_id=product.pk, quantity=2)
    return Order.objects.get(pk=outcome.order_id)


def call(event: dict, *, secret=SECRET, timestamp=None, signature=None):
    body = json.dumps(event).encode()
    if signature is None:
        signature = signature_make(body=body, secret=secret, timestamp=int(timestamp or time.time()))
    return api_client().post(URL, data=body, content_type="application/json", HTTP_SECKILL_SIGNATURE=signature)


def event(order_id, amount="25.00", event_id=None, status="succeeded"):
    return {"event_id": event_id or f"evt_{uuid.uuid4().hex}", "order_id": order_id, "amount": amount, "status": status}


def test_a_valid_success_pays_the_order_and_a_replay_gets_the_same_answer(order):
    paid = event(order.pk)
    first = call(paid)
    assert first.status_code == 200 and first.json()["code"] == "success"
    assert first.json()["order"]["status"] == "paid"
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID
    again = call(paid)
    assert (again.status_code, again.json()) == (200, first.json())
    assert PaymentEvent.objects.count() == 1


@pytest.mark.parametrize(
    "how, expected",
    [
        ("forged", "invalid_signature"),
        ("missing", "invalid_signature"),
        ("garbled", "invalid_signature"),
        ("stale", "stale_signature"),
        ("wrong_amount", "amount_mismatch"),
    ],
)
def test_a_bad_call_is_refused_with_its_code_and_changes_nothing(order, how, expected):
    if how == "forged":
        response = call(event(order.pk), secret="not-the-secret")
    elif how == "missing":
        response = api_client().post(URL, data=json.dumps(event(order.pk)), content_type="application/json")
    elif how == "garbled":
        response = call(event(order.pk), signature="t=abc,v1=")
    elif how == "stale":
        response = call(event(order.pk), timestamp=time.time() - 6 * 60)
    else:
        response = call(event(order.pk, amount="12.50"))  # one unit's price, the order has two
    assert (response.status_code, response.json()["code"]) == (400, expected)
    assert Order.objects.get(pk=order.pk).status == Order.Status.PENDING_PAYMENT
    assert PaymentEvent.objects.filter(code="success").count() == 0


def test_an_unknown_order_is_404(order):
    response = call(event(order.pk + 1000))
    assert (response.status_code, response.json()["code"]) == (404, "order_not_found")


def test_a_success_after_the_order_expired_is_409_and_kept_for_a_refund(order):
    Order.objects.filter(pk=order.pk).update(pay_by=timezone.now() - timedelta(seconds=1))
    assert orders.orders_expire_due(limit=10) == 1
    late = event(order.pk)
    response = call(late)
    assert (response.status_code, response.json()["code"]) == (409, "order_expired")
    kept = PaymentEvent.objects.get(event_id=late["event_id"])
    assert kept.needs_refund and kept.order_id == order.pk
    assert call(late).json()["code"] == "order_expired"  # the replay: the same answer
    assert Order.objects.get(pk=order.pk).status == Order.Status.EXPIRED
    assert_gate_and_ledger_agree(order.product_id)


def test_a_status_other_than_succeeded_changes_nothing(order):
    response = call(event(order.pk, status="failed"))
    assert response.status_code == 200 and response.json()["code"] == "ignored"
    assert Order.objects.get(pk=order.pk).status == Order.Status.PENDING_PAYMENT


def test_without_a_secret_every_call_is_refused(order, settings):
    settings.SECKILL_PAYMENT_WEBHOOK_SECRET = ""
    assert call(event(order.pk)).json()["code"] == "invalid_signature"


@pytest.mark.parametrize("amount", ["99999999999999", "25.001", "1e400", "NaN", [25]])
def test_an_amount_that_is_no_price_is_400_and_nothing_is_kept(order, amount):
    response = call(event(order.pk, amount=amount))
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")
    assert not PaymentEvent.objects.exists()
    assert Order.objects.get(pk=order.pk).status == Order.Status.PENDING_PAYMENT
