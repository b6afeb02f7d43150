"""Reads of products, from the database. (The live stock of a sale is the sale's: seckill.catalogue.services.)"""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import QuerySet
from django.utils import timezone

from products.errors import ProductNotFound
from products.models import Product

MAX_ID = 2**63 - 1  # the largest primary key a database holds


class ProductStatus(models.TextChoices):
    UPCOMING = "upcoming"
    ACTIVE = "active"
    SOLD_OUT = "sold_out"
    ENDED = "ended"
    DISABLED = "disabled"


def product_status(*, product: Product, stock_left: int, now: datetime | None = None) -> ProductStatus:
    """The product's status given its stock left (the caller's figure: the ledger's, or the gate's)."""
    now = now or timezone.now()
    if not product.is_enabled:
        return ProductStatus.DISABLED
    if now < product.start_time:
        return ProductStatus.UPCOMING
    if now >= product.end_time:
        return ProductStatus.ENDED
    if stock_left <= 0:
        return ProductStatus.SOLD_OUT
    return ProductStatus.ACTIVE


def product_list() -> QuerySet[Product]:
    return Product.objects.all()


def product_list_not_ended(*, now) -> QuerySet[Product]:
    """Enabled products whose sale has not ended at `now`, the soonest start first."""
    return Product.objects.filter(end_time__gt=now, is_enabled=True).order_by("start_time", "id")


def product_get(*, product_id: int) -> Product:
    """Raises ProductNotFound."""
    if not 0 < product_id <= MAX_ID:
        raise ProductNotFound()
    try:
        return Product.objects.get(pk=product_id)
    except Product.DoesNotExist:
        raise ProductNotFound() from None
