"""The payment provider's webhook (seckill.orders.payments): valid, replayed, forged, stale, wrong amount, unknown
order, and a success that comes after the order expired."""

import json
import time
import uuid
from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from products.models import Product
from seckill.models import Order, PaymentEvent
from seckill.orders import services as order_services
from seckill.orders.payments import signature_make
from seckill.purchases.request import PurchaseRequest
from seckill.worker import decisions
from tests.support.http import api_client
from tests.support.invariants import assert_gate_and_ledger_agree

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
    outcome = decisions.purchase_process(
        PurchaseRequest(request_id=uuid.uuid4().hex, user_id=user.pk, product_id=product.pk, quantity=2)
    )
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
    status = 409 if expected == "amount_mismatch" else 400  # (well-formed, but not the order's amount)
    assert (response.status_code, response.json()["code"]) == (status, expected)
    assert Order.objects.get(pk=order.pk).status == Order.Status.PENDING_PAYMENT
    assert PaymentEvent.objects.filter(code="success").count() == 0


def test_an_unknown_order_is_404(order):
    response = call(event(order.pk + 1000))
    assert (response.status_code, response.json()["code"]) == (404, "order_not_found")


def test_a_success_after_the_order_expired_is_409_and_kept_for_a_refund(order):
    Order.objects.filter(pk=order.pk).update(pay_by=timezone.now() - timedelta(seconds=1))
    assert order_services.orders_expire_due(limit=10) == 1
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


@pytest.mark.parametrize("amount", ["99999999999999", "25.001", "1e400", "NaN", [25], 25, "25.00\n", "-25.00", ""])
def test_an_amount_that_is_no_price_is_400_and_nothing_is_kept(order, amount):
    response = call(event(order.pk, amount=amount))
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")
    assert not PaymentEvent.objects.exists()
    assert Order.objects.get(pk=order.pk).status == Order.Status.PENDING_PAYMENT


# --- no money kept silently -------------------------------------------------------------------------------------
def test_a_second_payment_of_a_paid_order_is_kept_for_a_refund(order):
    assert call(event(order.pk)).json()["code"] == "success"
    second = event(order.pk)
    response = call(second)
    assert (response.status_code, response.json()["code"]) == (409, "already_paid")
    assert PaymentEvent.objects.get(event_id=second["event_id"]).needs_refund
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID


@pytest.mark.parametrize("status, refund", [("succeeded", True), ("failed", False)])
def test_money_for_a_wrong_amount_or_an_unknown_order_is_kept_for_a_refund(order, status, refund):
    wrong = event(order.pk, amount="1.00", status=status)
    unknown = event(order.pk + 1000, status=status)
    call(wrong)
    call(unknown)
    kept = {e.event_id: e for e in PaymentEvent.objects.all()}
    assert kept[wrong["event_id"]].needs_refund is refund
    assert kept[unknown["event_id"]].needs_refund is refund
    assert Order.objects.get(pk=order.pk).status == Order.Status.PENDING_PAYMENT


def test_a_cancelled_orders_payment_is_kept_for_a_refund(order):
    order_services.order_cancel(order_id=order.pk)
    paid = event(order.pk)
    response = call({**paid, "paid_at": int(time.time()) - 5})  # made in time: a cancellation is the buyer's own
    assert (response.status_code, response.json()["code"]) == (409, "order_cancelled")
    assert PaymentEvent.objects.get(event_id=paid["event_id"]).needs_refund


def expire(order) -> None:
    Order.objects.filter(pk=order.pk).update(pay_by=timezone.now() - timedelta(seconds=1))
    assert order_services.orders_expire_due(limit=10) == 1


def test_a_payment_made_in_time_that_arrives_after_the_expiry_pays_the_order_after_all(order):
    """A provider retrying after our outage: paid before pay_by, delivered after the order expired and gave its
    units back. The ledger still has them: the order is paid, its units taken back from the ledger and the gate."""
    expire(order)
    pay_by = Order.objects.get(pk=order.pk).pay_by
    assert Order.objects.get(pk=order.pk).gate_released
    late = {**event(order.pk), "paid_at": int(pay_by.timestamp()) - 60}
    response = call(late)
    assert (response.status_code, response.json()["code"]) == (200, "success")
    paid = Order.objects.get(pk=order.pk)
    assert (paid.status, paid.closed_at, paid.paid_at.timestamp()) == (Order.Status.PAID, None, late["paid_at"])
    assert not PaymentEvent.objects.get(event_id=late["event_id"]).needs_refund
    assert Product.objects.get(pk=order.product_id).stock_left == 0
    assert_gate_and_ledger_agree(order.product_id)  # the gate holds the units and the buyer's entry again
    assert call(late).json()["code"] == "success"  # a replay: the same answer, nothing taken twice
    assert_gate_and_ledger_agree(order.product_id)


