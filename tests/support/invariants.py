"""What the whole system promises about a product once nothing is in flight (orders == sold == stock taken)."""


def assert_gate_and_ledger_agree(product_id: int) -> None:
    """What the whole system promises about a product once nothing is in flight: the ledger's stock plus the
    live orders' units is the total; the gate's stock is the ledger's (less units of closed orders still on their
    way back); the gate's buyers are exactly the holders of live orders; nobody holds two."""
    from django.db.models import Count, Sum

    from products.models import Product
    from seckill.gate import stock as gate
    from seckill.models import Order

    product = Product.objects.get(pk=product_id)
    live = Order.objects.filter(product_id=product_id, status__in=Order.LIVE)
    live_units = live.aggregate(n=Sum("quantity"))["n"] or 0
    assert product.stock_left + live_units == product.stock_total, "ledger: stock_left + live units != total"
    assert not live.values("user_id").annotate(n=Count("id")).filter(n__gt=1).exists(), "a buyer holds two"
    on_its_way = Order.objects.filter(
        product_id=product_id, status__in=(Order.Status.EXPIRED, Order.Status.CANCELLED), gate_released=False
    )
    unreleased = on_its_way.aggregate(n=Sum("quantity"))["n"] or 0
    redis_stock = gate.live_stock([product_id])[product_id]
    if redis_stock is not None:
        assert redis_stock == product.stock_left - unreleased, f"gate {redis_stock} != ledger {product.stock_left}"
        holders = dict(live.values_list("user_id", "request_id")) | dict(
            on_its_way.values_list("user_id", "request_id")
        )
        assert gate.buyers(product_id) == holders, "the gate's buyers are not the holders of live orders"
        from seckill.gate import buckets, keys
        from seckill.gate.client import get_client

        entries = sum(get_client().hlen(keys.buyers(product_id, b)) for b in range(buckets.count(product_id)))
        assert entries == len(holders), "a buyer is in two of the product's buckets"
