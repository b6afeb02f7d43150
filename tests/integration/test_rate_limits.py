"""Rate limits and temporary bans through the HTTP API, against the real Redis and worker."""

import time

import pytest
from django.test import override_settings

from seckill.gate import access_state as guard_store
from seckill.gate import admissions, keys, records
from seckill.gate.client import get_client
from seckill.models import Order
from seckill.purchases import sale_cache
from tests.support.http import api_client
from tests.support.polling import wait_for

pytestmark = pytest.mark.worker

BUY = "/api/seckill/"


def busy_product(make_product):
    """A product in sale whose admission slots are all held: a request that passes the rate limit is answered
    `busy` by the admission gate, without selling. (A sold-out product is answered before the rate limit.)"""
    product = make_product(stock_total=1)  # bound: 2 in flight
    for rid in ("held-1", "held-2"):
        assert (
            admissions.admit(product_id=product.pk, request_id=rid, quantity=1, factor=1.5, slot_ms=60_000)[0]
            == "admitted"
        )
    return product


def test_rate_limit_answers_429_with_retry_after(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = busy_product(make_product)
    client = api_client(user)
    with override_settings(SECKILL_USER_RATE_RULES=[(3, 3600)]):
        codes = [client.post(BUY, {"product_id": product.pk}, format="json") for _ in range(5)]
    assert [r.json()["code"] for r in codes] == ["busy"] * 3 + ["rate_limited"] * 2
    assert codes[3].status_code == 429
    assert int(codes[3]["Retry-After"]) >= 1


def test_a_sold_out_flood_is_answered_before_the_rate_limit_and_does_not_spend_it(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    sold_out, busy = make_product(stock_total=0), busy_product(make_product)
    sale_cache.sale_state_get(product_id=sold_out.pk)  # this process knows it (a flood's first request did)
    client = api_client(user)
    with override_settings(SECKILL_USER_RATE_RULES=[(3, 3600)]):
        flood = [client.post(BUY, {"product_id": sold_out.pk}, format="json") for _ in range(10)]
        after = [client.post(BUY, {"product_id": busy.pk}, format="json") for _ in range(4)]
    assert {(r.status_code, r.json()["code"]) for r in flood} == {(409, "sold_out")}
    assert [r.json()["code"] for r in after] == ["busy"] * 3 + ["rate_limited"]  # the budget was untouched
    # With an Idempotency-Key (maybe a replay of an earlier sale) the limit comes first, as before.
    with override_settings(SECKILL_USER_RATE_RULES=[(3, 3600)]):
        keyed = client.post(BUY, {"product_id": sold_out.pk}, format="json", HTTP_IDEMPOTENCY_KEY="k-flood")
    assert keyed.json()["code"] == "rate_limited"


def test_a_cached_sale_counts_the_rate_limit_in_the_admission_round_trip(
    worker, make_buyers, make_product, monkeypatch, settings
):
    buyers = make_buyers(3)
    product = make_product(stock_total=10)
    # This process knows the sale (the hot path), for the whole test: its five purchases took over the cache's
    # second on a loaded CI host, and the one after counted its limits on its own.
    settings.SECKILL_LOCAL_CACHE_TTL = 60
    sale_cache.sale_state_get(product_id=product.pk)
    separate = []
    real_hit = guard_store.rate_limit_hit
    monkeypatch.setattr(guard_store, "rate_limit_hit", lambda rules: separate.append(rules) or real_hit(rules))
    with override_settings(SECKILL_USER_RATE_RULES=[(2, 3600)], SECKILL_IP_RATE_RULES=[(1000, 3600)]):
        sales = [api_client(user).post(BUY, {"product_id": product.pk}, format="json") for user in buyers]
        again = [api_client(buyers[0]).post(BUY, {"product_id": product.pk}, format="json") for _ in range(2)]
    assert [r.json()["code"] for r in sales] == ["success"] * 3
    assert [r.json()["code"] for r in again] == ["already_purchased", "rate_limited"]
    assert again[1].status_code == 429 and int(again[1]["Retry-After"]) >= 1
    assert separate == []  # no round trip of its own
    client = get_client()
    assert client.get(keys.rate_limit("user", str(buyers[0].pk), 3600)) == "2"  # counted, and the refusal not
    assert client.get(keys.rate_limit("ip", "127.0.0.1", 3600)) == "4"  # every admitted request counted once
    # The refused request reached neither the gate nor the broker, and left no record.
    assert admissions.admitted_count(product.pk) == 0
    assert records.requests_pending_since(time.time() + 1, 10) == []
    assert Order.objects.filter(product=product).count() == 3


def test_temporary_ban_expires_and_bans_are_off_by_default(worker, make_buyers, make_product, settings):
    assert settings.SECKILL_BAN_AFTER_BREACHES == 0  # never a ban unless configured, and never a permanent one
    (user,) = make_buyers(1)
    product = busy_product(make_product)
    client = api_client(user)
    settings.SECKILL_USER_RATE_RULES = [(2, 1)]
    settings.SECKILL_BAN_AFTER_BREACHES = 1
    settings.SECKILL_BAN_TTL = 1

    codes = [client.post(BUY, {"product_id": product.pk}, format="json").status_code for _ in range(3)]
    assert codes[2] == 429  # the breach that earns the ban
    assert wait_for(lambda: client.post(BUY, {"product_id": product.pk}, format="json").status_code == 403, 1)
    settings.SECKILL_BAN_AFTER_BREACHES = 0
    assert wait_for(
        lambda: client.post(BUY, {"product_id": product.pk}, format="json").json()["code"] == "busy", 5, 0.1
    )


def test_unknown_product_ids_are_rate_limited(worker, make_buyers, make_product):
    # Only what the process has cached is answered before the rate limit: finding out about a new id costs
    # Redis and the database, so rotating ids must not get around the limit.
    (user,) = make_buyers(1)
    client = api_client(user)
    with override_settings(SECKILL_USER_RATE_RULES=[(3, 3600)]):
        codes = [client.post(BUY, {"product_id": 900_000 + i}, format="json") for i in range(5)]
        cached = client.post(BUY, {"product_id": 900_000}, format="json")  # known unknown: from the cache
    assert [r.json()["code"] for r in codes] == ["product_not_found"] * 3 + ["rate_limited"] * 2
    assert cached.json()["code"] == "product_not_found"
