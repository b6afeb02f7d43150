"""Reconciliation: do the Redis gate and the database ledger agree on each product, and, with `fix`, make them.

Per product, under a short lock on its row (select_for_update; on SQLite the transaction's write lock), which
holds that product's sales for the moment: a sale takes the same lock before Redis decides and keeps it until
its commit, so while the lock is held every sale is in both or in neither. Two things are on their way and are
not drift: units of orders that closed but are not back in Redis yet (`gate_released` False), and a sale Redis
decided whose order is not committed (its task retries) for SECKILL_RECONCILE_GRACE seconds.

Checks: the ledger's `stock_left` + units in live orders == `stock_total`; Redis' buyers == buyers with live
orders; no sale in Redis without its order after the grace; Redis' stock == the ledger's `stock_left`, less what
is on its way. Repairs go by deltas and by the gate's own idempotent steps, never by a SET of a live counter
(docs/traps.md). A product not in Redis is loaded from the ledger (after Redis lost its data).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import transaction

from products.models import Product
from seckill.access.blacklist import blacklist_reconcile
from seckill.gate import operations, records, sync
from seckill.gate import stock as gate
from seckill.models import Order
from seckill.orders import services as order_services
from seckill_site.errors import Unavailable

logger = logging.getLogger(__name__)

CLOSED = (Order.Status.EXPIRED, Order.Status.CANCELLED)


@dataclass
class Drift:
    product_id: int
    check: str  # ledger_stock | not_loaded | buyer_missing | buyer_extra | sold_without_order | stock
    detail: str
    redis: object = None
    ledger: object = None
    fixed: bool = False


def product_reconcile(*, product_id: int, fix: bool = False) -> list[Drift]:
    """Check one product (and repair it with `fix`). Returns what disagreed; a product not loaded in Redis is
    reported as `not_loaded` (not drift: the next request loads it) unless `fix` loads it.
    Raises Product.DoesNotExist, and Redis' errors."""
    with transaction.atomic():
        product = Product.objects.select_for_update().get(pk=product_id)
        return _Reconciler(product, fix).run()


