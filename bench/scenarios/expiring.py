"""With --expiring N: unpaid orders that come due as a flood starts, expired by beat meanwhile."""

from __future__ import annotations

from bench.audit import make_product


def due_orders(args, report, product_ids) -> None:
    """With --expiring N: N unpaid orders of a product of their own come due now, so that beat's expiry sweep
    works through them (each order's units back to the ledger and the gate) while the next flood runs."""
    if not args.expiring:
        return
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from products.models import Product
    from seckill.gate.sync import stock_gate_load
    from seckill.models import Order

    User = get_user_model()
    if User.objects.filter(username__startswith="due").count() < args.expiring:
        User.objects.bulk_create(
            [User(username=f"due{i:07d}", password="!") for i in range(args.expiring)], batch_size=5000
        )
    users = list(User.objects.filter(username__startswith="due").values_list("pk", flat=True)[: args.expiring])
    product = make_product(args.expiring, f"expiring-{len(product_ids)}")
    far = timezone.now() + timedelta(days=1)
    Order.objects.bulk_create(
        [
            Order(
                request_id=f"due-{product.pk}-{uid}", user_id=uid, product=product, quantity=1, unit_price=1, pay_by=far
            )
            for uid in users
        ],
        batch_size=5000,
    )
    Product.objects.filter(pk=product.pk).update(stock_left=0)
    stock_gate_load(product_id=product.pk)  # (a live counter is never overwritten: this one is new)
    Order.objects.filter(product=product).update(pay_by=timezone.now())
    product_ids[f"expiring-{len(product_ids)}"] = product.pk
    report.setdefault("expiring", []).append({"product_id": product.pk, "orders": args.expiring})
