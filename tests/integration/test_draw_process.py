"""A draw as it runs in production: `celery beat` sends the draw tick, the `celery worker` holds the draw when the
window closes and hands a lapsed winner's unit to the waitlist, and buyers read their results over the API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from products.models import SaleMode
from seckill.models import Draw, Order
from seckill.orders import services as order_services
from tests.support.http import api_client
from tests.support.invariants import assert_gate_and_ledger_agree
from tests.support.polling import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def test_beat_holds_the_draw_at_the_close_and_the_waitlist_gets_a_cancelled_unit(
    worker, beat, make_buyers, make_product, settings
):
    settings.SECKILL_USER_RATE_RULES = ()
    end = timezone.now() + timedelta(seconds=3)
    product = make_product(sale_mode=SaleMode.DRAW, stock_total=2, end_time=end)
    buyers = make_buyers(6)
    for buyer in buyers:
        assert api_client(buyer).post("/api/seckill/", {"product_id": product.pk}, format="json").status_code == 202
    assert wait_for(lambda: Draw.objects.get(product=product).drawn_at is not None, 30), "beat held no draw"
    draw = Draw.objects.get(product=product)
    assert draw.drawn_at >= end and draw.entries_count == 6 and draw.winners == 2
    results = {b.pk: api_client(b).get(f"/api/seckill/{product.pk}/entry/").json() for b in buyers}
    winners = [uid for uid, r in results.items() if r["code"] == "success"]
    first_waiting = next(uid for uid, r in results.items() if r.get("position") == 1)
    assert len(winners) == 2
    order_services.order_cancel(order_id=results[winners[0]]["order_id"])
    handed = Order.objects.filter(product=product, user_id=first_waiting, status=Order.Status.PENDING_PAYMENT)
    assert wait_for(handed.exists, 20), "the waitlist's first entrant got no order"
    assert wait_for(lambda: _agree(product.pk), 10)
    assert_gate_and_ledger_agree(product.pk)


def _agree(product_id) -> bool:
    try:
        assert_gate_and_ledger_agree(product_id)
    except AssertionError:
        return False  # (the gate takes the handed unit right after the commit)
    return True
