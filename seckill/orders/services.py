"""Orders after the sale: payment, expiry, cancellation.

An order leaves `pending_payment` once: one conditional UPDATE (`... WHERE status = 'pending_payment'`) decides
between a payment, the expiry and a cancellation that race for it, on every database. An order that expires or
is cancelled gives its units back to the ledger in the same transaction, and to the Redis gate right after the
commit (release.lua, once per order: it goes by the buyer's entry, which leaves with the units). If Redis cannot
be reached then, the order stays `gate_released = False` and the next expiry sweep gives them back.

A provider's payment made before the order's deadline that arrives after it expired (the provider retrying after
an outage) pays the order after all if the ledger still has its units: they are taken back in one conditional
UPDATE, and from the gate after the commit (reclaim.lua).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from products.models import Product
from seckill.errors import BROKER_ERRORS, OrderCancelled, OrderExpired, OrderNotFound, OrderPaid
from seckill.gate import stock as gate
from seckill.models import Order

logger = logging.getLogger(__name__)

PENDING, PAID = Order.Status.PENDING_PAYMENT, Order.Status.PAID
EXPIRED, CANCELLED = Order.Status.EXPIRED, Order.Status.CANCELLED
_REFUSAL = {EXPIRED: OrderExpired, CANCELLED: OrderCancelled, PAID: OrderPaid}


def _order_of(order_id: int, user_id: int | None) -> Order:
    orders = Order.objects.filter(pk=order_id)
    if user_id is not None:
        orders = orders.filter(user_id=user_id)
    order = orders.first()
    if order is None:
        raise OrderNotFound()
    return order


def order_pay(*, order_id: int, user_id: int | None = None) -> Order:
    """Mark a pending order paid (`user_id`: only that buyer's). Paying a paid order again returns it unchanged.

    Raises OrderNotFound (someone else's too), OrderExpired (also when its deadline has passed and the sweep has
    not expired it yet: it expires now), OrderCancelled.
    """
    order = _order_of(order_id, user_id)
    _pay_pending(order, paid_at=timezone.now())
    if order.status != PAID:
        raise _REFUSAL[order.status]()
    return order


def order_pay_by_provider(*, order_id: int, paid_at: datetime | None = None) -> tuple[bool, Order]:
    """Apply a payment provider's confirmed payment (`paid_at`: when the provider says it was made, at the latest
    now; None: now). Returns (whether this payment paid the order, the order). It did not when the order was paid
    already (by another payment), was cancelled, or expired: unless the payment was made before its deadline
    and the ledger still has its units, then the expired order is paid after all. Raises OrderNotFound."""
    now = timezone.now()
    paid_at = min(paid_at or now, now)
    order = _order_of(order_id, None)
    if _pay_pending(order, paid_at=paid_at):
        return True, order
    if order.status == EXPIRED and order.pay_by is not None and paid_at < order.pay_by:
        return _pay_expired(order, paid_at=paid_at), order
    return False, order


def _pay_pending(order: Order, *, paid_at) -> bool:
    """Pay `order` if it is pending and `paid_at` is before its deadline; else a pending order past its deadline
    expires now (the payment lost to the expiry). Refreshes `order`; returns whether this paid it."""
    in_time = Q(pay_by__gt=paid_at) | Q(pay_by__isnull=True)
    paid = Order.objects.filter(in_time, pk=order.pk, status=PENDING).update(status=PAID, paid_at=paid_at)
    order.refresh_from_db()
    if order.status == PENDING:  # its deadline passed: the payment loses to the expiry
        orders_close(order_ids=[order.pk], status=EXPIRED, due_by=timezone.now())
        order.refresh_from_db()
    return bool(paid)


def _pay_expired(order: Order, *, paid_at) -> bool:
    """Pay an expired order after all, if the ledger still has its units and the buyer holds no other live order
    of the product: one transaction, the units taken by one conditional UPDATE, the gate's after the commit.
    Refreshes `order`; returns whether it was paid."""
    try:
        with transaction.atomic():
            took = Product.objects.filter(pk=order.product_id, stock_left__gte=order.quantity).update(
                stock_left=F("stock_left") - order.quantity
            )
            if not took or not _reopen_as_paid(order.pk, paid_at):
                raise _NotRevived()
            transaction.on_commit(lambda: _gate_reclaim(order))
    except (_NotRevived, IntegrityError):  # sold meanwhile, or the buyer bought the product again since
        order.refresh_from_db()
        return False
    order.refresh_from_db()
    return True


class _NotRevived(Exception):
    pass


def _reopen_as_paid(order_id: int, paid_at) -> bool:
    """EXPIRED -> PAID, if it still is expired. Its release to the gate, done or not, is moot once it is paid
    (orders_release_to_gate releases closed orders only, under their rows' lock): the gate's units are taken
    back by reclaim.lua, which goes by the buyer's entry."""
    updated = Order.objects.filter(pk=order_id, status=EXPIRED).update(
        status=PAID, paid_at=paid_at, closed_at=None, gate_released=False
    )
    return bool(updated)


def _gate_reclaim(order: Order) -> None:
    try:
        taken = gate.reclaim(
            product_id=order.product_id, user_id=order.user_id, request_id=order.request_id, quantity=order.quantity
        )
    except BROKER_ERRORS:
        logger.error("order %s paid after it expired: its units not taken back from Redis (reconcile)", order.pk)
        return
    if taken in (-1, -2):
        logger.error("order %s paid after it expired: the Redis gate disagrees (%s): reconcile", order.pk, taken)


def order_cancel(*, order_id: int, user_id: int | None = None) -> Order:
    """Cancel an unpaid order and give its units back (`user_id`: only that buyer's). Cancelling a cancelled
    order again returns it unchanged. Raises OrderNotFound, OrderPaid, OrderExpired."""
    orders_close(order_ids=[_order_of(order_id, user_id).pk], status=CANCELLED)
    order = _order_of(order_id, user_id)
    if order.status != CANCELLED:
        raise _REFUSAL[order.status]()
    return order


def orders_expire_due(*, limit: int) -> int:
    """Expire up to `limit` orders whose payment deadline has passed, oldest deadline first; their units go back.
    Returns how many this call expired (a concurrent sweep or payment takes the others)."""
    now = timezone.now()
    due = list(
        Order.objects.filter(status=PENDING, pay_by__lte=now).order_by("pay_by").values_list("pk", flat=True)[:limit]
    )
    return len(orders_close(order_ids=due, status=EXPIRED, due_by=now)) if due else 0


def orders_close(*, order_ids: Iterable[int], status: str, due_by=None) -> list[int]:
    """Move the given orders that are still pending to `status` (EXPIRED or CANCELLED; with `due_by`, only those
    due by then), give their units back to the ledger in the same transaction and to the gate after the commit.
    Returns the ids this call closed: each order is closed by one call only, whoever else tries at once."""
    ids = list(order_ids)
    if not ids:
        return []
    with transaction.atomic():
        _lock_products_of(ids)
        closed = _close_pending(ids, status, due_by)
        units: dict[int, int] = defaultdict(int)
        for _, product_id, _, _, quantity in closed:
            units[product_id] += quantity
        for product_id, quantity in units.items():
            Product.objects.filter(pk=product_id).update(stock_left=F("stock_left") + quantity)
        if closed:
            transaction.on_commit(lambda: orders_release_to_gate(order_ids=[row[0] for row in closed]))
    return [row[0] for row in closed]


def _lock_products_of(order_ids: list[int]) -> None:
    """The rows of these orders' products, locked in id order: every writer of orders takes its product's row
    first (a sale, a late payment, a release, reconciliation), so that none waits on another in a circle."""
    product_ids = set(Order.objects.filter(pk__in=order_ids).values_list("product_id", flat=True))
    list(Product.objects.select_for_update().filter(pk__in=product_ids).order_by("pk").values_list("pk", flat=True))


def _close_pending(ids: list[int], status: str, due_by) -> list[tuple]:
    """One UPDATE ... RETURNING: the (id, product, user, request id, quantity) of the orders it closed."""
    q = connection.ops.quote_name
    meta = Order._meta
    column = {name: q(meta.get_field(name).column) for name in ("status", "closed_at", "pay_by", "product", "user")}
    marks = ", ".join(["%s"] * len(ids))
    sql = (
        f"UPDATE {q(meta.db_table)} SET {column['status']} = %s, {column['closed_at']} = %s "
        f"WHERE {q(meta.pk.column)} IN ({marks}) AND {column['status']} = %s"
    )
    params = [status, connection.ops.adapt_datetimefield_value(timezone.now()), *ids, PENDING]
    if due_by is not None:
        sql += f" AND {column['pay_by']} <= %s"
        params.append(connection.ops.adapt_datetimefield_value(due_by))
    sql += (
        f" RETURNING {q(meta.pk.column)}, {column['product']}, {column['user']}, "
        f"{q(meta.get_field('request_id').column)}, {q(meta.get_field('quantity').column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def orders_release_to_gate(*, order_ids: Iterable[int] | None = None, limit: int = 1000) -> int:
    """Give the units of closed orders back to the Redis gate, once: the given orders, or (None) up to `limit`
    closed orders whose release has not happened yet (Redis was down). Returns how many orders were released;
    on a Redis error, logs it and leaves the rest for the next call."""
    closed = Order.objects.filter(status__in=(EXPIRED, CANCELLED), gate_released=False)
    if order_ids is not None:
        closed = closed.filter(pk__in=list(order_ids))
    candidates = list(closed.order_by("product_id").values_list("product_id", "pk")[:limit])
    by_product: dict[int, list[int]] = defaultdict(list)
    for product_id, order_id in candidates:
        by_product[product_id].append(order_id)
    released = 0
    for product_id, order_ids_of_product in by_product.items():
        released += _release_product_orders(product_id, order_ids_of_product)
    return released


def _release_product_orders(product_id: int, order_ids: list[int]) -> int:
    """Release one product's closed orders under the product's and their rows' locks: an expired order paid after
    all meanwhile (order_pay_by_provider) waits for it, or is no longer closed here and keeps its units."""
    with transaction.atomic():
        _lock_products_of(order_ids)
        rows = list(
            Order.objects.select_for_update()
            .filter(pk__in=order_ids, status__in=(EXPIRED, CANCELLED), gate_released=False)
            .order_by("pk")
            .values_list("pk", "user_id", "request_id", "quantity")
        )
        if not rows:
            return 0
        try:
            gate.release(product_id=product_id, orders=[(user, request, qty) for _, user, request, qty in rows])
        except BROKER_ERRORS:
            logger.warning("product %s: %s closed orders not released to Redis yet", product_id, len(rows))
            return 0
        Order.objects.filter(pk__in=[row[0] for row in rows]).update(gate_released=True)
    return len(rows)
