"""Reads of products. The live `stock_left` comes from the Redis gate; the database figure is the fallback."""
from __future__ import annotations

import logging
from datetime import datetime

import redis
from django.db import models
from django.utils import timezone

from products.models import Product
from seckill import redis_store
from seckill.errors import ProductNotFound

logger = logging.getLogger(__name__)

MAX_ID = 2**63 - 1  # the largest primary key a database holds


class ProductStatus(models.TextChoices):
    UPCOMING = "upcoming"
    ACTIVE = "active"
    SOLD_OUT = "sold_out"
    ENDED = "ended"
    DISABLED = "disabled"


def product_status(*, product: Product, stock_left: int, now: datetime | None = None) -> ProductStatus:
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


def product_attach_live_stock(products: list[Product]) -> list[Product]:
    """Set `product.stock_left_live` on each: the gate's figure, or the ledger's where Redis has none."""
    try:
        live = redis_store.live_stock([p.pk for p in products])
    except redis.RedisError:
        logger.warning("Redis unreachable: showing the database's stock figures", exc_info=True)
        live = {}
    for product in products:
        figure = live.get(product.pk)
        product.stock_left_live = product.stock_left if figure is None else figure
    return products


def product_list() -> list[Product]:
    return product_attach_live_stock(list(Product.objects.all()))


def product_get(*, product_id: int) -> Product:
    """Raises ProductNotFound."""
    if not 0 < product_id <= MAX_ID:
        raise ProductNotFound()
    try:
        product = Product.objects.get(pk=product_id)
    except Product.DoesNotExist:
        raise ProductNotFound() from None
    return product