def test_a_late_payment_of_an_order_whose_units_were_sold_again_is_kept_for_a_refund(order, make_buyers):
    expire(order)
    pay_by = Order.objects.get(pk=order.pk).pay_by
    (other,) = make_buyers(1, prefix="second")
    resold = decisions.purchase_process(
        PurchaseRequest(request_id="resold", user_id=other.pk, product_id=order.product_id, quantity=2)
    )
    assert resold.code == "success"
    late = {**event(order.pk), "paid_at": int(pay_by.timestamp()) - 60}
    response = call(late)
    assert (response.status_code, response.json()["code"]) == (409, "order_expired")
    assert PaymentEvent.objects.get(event_id=late["event_id"]).needs_refund
    assert Order.objects.get(pk=order.pk).status == Order.Status.EXPIRED
    assert_gate_and_ledger_agree(order.product_id)


def test_a_late_payment_of_a_buyer_who_bought_again_is_kept_for_a_refund(order):
    expire(order)
    pay_by = Order.objects.get(pk=order.pk).pay_by
    again = decisions.purchase_process(
        PurchaseRequest(request_id="again", user_id=order.user_id, product_id=order.product_id, quantity=1)
    )
    assert again.code == "success"
    response = call({**event(order.pk), "paid_at": int(pay_by.timestamp()) - 60})
    assert response.json()["code"] == "order_expired"  # one live order per buyer: the first stays expired
    assert Order.objects.get(pk=order.pk).status == Order.Status.EXPIRED
    assert Product.objects.get(pk=order.product_id).stock_left == 1
    assert_gate_and_ledger_agree(order.product_id)


def test_a_payment_made_after_the_deadline_never_pays_an_expired_order(order):
    expire(order)
    pay_by = Order.objects.get(pk=order.pk).pay_by
    response = call({**event(order.pk), "paid_at": int(pay_by.timestamp()) + 1})
    assert response.json()["code"] == "order_expired"
    assert Order.objects.get(pk=order.pk).status == Order.Status.EXPIRED


def test_a_late_payment_before_the_gate_got_the_units_back_takes_nothing_twice(order, monkeypatch):
    """The order expired while Redis was down (its units not back in the gate yet): paid after all, the gate's
    units and entry are where they were."""
    from seckill.gate import stock as gate

    def redis_down(**kwargs):
        raise redis.ConnectionError("down")

    with monkeypatch.context() as outage:
        outage.setattr(gate, "release", redis_down)
        expire(order)
    pay_by = Order.objects.get(pk=order.pk).pay_by
    assert not Order.objects.get(pk=order.pk).gate_released
    response = call({**event(order.pk), "paid_at": int(pay_by.timestamp()) - 1})
    assert response.json()["code"] == "success"
    order_services.orders_release_to_gate()  # the expiry sweep's retry: a paid order is released no more
    assert_gate_and_ledger_agree(order.product_id)


@pytest.mark.parametrize("paid_at", ["yesterday", 1.5, -1, 10**13, True])
def test_a_paid_at_that_is_no_unix_time_is_400(order, paid_at):
    response = call({**event(order.pk), "paid_at": paid_at})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")
    assert not PaymentEvent.objects.exists()


@pytest.mark.parametrize(
    "field, value", [("event_id", "evt\x00nul"), ("status", "succeeded\x00"), ("status", "s" * 33), ("event_id", "")]
)
def test_a_string_a_database_cannot_keep_is_400_not_500(order, field, value):
    response = call({**event(order.pk), field: value})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")
    assert not PaymentEvent.objects.exists()


def test_a_signature_of_non_ascii_text_is_refused_not_a_500(order):
    body = json.dumps(event(order.pk)).encode()
    response = api_client().post(
        URL, data=body, content_type="application/json", HTTP_SECKILL_SIGNATURE=f"t={int(time.time())},v1=é"
    )
    assert (response.status_code, response.json()["code"]) == (400, "invalid_signature")


def test_a_body_over_djangos_upload_limit_is_413_not_500(order, settings):
    """Django refuses to read a body over DATA_UPLOAD_MAX_MEMORY_SIZE (RequestDataTooBig): a 413 with its code, on
    the webhook and on every DRF endpoint (DRF reads request.body to parse JSON)."""
    big = b'{"x": "' + b"a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + b'"}'
    for url in (URL, "/api/auth/token/", "/api/seckill/"):
        response = api_client(order.user).post(url, data=big, content_type="application/json")
        assert (response.status_code, response.json()["code"]) == (413, "payload_too_large"), url
