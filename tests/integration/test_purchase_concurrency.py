"""No oversell, no duplicates, no reply to the wrong request: many buyers at once against the real servers.

Runs on whatever database the suite runs on; the test command runs the suite on SQLite and on PostgreSQL.
"""

import threading
from collections import Counter

import pytest
from django.db import connections
from django.db.models import Count

from products.models import Product
from seckill.gate import keys
from seckill.gate import stock as gate
from seckill.models import Order
from tests.support.http import api_client, final_response, post_until_admitted

pytestmark = pytest.mark.worker

BUYERS = 220
RETRIERS = 60  # buyers who fire a second request at the same moment (a double click), then one more later
STOCK = 50


def test_burst_sells_exactly_the_stock_once_per_buyer(worker, make_buyers, make_product, redis_client):
    users = make_buyers(BUYERS)
    product = make_product(stock_total=STOCK, per_user_limit=1)
    shots = [(user, 0) for user in users] + [(user, 1) for user in users[:RETRIERS]]
    barrier = threading.Barrier(len(shots))
    answers, errors, lock = [], [], threading.Lock()

    def fire(user, shot):
        try:
            client = api_client(user)
            barrier.wait(timeout=60)
            response = post_until_admitted(client, product)
            response = final_response(client, response)
            with lock:
                answers.append((user.pk, shot, response.status_code, response.json()))
        except Exception as exc:  # surfaced below, never lost in a thread
            with lock:
                errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=fire, args=shot) for shot in shots]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert len(answers) == len(shots)

    # Every reply is this request's own: its user, its own request id, never seen by another request.
    # (Requests the access layer turned away before the broker carry no request id.)
    decided_by_worker = [(user_id, body) for user_id, _, _, body in answers if "request_id" in body]
    assert len(decided_by_worker) >= STOCK
    for user_id, body in decided_by_worker:
        assert body["user_id"] == user_id, body
    request_ids = [body["request_id"] for *_, body in answers if "request_id" in body]
    assert len(request_ids) == len(set(request_ids))

    codes = Counter((status, body["code"]) for _, _, status, body in answers)
    assert set(codes) <= {(200, "success"), (409, "sold_out"), (409, "already_purchased")}, codes
    assert codes[(200, "success")] == STOCK

    # Retriers who won try once more and are told they already bought.
    winners = {user_id for user_id, _, status, _ in answers if status == 200}
    for user in [u for u in users[:RETRIERS] if u.pk in winners][:10]:
        again = api_client(user).post("/api/seckill/", {"product_id": product.pk}, format="json")
        assert again.status_code == 409 and again.json()["code"] in {"already_purchased", "sold_out"}

    # The invariant, afterwards: orders == units sold == stock taken, in the ledger and in the gate.
    assert Order.objects.filter(product=product).count() == STOCK
    assert set(Order.objects.filter(product=product).values_list("user_id", flat=True)) == winners
    assert not Order.objects.values("user", "product").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert Product.objects.get(pk=product.pk).stock_left == 0
    assert gate.live_stock([product.pk]) == {product.pk: 0}
    assert redis_client.hlen(keys.buyers(product.pk)) == STOCK
