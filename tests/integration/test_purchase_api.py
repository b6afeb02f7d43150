"""Every row of the outcome table through the HTTP API, against real Redis and a real worker process."""

import time
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from products.models import Product
from seckill.access.purchase_tokens import purchase_token_verify
from seckill.gate import keys
from seckill.gate import stock as gate
from seckill.gate.client import get_client
from seckill.models import Order
from seckill.tasks import purchase_task
from seckill_site.celery import app as celery_app
from tests.support.data import in_the_future, in_the_past
from tests.support.http import api_client

BUY = "/api/seckill/"

pytestmark = pytest.mark.worker


def buy(user, **body):
    body.setdefault("product_id", None)
    if body["product_id"] is None:
        body.pop("product_id")
    return api_client(user).post(BUY, body, format="json")


def test_buy_returns_200_with_order_and_verifiable_purchase_token(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=3)

    response = buy(user, product_id=product.pk)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["code"] == "success"
    assert {"request_id", "order_id", "product_id", "user_id", "quantity", "purchase_token", "detail"} <= set(body)
    order = Order.objects.get(pk=body["order_id"])
    assert (order.request_id, order.user_id, order.product_id, order.quantity) == (
        body["request_id"],
        user.pk,
        product.pk,
        1,
    )
    claim = purchase_token_verify(body["purchase_token"])
    assert (claim.order_id, claim.user_id, claim.product_id) == (order.pk, user.pk, product.pk)
    assert Product.objects.get(pk=product.pk).stock_left == 2
    assert gate.live_stock([product.pk]) == {product.pk: 2}


def test_quantity_defaults_to_one_and_can_be_up_to_the_limit(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=5, per_user_limit=3)
    response = buy(user, product_id=product.pk, quantity=3)
    assert response.status_code == 200
    assert response.json()["quantity"] == 3
    assert Product.objects.get(pk=product.pk).stock_left == 2


def test_buy_returns_202_pending_on_timeout_and_result_endpoint_gives_the_real_outcome(
    worker, make_buyers, make_product
):
    (user,) = make_buyers(1)
    product = make_product(stock_total=1)
    # Hold the worker back so the view's wait must time out: it stops taking messages from the queue.
    replies = celery_app.control.cancel_consumer("celery", destination=[worker.name], reply=True, timeout=5)
    assert replies, "the worker did not confirm it stopped consuming"

    started = time.monotonic()
    with override_settings(SECKILL_RESULT_TIMEOUT=0.3):
        response = buy(user, product_id=product.pk)
    waited = time.monotonic() - started

    assert response.status_code == 202, response.json()
    # The wait lasts the setting, not Celery's next second (its bound: test_library_patches); a loaded machine may
    # add its own delay to the answer, hence the margin.
    assert 0.3 <= waited < 0.3 + 2.0
    body = response.json()
    assert body["code"] == "pending"
    assert body["result_url"] == f"/api/seckill/requests/{body['request_id']}/"
    still = api_client(user).get(body["result_url"])
    assert still.status_code == 202 and still.json()["code"] == "pending"

    celery_app.control.add_consumer("celery", destination=[worker.name], reply=True, timeout=5)
    final = poll_result(user, body["result_url"])
    assert final.status_code == 200
    assert final.json()["code"] == "success"
    assert final.json()["request_id"] == body["request_id"]
    assert Order.objects.filter(request_id=body["request_id"], user=user).count() == 1


