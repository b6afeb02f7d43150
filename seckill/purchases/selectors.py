"""Reads of purchase requests: a request's outcome."""

from __future__ import annotations

from rest_framework import status

from seckill.errors import BROKER_ERRORS
from seckill.gate import keys, records
from seckill.models import Order
from seckill.purchases.outcomes import Outcome
from seckill.purchases.request import PurchaseRequest
from seckill_site.errors import SeckillError, Unavailable


class RequestNotFound(SeckillError):
    code = "not_found"
    http_status = status.HTTP_404_NOT_FOUND
    default_detail = "No such purchase request."


def purchase_request_outcome(*, request_id: str, user_id: int) -> Outcome:
    """The outcome of the caller's own request: final once decided, `pending` before.

    Raises RequestNotFound for unknown, expired, or someone else's request ids (no hint which), Unavailable
    when Redis cannot be reached.
    """
    try:
        record = records.request_get(request_id)
    except BROKER_ERRORS as exc:
        raise Unavailable("The outcome cannot be read right now; ask again in a moment.") from exc
    if record is None:  # unknown, expired, or lost with a gate node: the ledger knows a sale's order still
        if keys.request_id_product(request_id) is None:  # no id this service made: no query for it
            raise RequestNotFound()
        order = Order.objects.filter(request_id=request_id, user_id=user_id).only("pk", "product_id", "quantity")
        if (order := order.first()) is None:
            raise RequestNotFound()
        purchase = PurchaseRequest(request_id, user_id, order.product_id, order.quantity)
        return Outcome.success(purchase, order_id=order.pk)
    if record.user_id != user_id:
        raise RequestNotFound()
    if record.outcome is not None:
        return Outcome.from_dict(record.outcome)
    purchase = PurchaseRequest(request_id, user_id, record.product_id, record.quantity)
    order = Order.objects.filter(request_id=request_id).only("pk").first()
    if order is not None:  # written, outcome not yet recorded
        return Outcome.success(purchase, order_id=order.pk)
    return Outcome.pending(purchase)
