"""Payments confirmed by a provider's webhook: a signed, replayable notice that an order was paid.

`Seckill-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, keyed by
SECKILL_PAYMENT_WEBHOOK_SECRET (the scheme Stripe and others use). A call that fails the signature, comes too
late, or cannot be read changes nothing and is not kept; every other call is kept by its event id, so a
replay gets the first answer, and a success that arrives after the order expired or was cancelled stays
visible (`needs_refund`) until someone refunds it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, transaction

from seckill import orders
from seckill.errors import (
    AmountMismatch,
    InvalidSignature,
    OrderCancelled,
    OrderExpired,
    OrderNotFound,
    StaleSignature,
)
from seckill.models import Order, PaymentEvent
from seckill_site.errors import InvalidRequest, SeckillError, error_for_code

SUCCEEDED = "succeeded"
IGNORED = "ignored"  # a provider status other than succeeded: kept, nothing changes
MAX_AMOUNT = Decimal(10) ** 10  # what PaymentEvent.amount holds (12 digits, 2 after the point)


@dataclass(frozen=True)
class PaymentAnswer:
    code: str  # "success", "ignored" or an error code
    order: Order | None


def signature_make(*, body: bytes, secret: str, timestamp: int) -> str:
    """The header value a provider sends for `body` (tests and tools use it too)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def signature_verify(*, body: bytes, header: str | None, now: float | None = None) -> None:
    """Raises InvalidSignature (missing, malformed, no secret configured, or a wrong HMAC) or StaleSignature."""
    secret = settings.SECKILL_PAYMENT_WEBHOOK_SECRET
    if not secret or not header:
        raise InvalidSignature()
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise InvalidSignature() from None
    expected = signature_make(body=body, secret=secret, timestamp=timestamp).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, given):
        raise InvalidSignature()
    now = time.time() if now is None else now
    if abs(now - timestamp) > settings.SECKILL_PAYMENT_WEBHOOK_TOLERANCE:
        raise StaleSignature()


def _event_read(body: bytes) -> tuple[str, int, Decimal, str]:
    try:
        data = json.loads(body)
        event_id, order_id, status = data["event_id"], data["order_id"], data["status"]
        amount = Decimal(str(data["amount"]))
    except (ValueError, KeyError, TypeError, InvalidOperation, RecursionError):
        raise InvalidRequest("The body is not a payment event.") from None
    if not (isinstance(event_id, str) and 0 < len(event_id) <= 128 and type(order_id) is int and 0 < order_id < 2**63):
        raise InvalidRequest("event_id must be a string of 1 to 128 characters, order_id a positive integer.")
    if (
        not isinstance(status, str)
        or not amount.is_finite()
        or abs(amount) >= MAX_AMOUNT  # (first: quantize refuses a number this large)
        or amount != amount.quantize(Decimal("0.01"))
    ):
        raise InvalidRequest("status must be a string, amount a number with at most 2 decimals, below 10^10.")
    return event_id, order_id, amount, status


def payment_webhook_receive(*, body: bytes, signature: str | None) -> PaymentAnswer:
    """Check and apply one webhook call. Returns the answer (a replay: the first call's). Raises
    InvalidSignature, StaleSignature, InvalidRequest (nothing kept, nothing changed)."""
    signature_verify(body=body, header=signature)
    event_id, order_id, amount, status = _event_read(body)
    first = PaymentEvent.objects.filter(event_id=event_id).first()
    if first is not None:
        return PaymentAnswer(first.code, first.order)
    order, code = Order.objects.filter(pk=order_id).first(), "success"
    if order is None:
        code = OrderNotFound.code
    elif status != SUCCEEDED:
        code = IGNORED
    elif amount != order.amount:
        code = AmountMismatch.code
    else:
        try:
            order = orders.order_pay(order_id=order.pk)
        except SeckillError as refusal:  # expired or cancelled: the money came too late
            code = refusal.code
    try:
        with transaction.atomic():
            PaymentEvent.objects.create(
                event_id=event_id,
                order=order,
                order_ref=str(order_id),
                amount=amount,
                provider_status=status[:32],
                code=code,
                needs_refund=code in (OrderExpired.code, OrderCancelled.code),
            )
    except IntegrityError:  # the same event delivered twice at once: the other call's answer stands
        first = PaymentEvent.objects.get(event_id=event_id)
        return PaymentAnswer(first.code, first.order)
    return PaymentAnswer(code, order)


def answer_error(answer: PaymentAnswer) -> SeckillError | None:
    """The domain error an answer stands for, None for success and ignored."""
    return None if answer.code in ("success", IGNORED) else error_for_code(answer.code)
