"""Writes of products. Stock reaches the Redis gate on create and edit, always as a delta on a live counter."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from products.models import Product
from seckill.errors import InvalidRequest
from seckill import redis_store
from seckill.services import stock_gate_change_total, stock_gate_load

DEFAULT_SALE_LENGTH = timedelta(hours=1)
_PLAIN_FIELDS = ("name", "price", "start_time", "end_time", "per_user_limit", "is_enabled")


def _check_window(start_time: datetime, end_time: datetime) -> None:
    if end_time <= start_time:
        raise InvalidRequest(errors={"end_time": ["The sale must end after it starts."]})


def product_create(
    *,
    name: str,
    stock_total: int,
    price: Decimal = Decimal("0"),
    per_user_limit: int = 1,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    is_enabled: bool = True,
) -> Product:
    """Create a product (window defaults: from now, for one hour) and load it into the Redis gate on commit.

    Raises InvalidRequest for a window that ends before it starts.
    """
    start_time = start_time or timezone.now()
    end_time = end_time or start_time + DEFAULT_SALE_LENGTH
    _check_window(start_time, end_time)
    with transaction.atomic():
        product = Product.objects.create(
            name=name,
            price=price,
            stock_total=stock_total,
            stock_left=stock_total,
            per_user_limit=per_user_limit,
            start_time=start_time,
            end_time=end_time,
            is_enabled=is_enabled,
        )
        transaction.on_commit(lambda: stock_gate_load(product_id=product.pk))
    return product


def product_update(*, product: Product, **changes) -> Product:
    """Edit a product. `stock_total` changes go through the gate as a delta (never a SET of the live counter);
    other fields are configuration and are written to Redis as they are.

    Raises InvalidRequest (window), StockConflict (removing sold units).
    """
    unknown = set(changes) - set(_PLAIN_FIELDS) - {"stock_total"}
    if unknown:
        raise InvalidRequest(errors={field: ["Unknown field."] for field in sorted(unknown)})
    plain = {field: changes[field] for field in _PLAIN_FIELDS if field in changes}
    _check_window(plain.get("start_time", product.start_time), plain.get("end_time", product.end_time))
    with transaction.atomic():
        if plain:
            Product.objects.filter(pk=product.pk).update(**plain, updated_at=timezone.now())
        # The stock last: it touches Redis, which a rollback of the other fields could not undo.
        if "stock_total" in changes:
            product = stock_gate_change_total(product=product, stock_total=changes["stock_total"])
        transaction.on_commit(lambda: stock_gate_load(product_id=product.pk))
    product.refresh_from_db()
    return product


def product_delete(*, product: Product) -> None:
    """Delete a product that has no orders (orders protect it) and its keys in the Redis gate, on commit."""
    product_id = product.pk
    with transaction.atomic():
        product.delete()
        transaction.on_commit(lambda: redis_store.forget_product(product_id))
