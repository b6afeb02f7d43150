"""The admin's live sale page: one reading of a product's sale, which the page takes every second or so.

A reading is counters and levels, never rates: the page keeps the readings of the last minutes and draws rates
and latency quantiles from the differences between them, as Prometheus does (a draw's entries a second from its
`entered` answers). One reading costs two database queries (three or four for a draw), one Redis round trip of
reads (and an HLEN of a draw's entries), one LLEN on the broker, a pass over this host's metrics files and a read
of each other host's counters (SECKILL_METRICS_PEERS, in parallel; none of it on the purchase path). With Redis
down it still answers, from the database, and says so.
"""

from __future__ import annotations

import logging
import time

from django.db.models import Count, Q, Sum
from django.utils import timezone

from products import selectors as product_selectors
from seckill.catalogue import services as catalogue_services
from seckill.errors import BROKER_ERRORS
from seckill.gate import admissions, records
from seckill.gate import entries as gate_entries
from seckill.gate import stock as gate
from seckill.models import Draw, DrawEntry, Order
from seckill.ops import heartbeat, metrics, reconcile
from seckill.purchases.enqueue import purchase_queue_length

logger = logging.getLogger(__name__)

S = Order.Status


def product_live_reading(*, product_id: int) -> dict:
    """Raises ProductNotFound."""
    product = product_selectors.product_get(product_id=product_id)
    orders = Order.objects.filter(product_id=product_id).aggregate(
        created=Count("pk"),
        units_live=Sum("quantity", filter=Q(status__in=Order.LIVE), default=0),
        pending_payment=Count("pk", filter=Q(status=S.PENDING_PAYMENT)),
        paid=Count("pk", filter=Q(status=S.PAID)),
        closed=Count("pk", filter=Q(status__in=(S.EXPIRED, S.CANCELLED))),
    )
    reading = {
        "time": time.time(),
        "product": {"id": product.pk, "name": product.name, "stock_total": product.stock_total},
        "ledger_stock_left": product.stock_left,
        "orders": orders,
        **metrics.product_purchase_figures(product_id),
        "redis": "ok",
        "draw": _draw_figures(product) if product.is_draw else None,
    }
    try:
        reading.update(_redis_figures(product_id))
        if reading["draw"] is not None and reading["draw"]["entries"] is None:  # (until the draw, in Redis)
            reading["draw"]["entries"] = gate_entries.entries_count(product_id)
    except BROKER_ERRORS:
        logger.warning("live page: Redis unreachable", exc_info=True)
        reading.update(redis="unreachable", stock_left=None, admission_slots=None, requests_pending=None)
        reading.update(queue_depth=None, workers_live=None, beat_age_s=None, beat="unknown", reconcile=None)
    product.stock_left_live = product.stock_left if reading["stock_left"] is None else reading["stock_left"]
    reading["product"]["status"] = catalogue_services.product_status_live(product).label
    return reading


def _draw_figures(product) -> dict | None:
    """A draw's progress: taking entries, drawing (its window closed, the draw not held yet), drawn (in how long,
    its winners, how many units the waitlist handed on and how far it reached)."""
    draw = Draw.objects.filter(product_id=product.pk).first()
    if draw is None:
        return None
    now = timezone.now()
    figures = {"entries": None, "winners": None, "draw_seconds": None, "handed_on": None, "waitlist_next": None}
    if draw.drawn_at is None:
        state = "upcoming" if now < product.start_time else "taking entries" if now < product.end_time else "drawing"
        if draw.gate_lost_at is not None:  # (docs/draw.md: the draw waits for an operator)
            state += " (Redis lost its data during the entries: the draw waits for an operator)"
        return {"state": state, **figures}
    handed = DrawEntry.objects.filter(draw=draw, order__isnull=False).count() - draw.winners
    waitlist = "waitlist open" if now < product.waitlist_closes else "waitlist closed"
    figures |= {"entries": draw.entries_count, "winners": draw.winners, "draw_seconds": draw.draw_seconds}
    return {"state": f"drawn, {waitlist}", **figures, "handed_on": handed, "waitlist_next": draw.next_rank}


def _redis_figures(product_id: int) -> dict:
    beat_age = heartbeat.beat_age()
    return {
        "stock_left": gate.live_stock([product_id])[product_id],  # None: not loaded (nobody asked yet)
        "admission_slots": admissions.admitted_count(product_id),
        "requests_pending": records.requests_pending_count(),  # all products': the sweeper's backlog
        "queue_depth": purchase_queue_length(),
        "workers_live": heartbeat.live_workers(),
        "beat_age_s": beat_age,
        "beat": heartbeat.beat_state(beat_age),
        "reconcile": reconcile.reconcile_reports([product_id])[product_id],
    }
