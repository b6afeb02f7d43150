"""The stock gate's upkeep: keep Redis (the gate) in step with the database (the ledger), always by deltas.

Never SET a live counter: it runs ahead of the database, and overwriting it with the lagging figure would
oversell (docs/traps.md).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from products.models import Product
from products.selectors import product_get
from seckill.errors import BROKER_ERRORS, StockConflict
from seckill.gate import stock as gate
from seckill.gate.stock import AdjustResult
from seckill.models import Draw, Order
from seckill_site.errors import Unavailable

logger = logging.getLogger(__name__)


def stock_gate_load(*, product_id: int) -> bool:
    """Write the product's window into Redis and, if Redis holds no live counter, its stock and buyers.

    Never overwrites a live counter (load.lua). Raises ProductNotFound. Returns True if stock was loaded.
    """
    product = product_get(product_id=product_id)
    live_buyers = Order.objects.filter(product_id=product_id, status__in=Order.LIVE).values_list(
        "user_id", "request_id"
    )
    loaded = gate.load_product(
        product_id=product.pk,
        stock_left=product.stock_left,
        enabled=product.is_enabled,
        start_time=product.start_time,
        end_time=product.end_time,
        per_user_limit=product.per_user_limit,
        live_buyers=list(live_buyers),
        buckets=product.gate_buckets,
        anti_bot=product.anti_bot,
        pace=product.max_admissions_per_second,
        mode=product.sale_mode,
    )
    if product.is_draw:
        _draw_gate_loaded(product, loaded)
    return loaded


def _draw_gate_loaded(product: Product, loaded: bool) -> None:
    """A draw's entries live only in Redis until its draw. Redis loading the product's stock again after it first
    held it (the counter was gone: its data lost) once entries could have been made means some may be lost: the
    draw then waits for an operator (Draw.gate_lost_at, docs/draw.md)."""
    now = timezone.now()
    first = Draw.objects.filter(product_id=product.pk, gate_loaded_at__isnull=True).update(gate_loaded_at=now)
    if loaded and not first and now >= product.start_time:
        lost = Draw.objects.filter(product_id=product.pk, drawn_at__isnull=True, gate_lost_at__isnull=True)
        if lost.update(gate_lost_at=now):
            logger.error("draw of product %s: Redis lost its data during the entries; the draw waits", product.pk)


def stock_gate_change_total(*, product: Product, stock_total: int) -> Product:
    """Set a product's total stock: the ledger now, the live counter by the same delta once that commits.

    Under the product's row lock, which holds its sales: a removal is checked against the units the gate has
    not sold, and nothing reaches Redis before the commit (a transaction that rolls back leaves the gate as it
    was). Between the commit and the gate's delta a sale may still take a unit being removed: the ledger, which
    already has the smaller figure, refuses it, so that undersells for a moment and never oversells.
    Raises StockConflict when more units would go than are unsold, Unavailable when Redis cannot tell how many
    are (a removal). Returns the refreshed product.
    """
    delta = stock_total - product.stock_total
    if delta == 0:
        return product
    if stock_total < 0:
        raise StockConflict("Stock cannot be negative.")
    with transaction.atomic():
        # The row lock first: it holds this product's sales (each takes it before Redis decides) and its
        # reconciliation.
        Product.objects.select_for_update().only("pk").get(pk=product.pk)
        if delta < 0:
            try:
                unsold = gate.live_stock([product.pk])[product.pk]
            except BROKER_ERRORS as exc:  # the removal cannot be checked against the gate: change nothing
                raise Unavailable() from exc
            if unsold is not None and unsold < -delta:
                raise StockConflict(f"Only {unsold} unsold units can be removed.")
        # Only if nobody changed the total since `product` was read: two edits from 10 to 15 must not make 20.
        updated = Product.objects.filter(
            pk=product.pk, stock_total=product.stock_total, stock_left__gte=max(0, -delta)
        ).update(stock_total=F("stock_total") + delta, stock_left=F("stock_left") + delta)
        if not updated:
            raise StockConflict("The stock changed meanwhile, or more units would go than are unsold.")
        transaction.on_commit(lambda: _gate_apply(product.pk, delta))
    product.refresh_from_db()
    return product


def _gate_apply(product_id: int, delta: int) -> None:
    try:
        result, stock = gate.adjust_stock(product_id=product_id, delta=delta)
        if result is AdjustResult.NOT_LOADED:
            stock_gate_load(product_id=product_id)  # reads the ledger, which already holds the delta
        elif result is AdjustResult.INSUFFICIENT:  # sold meanwhile (the ledger refuses those sales)
            logger.error(
                "product %s: %+d units not applied to the Redis gate (it has %s): reconcile", product_id, delta, stock
            )
    except BROKER_ERRORS:
        # The ledger has the change, the gate not: reconciliation (beat reports it) repairs it by the delta.
        logger.error("product %s: %+d units committed but not applied to the Redis gate", product_id, delta)
