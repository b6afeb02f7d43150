"""Worker side: a product's draw, held once when its window closes, and its waitlist (docs/draw.md).

The draw takes the entries from Redis (closing them for good), puts them in the draw's order (seckill/draws/
fairness.py) and, in one transaction under the product's row lock, writes every entry with its rank and sells the
units to the first eligible entrants through the ledger's own statements (worker/ledger.py: never more than the
stock, one live order per buyer). The Draw row's `drawn_at`, set in that transaction, makes it happen once: a
second draw at once waits for the lock and finds it drawn; a draw that failed before its commit left nothing and
runs again at the next tick. After the commit the gate takes the winners' units (take.lua) and forgets the entries.

The waitlist: until the product's waitlist closes, units that come back to the ledger (a winner's order expired
or was cancelled: seckill/orders/services.py) go to the next entrants in the draw's order, under the same lock;
after it they stay in stock.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from products.models import Product, SaleMode
from seckill.draws import fairness
from seckill.draws.fairness import draw_request_id
from seckill.errors import BROKER_ERRORS
from seckill.gate import entries as gate_entries
from seckill.gate import stock as gate
from seckill.models import Draw, DrawEntry, Order
from seckill.orders import services as order_services
from seckill.worker.ledger import ledger_sell_many

logger = logging.getLogger(__name__)

CLOSED = (order_services.EXPIRED, order_services.CANCELLED)
BULK_ROWS = 2000  # entries written a statement (SQLite takes 32,766 parameters a statement; an entry has 4)


@dataclass(frozen=True)
class DrawReport:
    product_id: int
    entries: int
    winners: int
    seconds: float


def draws_due(*, now=None) -> list[int]:
    """Products sold by draw whose window has closed and whose draw has not been held, but those waiting for an
    operator (Draw.gate_lost_at: logged once, when it was noted; the admin and the live page show it)."""
    now = now or timezone.now()
    return list(
        Draw.objects.filter(
            drawn_at__isnull=True,
            gate_lost_at__isnull=True,
            product__sale_mode=SaleMode.DRAW,
            product__end_time__lte=now,
        ).values_list("product_id", flat=True)
    )


def draw_hold(*, product_id: int) -> DrawReport | None:
    """Hold the product's draw, once. Returns what it did, or None when it was held already (or is being held:
    PostgreSQL skips a draw another worker has locked), or cannot be held: the window is still open (by this
    host's clock, or by Redis'), Redis lost the product's data during its entries (logged, for an operator:
    Draw.gate_lost_at), or Redis does not hold it now (never drawn from an empty list). Raises Redis' and the
    database's errors (the next tick retries; nothing was written)."""
    started = time.monotonic()
    with transaction.atomic():
        # The draw's row first, locked for the whole draw (SQLite: the transaction's write lock): a second draw at
        # once neither reads the entries nor orders them again.
        draw = Draw.objects.select_for_update(skip_locked=True).select_related("product").filter(product_id=product_id)
        draw = draw.first()
        if draw is None or draw.drawn_at is not None or not draw.product.is_draw:
            return None
        if timezone.now() < draw.product.end_time:
            return None
        if draw.gate_lost_at is not None:
            logger.error("draw of product %s waits: Redis lost its data during the entries (docs/draw.md)", product_id)
            return None
        try:
            entries = gate_entries.entries_close(product_id)
        except gate_entries.EntriesOpen:  # (this host's clock runs ahead of Redis')
            return None
        if entries is None:
            logger.error("draw of product %s not held: Redis does not hold its entries (data lost?)", product_id)
            return None
        users = _existing_users(entries)  # (an account deleted since it entered has no entry left)
        codes = {code: user for user, code in entries.items() if user in users}
        ranked = [(rank, codes[code], code) for rank, code in enumerate(fairness.draw_order(draw.seed, codes))]
        product = Product.objects.select_for_update().get(pk=product_id)
        units = product.stock_left
        sold, next_rank = _sell_in_order(product, ranked, 0)
        DrawEntry.objects.bulk_create(
            [
                DrawEntry(draw=draw, user_id=user, code=code, rank=rank, order_id=sold.get(code))
                for rank, user, code in ranked
            ],
            batch_size=BULK_ROWS,
        )
        draw.entries_digest = fairness.entries_digest(codes)
        draw.entries_count, draw.units, draw.winners, draw.next_rank = len(codes), units, len(sold), next_rank
        draw.passed_over = next_rank - len(sold)
        draw.drawn_at, draw.gate_synced = timezone.now(), False
        draw.draw_seconds = time.monotonic() - started
        draw.save()
        transaction.on_commit(lambda: gate_sync(product_id=product_id, forget_entries=True))
    logger.info("draw of product %s: %s entries, %s winners", product_id, len(codes), len(sold))
    return DrawReport(product_id, len(codes), len(sold), time.monotonic() - started)


def _existing_users(entries: dict[int, str]) -> set[int]:
    user_ids, found = list(entries), set()
    for i in range(0, len(user_ids), 10_000):
        found.update(get_user_model().objects.filter(pk__in=user_ids[i : i + 10_000]).values_list("pk", flat=True))
    return found


