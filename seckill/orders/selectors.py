"""Reads of orders: a buyer's, and the admin's export."""

from __future__ import annotations

from django.db.models import QuerySet

from seckill.models import Order


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