def poll_result(user, url, deadline_s=15.0):
    client = api_client(user)
    end = time.monotonic() + deadline_s
    while True:
        response = client.get(url)
        if response.status_code != 202 or time.monotonic() > end:
            return response
        time.sleep(0.05)


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "product_id"),
        ({"product_id": "abc"}, "product_id"),
        ({"product_id": 0}, "product_id"),
        ({"product_id": -5}, "product_id"),
        ({"product_id": 2**70}, "product_id"),
        ({"product_id": "PID", "quantity": 0}, "quantity"),
        ({"product_id": "PID", "quantity": -1}, "quantity"),
        ({"product_id": "PID", "quantity": "two"}, "quantity"),
        ({"product_id": "PID", "quantity": 2}, "quantity"),  # over per_user_limit (1)
    ],
)
def test_buy_returns_400_invalid_request_with_field_errors(worker, make_buyers, make_product, body, field):
    (user,) = make_buyers(1)
    product = make_product(stock_total=5)
    body = {k: (product.pk if v == "PID" else v) for k, v in body.items()}

    response = api_client(user).post(BUY, body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert field in response.json()["errors"]
    assert not Order.objects.exists()
    assert Product.objects.get(pk=product.pk).stock_left == 5


def test_buy_returns_400_for_a_body_that_is_not_json(worker, make_buyers):
    (user,) = make_buyers(1)
    response = api_client(user).post(BUY, data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"


def test_buy_returns_401_not_authenticated_without_a_token(worker, make_product):
    product = make_product()
    response = api_client().post(BUY, {"product_id": product.pk}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize("kind", ["garbage", "wrong_key", "expired", "no_user_claim"])
def test_buy_returns_401_authentication_failed_for_a_bad_token(worker, make_buyers, make_product, kind):
    (user,) = make_buyers(1)
    product = make_product()
    now = int(timezone.now().timestamp())
    claims = {"token_type": "access", "jti": "x", "user_id": user.pk, "iat": now, "exp": now + 600}
    token = {
        "garbage": "not.a.token",
        "wrong_key": jwt.encode(claims, "some-other-key-that-is-long-enough-for-hs256", algorithm="HS256"),
        "expired": jwt.encode({**claims, "iat": now - 20, "exp": now - 10}, settings.SECRET_KEY, algorithm="HS256"),
        "no_user_claim": jwt.encode(
            {k: v for k, v in claims.items() if k != "user_id"}, settings.SECRET_KEY, algorithm="HS256"
        ),
    }[kind]
    response = api_client(token=token).post(BUY, {"product_id": product.pk}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    assert not Order.objects.exists()


def test_buy_returns_404_product_not_found(worker, make_buyers):
    (user,) = make_buyers(1)
    response = buy(user, product_id=987654)
    assert response.status_code == 404
    assert response.json()["code"] == "product_not_found"


def test_buy_returns_409_sold_out(worker, make_buyers, make_product):
    first, second = make_buyers(2)
    product = make_product(stock_total=1)
    assert buy(first, product_id=product.pk).status_code == 200
    response = buy(second, product_id=product.pk)
    assert response.status_code == 409
    assert response.json()["code"] == "sold_out"


def test_buy_returns_409_sold_out_from_the_gate_when_the_ledger_lags(worker, make_buyers, make_product):
    # The database still shows stock; the Redis gate, which runs ahead of it, is what decides.
    (user,) = make_buyers(1)
    product = make_product(stock_total=2)
    gate.adjust_stock(product_id=product.pk, delta=-2)  # two sales in flight, not yet committed
    response = buy(user, product_id=product.pk)
    assert response.status_code == 409
    assert response.json()["code"] == "sold_out"
    assert Product.objects.get(pk=product.pk).stock_left == 2


def test_buy_returns_409_already_purchased(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=5)
    assert buy(user, product_id=product.pk).status_code == 200
    response = buy(user, product_id=product.pk)
    assert response.status_code == 409
    assert response.json()["code"] == "already_purchased"
    assert Order.objects.filter(user=user).count() == 1
    assert Product.objects.get(pk=product.pk).stock_left == 4


@pytest.mark.parametrize(
    "window, code",
    [
        (dict(start_time=in_the_future(1), end_time=in_the_future(2)), "sale_not_started"),
        (dict(start_time=in_the_past(2), end_time=in_the_past(1)), "sale_ended"),
        (dict(is_enabled=False), "sale_disabled"),
    ],
)
def test_buy_returns_409_outside_the_sale(worker, make_buyers, make_product, window, code):
    (user,) = make_buyers(1)
    product = make_product(stock_total=5, **window)
    response = buy(user, product_id=product.pk)
    assert response.status_code == 409
    assert response.json()["code"] == code
    assert not Order.objects.exists()


def test_logic_layer_refuses_a_sale_that_ended_after_the_view_checked(worker, make_buyers, make_product):
    # The logic layer re-checks the window in Redis (sell.lua), not only the access layer.
    (user,) = make_buyers(1)
    product = make_product(stock_total=5)
    ended = timezone.now() - timedelta(seconds=1)
    gate.load_product(
        product_id=product.pk,
        stock_left=5,
        enabled=True,
        start_time=ended - timedelta(hours=1),
        end_time=ended,
        per_user_limit=1,
    )
    result = purchase_task.apply_async(
        kwargs=dict(request_id="late-1", user_id=user.pk, product_id=product.pk, quantity=1), task_id="late-1"
    ).get(timeout=10)
    assert result["code"] == "sale_ended"
    assert not Order.objects.exists()
    assert gate.live_stock([product.pk]) == {product.pk: 5}


def test_inactive_user_gets_403_and_no_stock_is_taken(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=2)
    user.is_active = False
    user.save()
    response = buy(user, product_id=product.pk)
    assert response.status_code == 403
    assert response.json()["code"] == "user_inactive"
    assert gate.live_stock([product.pk]) == {product.pk: 2}
    assert Product.objects.get(pk=product.pk).stock_left == 2


def test_result_endpoint_shows_a_request_only_to_its_buyer(worker, make_buyers, make_product):
    owner, other = make_buyers(2)
    product = make_product(stock_total=2)
    body = buy(owner, product_id=product.pk).json()
    url = f"/api/seckill/requests/{body['request_id']}/"

    mine = api_client(owner).get(url)
    assert mine.status_code == 200 and mine.json()["order_id"] == body["order_id"]
    theirs = api_client(other).get(url)
    assert theirs.status_code == 404 and theirs.json()["code"] == "not_found"
    assert api_client(owner).get("/api/seckill/requests/does-not-exist/").status_code == 404


def test_orders_endpoints_show_only_the_callers_orders(worker, make_buyers, make_product):
    alice, bob = make_buyers(2)
    product = make_product(stock_total=5)
    alice_order = buy(alice, product_id=product.pk).json()["order_id"]
    bob_order = buy(bob, product_id=product.pk).json()["order_id"]

    listing = api_client(alice).get("/api/orders/")
    assert listing.status_code == 200
    assert [o["id"] for o in listing.json()["results"]] == [alice_order]
    assert api_client(alice).get(f"/api/orders/{alice_order}/").status_code == 200
    assert api_client(alice).get(f"/api/orders/{bob_order}/").status_code == 404
    assert api_client().get("/api/orders/").status_code == 401


def test_orders_list_is_paginated_by_cursor_newest_first(transactional_db, make_buyers, make_product):
    (alice,) = make_buyers(1)
    products = [make_product(stock_total=1) for _ in range(5)]
    ids = [
        Order.objects.create(request_id=f"page-{p.pk}", user=alice, product=p, quantity=1, unit_price=1).pk
        for p in products
    ]
    client = api_client(alice)
    first = client.get("/api/orders/", {"page_size": 2}).json()
    assert [o["id"] for o in first["results"]] == ids[::-1][:2] and first["previous"] is None
    # An order arriving between two pages does not shift the next page (it would, with offsets).
    newest = make_product(stock_total=1)
    Order.objects.create(request_id="page-new", user=alice, product=newest, quantity=1, unit_price=1)
    second = client.get(first["next"]).json()
    assert [o["id"] for o in second["results"]] == ids[::-1][2:4]


def test_a_key_whose_first_request_was_never_admitted_lets_a_new_attempt_in(worker, make_buyers, make_product):
    """Redis failed the first request's admission and could not confirm its refusal (answered `pending`), and in
    fact never admitted it: no record. Once the key is older than any admission could take, a replay is a new
    attempt, not `pending` for the key's lifetime."""
    from seckill.gate import keys
    from seckill.gate.client import get_client
    from seckill.purchases import idempotency

    (user,) = make_buyers(1)
    product = make_product(stock_total=1)
    ttl = settings.SECKILL_IDEMPOTENCY_TTL - idempotency.NEVER_RECORDED_AFTER_S - 1  # claimed 31 s ago
    get_client().set(keys.idempotency(user.pk, "lost-1"), "never-admitted", ex=ttl)

    response = api_client(user).post(
        "/api/seckill/", {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="lost-1"
    )
    assert response.json()["code"] == "success" and response.json()["request_id"] != "never-admitted"


def test_a_sale_whose_record_redis_lost_is_answered_from_its_order(worker, make_buyers, make_product):
    """A gate node's failover can lose a request's record (docs/reliability.md, "Failover"): the ledger's order
    still answers its owner, and nobody else."""
    owner, other = make_buyers(2)
    product = make_product(stock_total=2)
    sale = api_client(owner).post(BUY, {"product_id": product.pk}, format="json").json()
    assert sale["code"] == "success"
    get_client().delete(keys.request(product.pk, sale["request_id"]))  # the record lost
    url = f"/api/seckill/requests/{sale['request_id']}/"
    again = api_client(owner).get(url)
    assert (again.status_code, again.json()["code"], again.json()["order_id"]) == (200, "success", sale["order_id"])
    assert api_client(other).get(url).status_code == 404
