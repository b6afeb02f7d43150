"""Reads of purchase requests and orders."""

from __future__ import annotations

from django.db.models import QuerySet

from seckill.errors import BROKER_ERRORS
from seckill.models import Order
from seckill.outcomes import Outcome
from seckill.redis_store import requests as records
from seckill_site.errors import SeckillError, Unavailable


class RequestNotFound(SeckillError):
    code = "not_found"
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
    if record is None or record.user_id != user_id:
        raise RequestNotFound()
    if record.outcome is not None:
        return Outcome.from_dict(record.outcome)
    fields = dict(request_id=request_id, user_id=user_id, product_id=record.product_id, quantity=record.quantity)
    order = Order.objects.filter(request_id=request_id).only("pk").first()
    if order is not None:  # written, outcome not yet recorded
        return Outcome.success(order_id=order.pk, **fields)
    return Outcome.pending(**fields)


def order_list(*, user_id: int) -> QuerySet[Order]:
    return Order.objects.filter(user_id=user_id).select_related("product")


def order_get(*, user_id: int, order_id: int) -> Order:
    """Raises Order.DoesNotExist for someone else's order too."""
    return order_list(user_id=user_id).get(pk=order_id)


CSV_COLUMNS = (
    "id",
    "request_id",
    "user_id",
    "product_id",
    "quantity",
    "unit_price",
    "status",
    "created_at",
    "pay_by",
    "paid_at",
    "closed_at",
)


def orders_csv_rows(queryset: QuerySet[Order]):
    """The header, then one row per order of `queryset`, read in chunks (a server-side cursor on PostgreSQL):
    memory stays flat however many orders there are."""
    yield CSV_COLUMNS
    yield from queryset.order_by("pk").values_list(*CSV_COLUMNS).iterator(chunk_size=2000)
