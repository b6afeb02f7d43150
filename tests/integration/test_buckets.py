"""A hot product in buckets (Product.gate_buckets; seckill/gate/buckets.py), end to end with a real worker: the
buyer's own bucket first, the others when it is empty, `sold_out` only when all are; never more sold than the
stock, never two orders for a buyer; buckets set before the sale only."""

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from products.models import Product
from seckill.catalogue import services as catalogue_services
from seckill.errors import SaleStarted, SoldOut
from seckill.gate import buckets, keys, records
from seckill.gate import stock as gate
from seckill.gate.client import get_client
from seckill.models import Order
from seckill.ops import reconcile
from seckill.purchases import idempotency
from seckill.purchases.outcomes import Outcome
from seckill.purchases.request import PurchaseRequest
from tests.support.http import api_client, final_response, post_until_admitted
from tests.support.invariants import assert_gate_and_ledger_agree

pytestmark = pytest.mark.worker


def buy(user, product, **headers):
    client = api_client(user)
    response = client.post("/api/seckill/", {"product_id": product.pk}, format="json", **headers)
    return final_response(client, response)


def test_a_buyer_whose_bucket_is_empty_buys_from_another(worker, make_buyers, make_product):
    product = make_product(stock_total=1, gate_buckets=3)  # 1, 0, 0
    users = [u for u in make_buyers(6) if buckets.home(u.pk, 3) != 0]
    first, second = users[0], users[1]

    sold = buy(first, product)
    assert sold.status_code == 200, sold.json()
    assert keys.request_bucket(sold.json()["request_id"]) == 0  # its own bucket was empty
    assert buy(second, product).json()["code"] == "sold_out"  # every bucket is
    assert Order.objects.get(product=product).user_id == first.pk
    assert_gate_and_ledger_agree(product.pk)


def test_many_buyers_sell_exactly_the_stock_over_the_buckets(worker, make_buyers, make_product):
    product = make_product(stock_total=7, gate_buckets=3)  # 3, 2, 2
    users = make_buyers(30)
    barrier, answers, lock = threading.Barrier(len(users)), [], threading.Lock()

    def fire(user):
        try:
            client = api_client(user)
            barrier.wait(timeout=60)
            response = final_response(client, post_until_admitted(client, product))
            with lock:
                answers.append((user.pk, response.json()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=fire, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    codes = Counter(body["code"] for _, body in answers)
    assert codes == {"success": 7, "sold_out": 23}, codes
    orders = dict(Order.objects.filter(product=product).values_list("user_id", "request_id"))
    assert len(orders) == 7 and Product.objects.get(pk=product.pk).stock_left == 0
    assert {user_id for user_id, body in answers if body["code"] == "success"} == set(orders)
    assert {keys.request_bucket(request_id) for request_id in orders.values()} == {0, 1, 2}  # each bucket sold
    assert [int(get_client().get(keys.stock(product.pk, b))) for b in range(3)] == [0, 0, 0]
    assert_gate_and_ledger_agree(product.pk)


def test_a_keyed_purchase_that_moved_bucket_is_replayed_from_where_it_sold(worker, make_buyers, make_product):
    product = make_product(stock_total=1, gate_buckets=2)  # 1, 0
    (user,) = [u for u in make_buyers(4) if buckets.home(u.pk, 2) == 1][:1]
    first = buy(user, product, HTTP_IDEMPOTENCY_KEY="bucketed-1")
    again = buy(user, product, HTTP_IDEMPOTENCY_KEY="bucketed-1")
    assert first.json()["code"] == again.json()["code"] == "success"
    assert first.json()["request_id"] == again.json()["request_id"] == Order.objects.get(product=product).request_id


@pytest.mark.django_db(transaction=True)
def test_buckets_are_set_before_the_sale_and_the_gate_follows(clean_redis, make_product):
    started = make_product(stock_total=6)
    with pytest.raises(SaleStarted):
        catalogue_services.product_update(product=started, gate_buckets=3)
    later = make_product(stock_total=6, start_time=timezone.now() + timedelta(hours=1))
    catalogue_services.product_update(product=later, gate_buckets=3)  # the gate is loaded again on commit
    assert buckets.count(later.pk) == 3 and gate.live_stock([later.pk]) == {later.pk: 6}
    assert [int(get_client().get(keys.stock(later.pk, b))) for b in range(3)] == [2, 2, 2]


def test_reconciliation_sums_the_buckets_and_repairs_them(worker, make_buyers, make_product):
    product = make_product(stock_total=6, gate_buckets=3)  # 2, 2, 2
    users = make_buyers(3)
    sold = [buy(user, product).json()["request_id"] for user in users]
    assert len(Order.objects.filter(product=product)) == 3
    get_client().incrby(keys.stock(product.pk, 2), 4)  # one bucket would sell units the ledger does not have
    lost = sold[0]
    get_client().hdel(keys.buyers(product.pk, keys.request_bucket(lost)), users[0].pk)  # and forgot a buyer

    found = reconcile.reconcile_all(product_id=product.pk, fix=True)[product.pk]

    assert {d.check for d in found if d.fixed} >= {"stock", "buyer_missing"}
    assert gate.live_stock([product.pk]) == {product.pk: 3}
    assert gate.buyers(product.pk)[users[0].pk] == lost
    assert_gate_and_ledger_agree(product.pk)


@pytest.mark.django_db(transaction=True)
def test_a_replay_follows_the_key_to_the_id_its_request_was_admitted_with(clean_redis, make_buyers, make_product):
    product = make_product(stock_total=1, gate_buckets=2)
    (user,) = make_buyers(1)
    claimed, admitted = keys.request_id_new(product.pk), keys.request_id_new(product.pk, 1)
    assert idempotency.idempotency_claim(user_id=user.pk, key="k-1", request_id=claimed) is None
    decided = PurchaseRequest(admitted, user.pk, product.pk, 1)
    outcome = Outcome.from_error(SoldOut(), decided).as_dict()
    records.request_create_decided(**decided.task_kwargs(), created=time.time(), outcome=outcome)
    # Before the key moves, a replay finds no record under the id it was given...
    assert idempotency.outcome_await(request_id=claimed, user_id=user.pk, timeout=0.1, key="k-1").code == "pending"
    idempotency.idempotency_follow(user_id=user.pk, key="k-1", request_id=claimed, admitted_id=admitted)
    # ...after it, the replay reads the admitted request's.
    replayed = idempotency.outcome_await(request_id=claimed, user_id=user.pk, timeout=2, key="k-1")
    assert (replayed.code, replayed.request_id) == ("sold_out", admitted)
