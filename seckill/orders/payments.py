"""Payments confirmed by a provider's webhook: a signed, replayable notice that an order was paid.

`Seckill-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, keyed by
SECKILL_PAYMENT_WEBHOOK_SECRET (the scheme Stripe and others use). A call that fails the signature, comes too
late, or cannot be read changes nothing and is not kept; every other call is kept by its event id, so a
replay gets the first answer. No money is kept silently: every `succeeded` event that does not pay a pending
order (a second payment of a paid order, a wrong amount, an unknown order, an expired or cancelled one) is kept
with `needs_refund`, which the admin lists until someone refunds it. A payment made before the order's deadline
that arrives after it expired pays it after all while the ledger still has its units (seckill.orders.services).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction

from seckill.errors import (
    AlreadyPaid,
    AmountMismatch,
    InvalidSignature,
    OrderCancelled,
    OrderExpired,
    OrderNotFound,
    StaleSignature,
)
from seckill.models import Order, PaymentEvent
from seckill.orders import services as order_services
from seckill_site.errors import InvalidRequest, SeckillError, answer_codes_register, error_for_code

SUCCEEDED = "succeeded"
IGNORED = "ignored"  # a provider status other than succeeded: kept, nothing changes
answer_codes_register({"success": 200, IGNORED: 200})  # a refusal's status is its error's
# A decimal string below 10^10 (what PaymentEvent.amount holds) with at most 2 decimals: numbers are refused (a
# float is not an amount of money).
AMOUNT = re.compile(r"^[0-9]{1,10}(\.[0-9]{1,2})?$")
MAX_STATUS = 32
MAX_EPOCH = 253402300800  # the year 10000: paid_at beyond it is no date


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
        given = parts["v1"].encode("ascii")  # (compare_digest refuses non-ASCII text with a TypeError)
    except (KeyError, ValueError, OverflowError):  # (UnicodeEncodeError is a ValueError)
        raise InvalidSignature() from None
    expected = signature_make(body=body, secret=secret, timestamp=timestamp).split("v1=", 1)[1]
    if not hmac.compare_digest(expected.encode("ascii"), given):
        raise InvalidSignature()
    now = time.time() if now is None else now
    if abs(now - timestamp) > settings.SECKILL_PAYMENT_WEBHOOK_TOLERANCE:
        raise StaleSignature()


@dataclass(frozen=True)
class PaymentEventIn:
    """A webhook call's body (docs/API.md): what the provider says happened."""

    event_id: str  # the provider's id of the event: replays carry the same
    order_id: int
    amount: Decimal  # what was paid, in the shop's currency
    status: str  # `succeeded`, or anything else (kept, ignored)
    paid_at: datetime | None  # when the payment was made (optional unix time): a late delivery of a payment
    # made in time still pays an order that expired meanwhile


def _event_read(body: bytes) -> PaymentEventIn:
    try:
        data = json.loads(body)
        event_id, order_id, status, amount = data["event_id"], data["order_id"], data["status"], data["amount"]
        paid_at = data.get("paid_at")
    except (ValueError, KeyError, TypeError, RecursionError, AttributeError):
        raise InvalidRequest("The body is not a payment event.") from None
    if not (_text(event_id, 128) and type(order_id) is int and 0 < order_id < 2**63):
        raise InvalidRequest("event_id must be a string of 1 to 128 characters, order_id a positive integer.")
    if not (_text(status, MAX_STATUS) and isinstance(amount, str) and AMOUNT.fullmatch(amount)):
        raise InvalidRequest("status must be a string of 1 to 32 characters, amount a decimal string below 10^10.")
    if paid_at is not None and not (type(paid_at) is int and 0 < paid_at < MAX_EPOCH):
        raise InvalidRequest("paid_at must be a unix time in whole seconds.")
    when = None if paid_at is None else datetime.fromtimestamp(paid_at, tz=UTC)
    return PaymentEventIn(event_id, order_id, Decimal(amount), status, when)


def _text(value, max_length: int) -> bool:
    """A string of 1 to max_length characters that a database can store (no NUL)."""
    return isinstance(value, str) and 0 < len(value) <= max_length and "\x00" not in value


def payment_webhook_receive(*, body: bytes, signature: str | None) -> PaymentAnswer:
    """Check and apply one webhook call. Returns the answer (a replay: the first call's). Raises
    InvalidSignature, StaleSignature, InvalidRequest (nothing kept, nothing changed). Writes the PaymentEvent,
    with `needs_refund` when money was paid that paid no order."""
    signature_verify(body=body, header=signature)
    event = _event_read(body)
    first = PaymentEvent.objects.filter(event_id=event.event_id).first()
    if first is not None:
        return PaymentAnswer(first.code, first.order)
    order = Order.objects.filter(pk=event.order_id).first()
    if order is None:
        code = OrderNotFound.code
    elif event.status != SUCCEEDED:
        code = IGNORED
    elif event.amount != order.amount:
        code = AmountMismatch.code
    else:
        paid, order = order_services.order_pay_by_provider(order_id=order.pk, paid_at=event.paid_at)
        code = "success" if paid else _UNPAID[order.status].code
    try:
        with transaction.atomic():
            PaymentEvent.objects.create(
                event_id=event.event_id,
                order=order,
                order_ref=str(event.order_id),
                amount=event.amount,
                provider_status=event.status,
                paid_at=event.paid_at,
                code=code,
                # money received that paid no order: refund it
                needs_refund=event.status == SUCCEEDED and code != "success",
            )
    except IntegrityError:  # the same event delivered twice at once: the other call's answer stands
        first = PaymentEvent.objects.get(event_id=event.event_id)
        return PaymentAnswer(first.code, first.order)
    return PaymentAnswer(code, order)


# Why a payment of the right amount paid nothing, by the order's status.
_UNPAID = {Order.Status.PAID: AlreadyPaid, Order.Status.EXPIRED: OrderExpired, Order.Status.CANCELLED: OrderCancelled}


def answer_error(answer: PaymentAnswer) -> SeckillError | None:
    """The domain error an answer stands for, None for success and ignored."""
    return None if answer.code in ("success", IGNORED) else error_for_code(answer.code)