def _sell_in_order(product: Product, ranked: list[tuple[int, int, str]], first: int) -> tuple[dict[str, int], int]:
    """Sell the product's free units (its ledger's stock_left; its row locked by the caller) to the entrants of
    `ranked` (rank, user id, code) from rank `first` on, one each, in rank order: an entrant the ledger refuses
    (inactive) or who holds a live order of the product already is passed over. Returns the orders made (code ->
    order id) and the rank of the next entrant not yet reached."""
    free = Product.objects.filter(pk=product.pk).values_list("stock_left", flat=True).get()
    holders = set(Order.objects.filter(product_id=product.pk, status__in=Order.LIVE).values_list("user_id", flat=True))
    sold: dict[str, int] = {}
    at = first
    while free > 0 and at < len(ranked):
        batch = [(rank, user, code) for rank, user, code in ranked[at : at + free] if user not in holders]
        at += min(free, len(ranked) - at)
        if not batch:
            continue
        made = ledger_sell_many(
            [
                dict(request_id=draw_request_id(product.pk, code), user_id=user, product_id=product.pk, quantity=1)
                for _, user, code in batch
            ]
        )
        for _, user, code in batch:
            order_id = made.get(draw_request_id(product.pk, code))
            if order_id is not None:
                sold[code] = order_id
                holders.add(user)
                free -= 1
    return sold, at


def gate_sync(*, product_id: int, forget_entries: bool = False) -> bool:
    """After a commit of the draw's orders (the draw's, the waitlist's), the gate takes their units (its stock and
    buyers stay the ledger's: take.lua, once per order) and, after the draw, forgets the entries the ledger now
    holds; then Draw.gate_synced. On a Redis error the draw tick tries again (draws_unsynced). Returns whether it
    was done."""
    live = Order.objects.filter(product_id=product_id, status__in=Order.LIVE, request_id__contains="-draw-")
    orders = [
        (user, request_id, quantity)
        for user, request_id, quantity in live.values_list("user_id", "request_id", "quantity")
    ]
    try:
        taken = gate.take(product_id=product_id, orders=orders)
        if forget_entries:
            gate_entries.entries_forget(product_id)
    except BROKER_ERRORS:
        logger.warning("product %s: the draw's orders not in Redis yet (the next tick)", product_id, exc_info=True)
        return False
    if taken == -9:
        logger.warning("product %s not in Redis: its next load counts the draw's orders", product_id)
    Draw.objects.filter(product_id=product_id).update(gate_synced=True)
    return True


def draws_unsynced() -> list[int]:
    """Drawn products whose orders Redis has not been told of yet (its error after a commit)."""
    return list(Draw.objects.filter(drawn_at__isnull=False, gate_synced=False).values_list("product_id", flat=True))


def waitlists_open(*, now=None) -> list[int]:
    """Drawn products whose waitlist is open and has entrants left, with units back in the ledger."""
    now = now or timezone.now()
    drawn = Draw.objects.filter(
        drawn_at__isnull=False, next_rank__lt=F("entries_count"), product__stock_left__gt=0
    ).select_related("product")
    return [draw.product_id for draw in drawn if now < draw.product.waitlist_closes]


def waitlist_refill(*, product_id: int) -> int:
    """Hand the units back in the ledger to the next entrants of the draw's order, while the waitlist is open,
    under the product's row lock: each unit once, whoever else runs at once. Returns the orders made."""
    with transaction.atomic():
        product = Product.objects.select_for_update().get(pk=product_id)
        draw = Draw.objects.select_for_update().get(product_id=product_id)
        if draw.drawn_at is None or timezone.now() >= product.waitlist_closes or product.stock_left <= 0:
            return 0
        waiting = list(
            DrawEntry.objects.filter(draw=draw, rank__gte=draw.next_rank)
            .order_by("rank")
            .values_list("rank", "user_id", "code")[: product.stock_left * 4 + 16]
        )
        if not waiting:
            return 0
        # The units came back from closed orders: the gate gets them first (as each expiry or cancellation gives
        # them after its commit, which may not have happened yet), so that the new orders take them after ours.
        # (release.lua goes by the buyer's entry: done again after a rollback, or by the order's own release, it
        # gives nothing twice)
        closed = Order.objects.filter(product_id=product_id, status__in=CLOSED, gate_released=False)
        order_services.orders_release_to_gate(order_ids=list(closed.values_list("pk", flat=True)))
        sold, reached = _sell_in_order(product, waiting, 0)
        next_rank = waiting[reached - 1][0] + 1 if reached else draw.next_rank
        for code, order_id in sold.items():
            DrawEntry.objects.filter(draw=draw, code=code).update(order_id=order_id)
        Draw.objects.filter(pk=draw.pk).update(next_rank=next_rank)
        Draw.objects.filter(pk=draw.pk).update(gate_synced=False)
        transaction.on_commit(lambda: gate_sync(product_id=product_id))
    if sold:
        logger.info("waitlist of product %s: %s units handed on", product_id, len(sold))
    return len(sold)
