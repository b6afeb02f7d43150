"""The catalogue as the sale sees it: product writes that keep the Redis gate in step, and reads that show the
gate's live stock. The product API, the admin and the commands go through here, never around it."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from products import selectors, services
from products.models import Product, SaleMode
from seckill.draws import fairness
from seckill.errors import BROKER_ERRORS, SaleStarted
from seckill.gate import stock as gate
from seckill.gate.sync import stock_gate_change_total, stock_gate_load
from seckill.models import Draw, Order
from seckill_site.errors import Unavailable

logger = logging.getLogger(__name__)


def product_create(**fields) -> Product:
    """Create a product (products.services.product_create) and load it into the Redis gate on commit.
    Raises InvalidRequest."""
    with transaction.atomic():
        product = services.product_create(**fields)
        _draw_prepare(product.pk)
        transaction.on_commit(lambda: _gate_load(product.pk))
    return product


def product_update(*, product: Product, **changes) -> Product:
    """Edit a product. The sale's configuration (window, enabled, limit) is written to Redis before the commit: if
    Redis cannot take it, nothing changes (Unavailable), since a sale disabled in the database but not in the gate
    would go on selling. A `stock_total` change reaches the gate as a delta after the commit (never a SET of the
    live counter).

    `gate_buckets` and `sale_mode` may change only before the sale starts and while it has no orders (the gate is
    then loaded again in the new buckets; a product becoming a draw gets its seed: _draw_prepare).

    Raises InvalidRequest (unknown field, window, a draw in buckets), SaleStarted (buckets or mode changed once the
    sale started, a draw's window once it ended), StockConflict (removing sold units), Unavailable (Redis).
    """
    stock_total = changes.pop("stock_total", None)
    rebucket = changes.get("gate_buckets", product.gate_buckets) != product.gate_buckets
    for field in ("gate_buckets", "sale_mode"):
        if changes.get(field, getattr(product, field)) != getattr(product, field) and _sale_began(product):
            raise SaleStarted(errors={field: ["Set before the sale starts."]})
    if product.is_draw and product.end_time <= timezone.now():  # its entries are closed: the draw's time stands
        for field in ("start_time", "end_time"):
            if changes.get(field, getattr(product, field)) != getattr(product, field):
                raise SaleStarted(errors={field: ["A draw's window is fixed once it has ended."]})
    with transaction.atomic():
        services.product_update_plain(product=product, **changes)
        _draw_prepare(product.pk)
        # The stock last: it touches Redis, which a rollback of the other fields could not undo.
        if stock_total is not None:
            product = stock_gate_change_total(product=product, stock_total=stock_total)
        if changes:
            _gate_configure(product.pk)
        transaction.on_commit(lambda: _gate_load(product.pk, reload=rebucket))
    product.refresh_from_db()
    return product


def _sale_began(product: Product) -> bool:
    return product.start_time <= timezone.now() or Order.objects.filter(product_id=product.pk).exists()


def _draw_prepare(product_id: int) -> None:
    """A product sold by draw has its Draw: the secret seed, drawn once, whose SHA-256 the product's draw page shows
    from then on (docs/draw.md). Kept if the product goes back to first come (and reused if it becomes a draw
    again: its commitment may have been seen)."""
    if Product.objects.filter(pk=product_id, sale_mode=SaleMode.DRAW).exists():
        seed = fairness.seed_new()
        Draw.objects.get_or_create(
            product_id=product_id, defaults={"seed": seed, "seed_sha256": fairness.seed_commitment(seed)}
        )


def _gate_configure(product_id: int) -> None:
    """The product's sale configuration, as this transaction wrote it, into the gate. Raises Unavailable."""
    row = Product.objects.get(pk=product_id)
    try:
        gate.meta_set(
            product_id=product_id,
            enabled=row.is_enabled,
            start_time=row.start_time,
            end_time=row.end_time,
            per_user_limit=row.per_user_limit,
            anti_bot=row.anti_bot,
            pace=row.max_admissions_per_second,
            mode=row.sale_mode,
        )
    except BROKER_ERRORS as exc:
        raise Unavailable() from exc


def product_delete(*, product: Product) -> None:
    """Delete a product that has no orders, and its keys in the Redis gate on commit."""
    product_id = product.pk
    with transaction.atomic():
        Draw.objects.filter(product_id=product_id, drawn_at__isnull=True).delete()  # (a held draw keeps it)
        services.product_delete(product=product)
        transaction.on_commit(lambda: _gate_forget(product_id))


def _gate_load(product_id: int, *, reload: bool = False) -> None:
    """The product's window and, unless the gate has a live counter, its stock, after the commit. With Redis down
    a new product is loaded by its first request once Redis is back. `reload`: forgotten first (its buckets
    changed before its sale: nothing is sold, the ledger's figure is the gate's)."""
    try:
        if reload:
            gate.forget_product(product_id)
        stock_gate_load(product_id=product_id)
    except BROKER_ERRORS:
        logger.warning("product %s saved, not loaded into Redis (unreachable)", product_id, exc_info=True)


def _gate_forget(product_id: int) -> None:
    try:
        gate.forget_product(product_id)
    except BROKER_ERRORS:  # its sales refuse it anyway (the ledger has no such product)
        logger.error("product %s deleted, its Redis keys not (unreachable)", product_id, exc_info=True)


def product_attach_live_stock(products: list[Product]) -> list[Product]:
    """Set `product.stock_left_live` on each: the gate's figure, or the ledger's where Redis has none."""
    try:
        live = gate.live_stock([p.pk for p in products])
    except BROKER_ERRORS:
        logger.warning("Redis unreachable: showing the database's stock figures", exc_info=True)
        live = {}
    for product in products:
        figure = live.get(product.pk)
        product.stock_left_live = product.stock_left if figure is None else figure
    return products


def product_get_live(*, product_id: int) -> Product:
    """The product with its live stock. Raises ProductNotFound."""
    return product_attach_live_stock([selectors.product_get(product_id=product_id)])[0]


def product_status_live(product: Product):
    """The product's status by its live stock (product_attach_live_stock first)."""
    return selectors.product_status(product=product, stock_left=product.stock_left_live)
