"""Data and audit: the products a scenario sells, waiting until nothing is in flight, and the invariants checked
after the run (orders == units sold == stock taken, in the database and in Redis; no buyer with two orders; nothing
pending)."""

from __future__ import annotations

import time


# --- data and audit ---------------------------------------------------------------------------------------
def make_product(stock: int, name: str, gate_buckets: int = 1):
    from seckill.catalogue.services import product_create

    return product_create(name=name, stock_total=stock, price="1.00", per_user_limit=1, gate_buckets=gate_buckets)


def audit(product_id: int, *, gate: bool = True) -> dict:
    """`gate`: the product sold through the Redis gate (not the naive comparator, which never touches it)."""
    from django.db.models import Count

    from products.models import Product
    from seckill.gate import records, stock
    from seckill.models import Order

    product = Product.objects.get(pk=product_id)
    orders = Order.objects.filter(product_id=product_id, status__in=Order.LIVE)
    units = sum(orders.values_list("quantity", flat=True))
    live = stock.live_stock([product_id])[product_id]
    doubles = orders.values("user_id").annotate(n=Count("id")).filter(n__gt=1).count()
    pending = len(records.requests_pending_since(time.time(), 100_000))
    errors = []
    if units != product.stock_total - product.stock_left:
        errors.append(f"ledger: {units} units in orders, {product.stock_total - product.stock_left} taken")
    if gate and live is not None and units != product.stock_total - live:
        errors.append(f"gate: {units} units in orders, {product.stock_total - live} taken in Redis")
    if doubles:
        errors.append(f"{doubles} buyers with two orders")
    if pending:
        errors.append(f"{pending} requests still pending")
    return {
        "orders": orders.count(),
        "units_sold": units,
        "db_stock_left": product.stock_left,
        "redis_stock_left": live if gate else None,
        "buyers_with_two_orders": doubles,
        "pending": pending,
        "errors": errors,
    }


def wait_until_settled(deadline_s=60):
    from seckill.gate import records

    end = time.monotonic() + deadline_s
    while time.monotonic() < end and records.requests_pending_since(time.time(), 1):
        time.sleep(0.2)


def wait_until_released(product_id: int, deadline_s=300) -> float:
    """Seconds until every order of the product is closed and its units are back in the gate."""
    from django.db.models import Q

    from seckill.models import Order

    started = time.monotonic()
    open_ = Q(status=Order.Status.PENDING_PAYMENT) | Q(gate_released=False)
    while Order.objects.filter(open_, product_id=product_id).exists() and time.monotonic() - started < deadline_s:
        time.sleep(0.5)
    return round(time.monotonic() - started, 1)