class _Reconciler:
    def __init__(self, product: Product, fix: bool):
        self.product, self.fix, self.pid, self.drift = product, fix, product.pk, []

    def note(self, check: str, detail: str, redis=None, ledger=None, fixed: bool = False) -> None:
        self.drift.append(Drift(self.pid, check, detail, redis, ledger, fixed))

    def run(self) -> list[Drift]:
        live = {
            user: (request, qty)
            for user, request, qty in Order.objects.filter(product_id=self.pid, status__in=Order.LIVE).values_list(
                "user_id", "request_id", "quantity"
            )
        }
        self.ledger(sum(qty for _, qty in live.values()))
        if self.fix:
            order_services.orders_release_to_gate(order_ids=list(self.unreleased().values_list("pk", flat=True)))
        if gate.live_stock([self.pid])[self.pid] is None:
            if not self.fix:
                self.note("not_loaded", "not in Redis: the next request loads it from the ledger")
                return self.drift
            sync.stock_gate_load(product_id=self.pid)
            self.note("not_loaded", "loaded into Redis from the ledger", fixed=True)
        on_its_way = self.buyers(live)
        self.stock(on_its_way)
        return self.drift

    def unreleased(self):
        """Closed orders whose units are not back in Redis yet."""
        return Order.objects.filter(product_id=self.pid, status__in=CLOSED, gate_released=False)

    def ledger(self, live_units: int) -> None:
        expected = self.product.stock_total - live_units
        if self.product.stock_left != expected:
            if self.fix:
                Product.objects.filter(pk=self.pid).update(stock_left=expected)
            self.note(
                "ledger_stock",
                "stock_left + live orders' units != stock_total",
                None,
                self.product.stock_left,
                self.fix,
            )
            if self.fix:
                self.product.stock_left = expected

    def buyers(self, live: dict[int, tuple[str, int]]) -> int:
        """Check the gate's buyers against the live orders; returns the units of sales on their way to the ledger."""
        grace, young_units = settings.SECKILL_RECONCILE_GRACE, 0
        in_redis = gate.buyers(self.pid)
        for user, request in in_redis.items():
            if live.get(user, (None,))[0] == request:
                continue
            order = Order.objects.filter(request_id=request).only("status", "gate_released", "quantity").first()
            if order is not None and order.status in CLOSED:
                if not order.gate_released:
                    continue  # on its way back (the expiry sweep releases it)
                if self.fix:
                    gate.release(product_id=self.pid, orders=[(user, request, order.quantity)])
                self.note(
                    "buyer_extra", f"user {user} held in Redis for closed order {order.pk}", request, None, self.fix
                )
                continue
            record = records.request_get(request, self.pid)
            if order is None and record is not None and time.time() - record.created < grace:
                young_units += record.quantity  # sold in Redis, its commit still to come (or retrying)
                continue
            if self.fix:
                if record is not None:  # undone as the ledger's refusal undoes a sale: units and entry back
                    gate.refuse(
                        product_id=self.pid,
                        request_id=request,
                        user_id=user,
                        quantity=record.quantity,
                        code=Unavailable.code,
                        ledger_refused=True,
                    )
                else:  # no record left to say how many units: the stock check below sets the count right
                    gate.buyer_set(product_id=self.pid, user_id=user, request_id=None)
            self.note(
                "sold_without_order",
                f"user {user}: sold in Redis by {request}, no order in the ledger",
                request,
                None,
                self.fix,
            )
        for user, (request, _) in live.items():  # after the loop above: its repairs may have freed an entry
            if in_redis.get(user) == request:
                continue
            if self.fix:
                gate.buyer_set(product_id=self.pid, user_id=user, request_id=request)
            self.note(
                "buyer_missing",
                f"user {user} holds a live order Redis does not know",
                in_redis.get(user),
                request,
                self.fix,
            )
        return young_units

    def stock(self, young_units: int) -> None:
        unreleased = sum(self.unreleased().values_list("quantity", flat=True))
        expected = self.product.stock_left - unreleased - young_units
        actual = gate.live_stock([self.pid])[self.pid]
        if actual == expected:
            return
        fixed = False
        if self.fix and actual is not None:
            result, _ = gate.adjust_stock(product_id=self.pid, delta=expected - actual)
            fixed = result is gate.AdjustResult.APPLIED
        self.note("stock", f"Redis stock {actual}, the ledger says {expected}", actual, expected, fixed)


def reconcile_all(*, product_id: int | None = None, fix: bool = False) -> dict[int, list[Drift]]:
    """Reconcile every product (or one), keep each report for the admin, and (with `fix`) rebuild the blacklist
    mirror too. Raises Product.DoesNotExist for an unknown `product_id`, and Redis' errors."""
    ids = [product_id] if product_id is not None else list(Product.objects.values_list("pk", flat=True))
    if product_id is not None:
        Product.objects.get(pk=product_id)
    if fix:
        blacklist_reconcile()
    reports, now = {}, time.time()
    for pid in ids:
        try:
            reports[pid] = product_reconcile(product_id=pid, fix=fix)
        except Product.DoesNotExist:  # deleted meanwhile
            continue
    operations.reconcile_report_set(
        {pid: json.dumps({"checked_at": now, "drift": [asdict(d) for d in found]}) for pid, found in reports.items()}
    )
    for pid, found in reports.items():
        for drift in found:
            if drift.check != "not_loaded":
                logger.warning(
                    "reconcile product %s: %s (%s)%s", pid, drift.check, drift.detail, " fixed" if drift.fixed else ""
                )
    return reports


def is_drift(drift: Drift) -> bool:
    """`not_loaded` is the normal state of a product nobody asked for since Redis started: not drift."""
    return drift.check != "not_loaded"


def reconcile_reports(product_ids: list[int]) -> dict[int, dict | None]:
    """The last report of each product ({checked_at, drift}), None where it was never checked."""
    return {pid: json.loads(raw) if raw else None for pid, raw in operations.reconcile_report_get(product_ids).items()}
