"""The access layer's guards through the HTTP API, against the real Redis and worker."""

import threading
import time
from contextlib import contextmanager

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from products.models import Product
from seckill.access import blacklist
from seckill.errors import Blacklisted, UserInactive
from seckill.gate import access_state as guard_store
from seckill.gate import keys, records
from seckill.gate import stock as gate
from seckill.gate.client import get_client
from seckill.models import BlacklistEntry, Order
from seckill.purchases import admission, sale_cache
from seckill.purchases.request import PurchaseRequest
from seckill.worker import decisions, sweep
from seckill_site.celery import app as celery_app
from tests.support.http import api_client
from tests.support.polling import wait_for

pytestmark = pytest.mark.worker

BUY = "/api/seckill/"


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    sale_cache.sale_cache_clear()
    yield
    sale_cache.sale_cache_clear()


@contextmanager
def no_queries():
    """Fails with the SQL of any query this process makes in the block (pytest-django's count names none)."""
    with CaptureQueriesContext(connection) as captured:
        yield
    assert [query["sql"] for query in captured.captured_queries] == []


@pytest.fixture
def publishes(monkeypatch):
    """Every message this process sends to the broker: all go through the app's send_task (seckill.purchases.enqueue).
    (The server's LPUSH count would include whatever else shares this Redis server.)"""
    sent, send_task = [], celery_app.send_task
    monkeypatch.setattr(celery_app, "send_task", lambda *a, **k: sent.append(a) or send_task(*a, **k))
    return sent


def broker_queue_length():
    return sweep.purchase_queue_length()


# --- sold-out shedding ------------------------------------------------------------------------------------
def test_sold_out_product_sheds_5000_requests_without_broker_or_database(worker, make_buyers, make_product, publishes):
    buyers = make_buyers(50)
    product = make_product(stock_total=1)
    assert api_client(buyers[0]).post(BUY, {"product_id": product.pk}, format="json").status_code == 200
    celery_app.control.cancel_consumer("celery", destination=[worker.name], reply=True, timeout=5)
    clients = [api_client(b) for b in buyers[1:]]
    published_before = len(publishes)
    blacklist.blacklist_reconcile()  # the mirror exists (clean_redis removed it): a refresh reads only Redis

    codes = set()
    # The steady state of a flood: this process knows the sale and the blacklists (each refreshed from Redis
    # alone, at most once per period; kept long here so that the count is about the answers, not the clock).
    with (
        override_settings(SECKILL_USER_RATE_RULES=[], SECKILL_LOCAL_CACHE_TTL=120, SECKILL_BLACKLIST_REFRESH=120),
        no_queries(),
    ):
        for i in range(5000):
            response = clients[i % len(clients)].post(BUY, {"product_id": product.pk}, format="json")
            codes.add((response.status_code, response.json()["code"]))

    assert codes == {(409, "sold_out")}
    assert broker_queue_length() == 0
    assert len(publishes) == published_before  # not one message was sent to the broker
    assert Order.objects.count() == 1


# --- admission gate ---------------------------------------------------------------------------------------
def test_admission_gate_never_lets_more_than_the_bound_through(worker, make_buyers, make_product):
    users = make_buyers(300)
    product = make_product(stock_total=10)  # bound: ceil(10 * 1.5) = 15 in flight
    celery_app.control.cancel_consumer("celery", destination=[worker.name], reply=True, timeout=5)
    answers, lock, barrier = [], threading.Lock(), threading.Barrier(300)

    def buy(user):
        try:
            client = api_client(user)
            barrier.wait(timeout=60)
            response = client.post(BUY, {"product_id": product.pk}, format="json")
            with lock:
                answers.append((response.status_code, response.json()["code"], response.get("Retry-After")))
        finally:
            connections.close_all()

    with override_settings(SECKILL_RESULT_TIMEOUT=0.2):
        threads = [threading.Thread(target=buy, args=(u,)) for u in users]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)

    admitted = [a for a in answers if a[0] == 202]
    busy = [a for a in answers if a[0] == 429]
    assert len(admitted) == 15
    assert len(busy) == 285 and {a[1] for a in busy} == {"busy"} and {a[2] for a in busy} == {"1"}
    assert gate.admitted_count(product.pk) == 15
    # All 15 messages wait in the queue, but for the up to 2 a parked worker may hold (prefetch 1 x concurrency 2).
    assert broker_queue_length() >= 15 - 2

    # The worker comes back: every admitted request is decided and every slot given back.
    celery_app.control.add_consumer("celery", destination=[worker.name], reply=True, timeout=5)
    assert wait_for(lambda: gate.admitted_count(product.pk) == 0, 20)
    assert Order.objects.filter(product=product).count() == 10
    assert Product.objects.get(pk=product.pk).stock_left == 0


def test_admission_slot_of_a_task_that_never_finished_frees_itself(worker, make_buyers, make_product):
    (user, other) = make_buyers(2)
    product = make_product(stock_total=1)  # bound: ceil(1 * 1.5) = 2
    # Slots live 3 s: long enough for the first request to find them taken on a loaded machine (at 0.5 s a busy
    # CI host reached it after they had lapsed), short enough for the test.
    gate.admit(product_id=product.pk, request_id="dead-1", quantity=1, factor=1.5, slot_ms=3000)[0]
    gate.admit(product_id=product.pk, request_id="dead-2", quantity=1, factor=1.5, slot_ms=3000)[0]  # workers died
    with override_settings(SECKILL_ADMISSION_SLOT_TTL=3):
        assert api_client(user).post(BUY, {"product_id": product.pk}, format="json").status_code == 429
        assert wait_for(
            lambda: api_client(other).post(BUY, {"product_id": product.pk}, format="json").status_code == 200, 15, 0.5
        )
    assert gate.admitted_count(product.pk) == 0


# --- blacklists -------------------------------------------------------------------------------------------
def refused_as(user_id, ip="127.0.0.1", now_ms=None):
    """What the access layer of this process says of a buyer right now, or at `now_ms` (no purchase is attempted)."""
    try:
        blacklist.blacklist_check(user_id=user_id, ip=ip, now_ms=now_ms)
    except (Blacklisted, UserInactive) as error:
        return error.code
    return None


def test_blacklisted_user_gets_403_within_a_second_and_removal_restores(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=5)
    client = api_client(user)

    call_command("blacklist", "add", "user", str(user.pk), "--reason", "bot")
    assert wait_for(lambda: refused_as(user.pk) == "blacklisted", 1)
    response = client.post(BUY, {"product_id": product.pk}, format="json")
    assert (response.status_code, response.json()["code"]) == (403, "blacklisted")
    call_command("blacklist", "remove", "user", str(user.pk))
    assert wait_for(lambda: refused_as(user.pk) is None, 1)
    assert client.post(BUY, {"product_id": product.pk}, format="json").status_code == 200


def test_blacklisted_address_range_gets_403(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=5)
    client = api_client(user)
    call_command("blacklist", "add", "ip", "10.0.0.0/8", "--ttl", "600")
    assert wait_for(lambda: refused_as(user.pk, "10.20.30.40") == "blacklisted", 1)
    blocked = client.post(BUY, {"product_id": product.pk}, format="json", REMOTE_ADDR="10.20.30.40")
    assert (blocked.status_code, blocked.json()["code"]) == (403, "blacklisted")
    other_address = client.post(BUY, {"product_id": product.pk}, format="json", REMOTE_ADDR="11.0.0.1")
    assert other_address.status_code == 200


def test_blacklist_survives_redis_losing_it(worker, make_buyers):
    (user,) = make_buyers(1)
    call_command("blacklist", "add", "user", str(user.pk))
    get_client().delete(keys.BLACKLIST_VERSION, keys.blacklist("user"))
    assert wait_for(lambda: refused_as(user.pk) == "blacklisted", 2)  # rebuilt from the database


def test_blacklist_command_refuses_bad_values(worker):
    from django.core.management.base import CommandError

    for args in (["add", "ip", "300.1.1.1"], ["add", "user", "abc"], ["add", "user"], ["remove", "ip", "1.2.3.4"]):
        with pytest.raises(CommandError):
            call_command("blacklist", *args)
    assert not BlacklistEntry.objects.exists()


def test_token_of_a_deactivated_or_deleted_user_gets_403_before_the_broker(worker, make_buyers, make_product):
    inactive, deleted = make_buyers(2)
    product = make_product(stock_total=5)
    tokens = {u.pk: api_client(u) for u in (inactive, deleted)}
    inactive.is_active = False
    inactive.save()
    get_user_model().objects.filter(pk=deleted.pk).delete()  # queryset delete sends post_delete too

    assert wait_for(
        lambda: refused_as(inactive.pk) == refused_as(deleted.pk) == "user_inactive", 1
    )  # within a second, this process
    celery_app.control.cancel_consumer("celery", destination=[worker.name], reply=True, timeout=5)
    for client in tokens.values():
        response = client.post(BUY, {"product_id": product.pk}, format="json")
        assert (response.status_code, response.json()["code"]) == (403, "user_inactive")
    assert broker_queue_length() == 0


def test_a_deleted_user_stays_refused_after_beat_rebuilds_the_blacklist_mirror(
    transactional_db, clean_redis, make_buyers
):
    deleted, other = make_buyers(2)
    get_user_model().objects.filter(pk=deleted.pk).delete()
    other.is_active = False
    other.save()
    blacklist.blacklist_reconcile()  # the digest of the database differs from a change's version: a rebuild
    blacklist._snapshot = blacklist._Snapshot()  # (this process looks again at once)
    assert refused_as(deleted.pk) == refused_as(other.pk) == "user_inactive"
    assert not blacklist.blacklist_reconcile()  # and the rebuilt mirror is what the database says


# --- rate limits and bans ---------------------------------------------------------------------------------
def busy_product(make_product):
    """A product in sale whose admission slots are all held: a request that passes the rate limit is answered
    `busy` by the admission gate, without selling. (A sold-out product is answered before the rate limit.)"""
    product = make_product(stock_total=1)  # bound: 2 in flight
    for rid in ("held-1", "held-2"):
        assert (
            gate.admit(product_id=product.pk, request_id=rid, quantity=1, factor=1.5, slot_ms=60_000)[0] == "admitted"
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
    worker, make_buyers, make_product, monkeypatch
):
    buyers = make_buyers(3)
    product = make_product(stock_total=10)
    sale_cache.sale_state_get(product_id=product.pk)  # this process knows the sale: the hot path
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
    assert client.get(f"seckill:rl:user:{buyers[0].pk}:3600") == "2"  # counted, and the refusal not
    assert client.get("seckill:rl:ip:127.0.0.1:3600") == "4"  # every admitted request counted once
    # The refused request reached neither the gate nor the broker, and left no record.
    assert gate.admitted_count(product.pk) == 0
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


# --- idempotency ------------------------------------------------------------------------------------------
def test_idempotency_key_replayed_concurrently_makes_one_order(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=5)
    answers, lock, barrier = [], threading.Lock(), threading.Barrier(20)

    def buy():
        try:
            client = api_client(user)
            barrier.wait(timeout=30)
            response = client.post(BUY, {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="order-42")
            with lock:
                answers.append(response)
        finally:
            connections.close_all()

    with override_settings(SECKILL_USER_RATE_RULES=[]):
        threads = [threading.Thread(target=buy) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)

    assert {(r.status_code, r.json()["code"]) for r in answers} == {(200, "success")}
    assert len({r.json()["request_id"] for r in answers}) == 1
    assert len({r.json()["order_id"] for r in answers}) == 1
    assert Order.objects.filter(user=user).count() == 1
    # A day later (or another key) it is a new request: one live order per buyer still holds.
    again = api_client(user).post(BUY, {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="order-43")
    assert again.json()["code"] == "already_purchased"


def test_idempotency_key_replays_a_refusal_too(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=0)
    client = api_client(user)
    first = client.post(BUY, {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.json()["code"] == "sold_out"
    sale_cache.sale_cache_clear()
    gate.adjust_stock(product_id=product.pk, delta=+1)  # stock came back
    Product.objects.filter(pk=product.pk).update(stock_total=1, stock_left=1)
    replay = client.post(BUY, {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert (replay.status_code, replay.json()["code"]) == (409, "sold_out")  # the first answer, not a sale
    assert not Order.objects.exists()
    fresh = client.post(BUY, {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="k2")
    assert fresh.json()["code"] == "success"


# --- found in review ----------------------------------------------------------------------------------------
def test_idempotency_key_lets_the_retry_through_after_busy(worker, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=1)  # bound: 2 in flight
    for rid in ("held-1", "held-2"):
        gate.admit(product_id=product.pk, request_id=rid, quantity=1, factor=1.5, slot_ms=60_000)[0]
    client = api_client(user)
    first = client.post(BUY, {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="retry-me")
    assert (first.status_code, first.json()["code"]) == (429, "busy")
    for rid in ("held-1", "held-2"):
        gate.admission_release(product_id=product.pk, request_id=rid)
    again = client.post(BUY, {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="retry-me")
    assert (again.status_code, again.json()["code"]) == (200, "success")


def abandoned_keyed_request(user, product, request_id: str, key: str, *, mid_commit: bool = False) -> dict:
    """A request made with Idempotency-Key `key` that the logic layer gave up on (its task's retries ran out, or
    the sweeper gave up): recorded `unavailable`. With `mid_commit`, the logic layer tried to give it up while
    its sale was being committed (the decision is sold, the order not yet visible): then it stays pending."""
    purchase = PurchaseRequest(request_id=request_id, user_id=user.pk, product_id=product.pk, quantity=1)
    assert records.idempotency_claim(user_id=user.pk, key=key, request_id=request_id, ttl_s=600) is None
    assert gate.admit(**purchase.task_kwargs(), factor=1.5, slot_ms=60_000, created=time.time())[0] == "admitted"
    if mid_commit:
        assert gate.sell(**purchase.task_kwargs())[0] is gate.Sell.SOLD
    assert decisions.purchase_abandon(purchase).code == ("pending" if mid_commit else "unavailable")
    return purchase


def test_idempotency_key_lets_the_retry_through_after_the_first_was_given_up(worker, make_buyers, make_product):
    # Nothing was sold: a retry with the same key must be a new attempt, not that answer again.
    (user,) = make_buyers(1)
    product = make_product(stock_total=1)
    abandoned_keyed_request(user, product, "given-up-1", "after-outage")

    client = api_client(user)
    retry = client.post(BUY, {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="after-outage")
    assert (retry.status_code, retry.json()["code"]) == (200, "success")
    assert retry.json()["request_id"] != "given-up-1"
    replay = client.post(BUY, {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="after-outage")
    assert replay.json()["order_id"] == retry.json()["order_id"]  # the key now names the sale
    assert Order.objects.filter(user=user).count() == 1


def test_a_request_mid_commit_is_not_given_up_and_keeps_its_key(worker, make_buyers, make_product, settings):
    # Sold in Redis, the order not yet in the ledger: nothing is recorded, the units stay taken, and a retry with
    # the key waits on that request (no second attempt, which would be refused already_purchased).
    (user,) = make_buyers(1)
    product = make_product(stock_total=2)
    purchase = abandoned_keyed_request(user, product, "committing-1", "mid-commit", mid_commit=True)
    assert records.request_get("committing-1").outcome is None
    assert "committing-1" in {rid for rid, _ in records.requests_pending_since(time.time(), 100)}
    assert gate.live_stock([product.pk]) == {product.pk: 1}

    settings.SECKILL_RESULT_TIMEOUT = 0.3
    retry = api_client(user).post(BUY, {"product_id": product.pk}, format="json", HTTP_IDEMPOTENCY_KEY="mid-commit")
    assert (retry.status_code, retry.json()["code"], retry.json()["request_id"]) == (202, "pending", "committing-1")
    assert records.idempotency_claim(user_id=user.pk, key="mid-commit", request_id="x", ttl_s=600) == "committing-1"

    # The access layer's own 503 path (publish failed, the message got through and sold) records nothing either.
    admission.purchase_refuse_unsent(purchase)
    assert records.request_get("committing-1").outcome is None


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


def test_a_temporary_ban_never_shortens_a_permanent_entry(worker, make_buyers):
    (user,) = make_buyers(1)
    call_command("blacklist", "add", "user", str(user.pk))
    lapses_ms = int(time.time() * 1000) + 200
    guard_store.ban_set(kind="user", value=str(user.pk), expires_ms=lapses_ms)
    assert wait_for(lambda: refused_as(user.pk) == "blacklisted", 1)
    # The clock past the ban's lapse (injected: nothing is waited for), the permanent entry still stands.
    assert refused_as(user.pk, now_ms=lapses_ms + 1) == "blacklisted"
    users, _, _ = guard_store.blacklist_read(now_ms=lapses_ms + 1)
    assert users[str(user.pk)] == 0


def test_reconcile_repairs_a_mirror_that_missed_a_change_or_came_back_stale(worker, make_buyers):
    alice, bob = make_buyers(2)
    call_command("blacklist", "add", "user", str(alice.pk))
    blacklist.blacklist_reconcile()
    version = guard_store.blacklist_version()[0]
    # A Redis restored from an older snapshot: Alice's entry gone, the version as it was.
    get_client().hdel(keys.blacklist("user"), alice.pk)
    # A change whose publication failed: Bob in the database only.
    BlacklistEntry.objects.create(kind="user", value=str(bob.pk))
    get_client().set(keys.BLACKLIST_VERSION, version)

    assert blacklist.blacklist_reconcile() is True
    users, _, _ = guard_store.blacklist_read()
    assert {str(alice.pk), str(bob.pk)} <= set(users)
    assert blacklist.blacklist_reconcile() is False  # nothing to do the second time
    assert wait_for(lambda: refused_as(bob.pk) == "blacklisted", 1)


def test_admin_manages_the_blacklist_through_the_service(worker, make_buyers):
    from django.test import Client

    (user,) = make_buyers(1)
    get_user_model().objects.create_superuser("root", "root@example.com", "root-password")
    admin = Client()
    admin.login(username="root", password="root-password")
    bad = admin.post("/admin/seckill/blacklistentry/add/", {"kind": "ip", "value": "300.1.1.1", "reason": "x"})
    assert bad.status_code == 200 and b"Not an IP address" in bad.content
    assert not BlacklistEntry.objects.exists()

    good = admin.post("/admin/seckill/blacklistentry/add/", {"kind": "user", "value": f" {user.pk} ", "reason": "bot"})
    assert good.status_code == 302
    assert wait_for(lambda: refused_as(user.pk) == "blacklisted", 1)
    entry = BlacklistEntry.objects.get()
    assert admin.post(f"/admin/seckill/blacklistentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 302
    assert wait_for(lambda: refused_as(user.pk) is None, 1)


def test_origin_allow_list_and_trusted_proxy_through_the_api(worker, make_buyers, make_product):
    import ipaddress

    (user,) = make_buyers(1)
    product = make_product(stock_total=0)
    client = api_client(user)
    with override_settings(SECKILL_ALLOWED_ORIGINS=frozenset({"shop.example.com"})):
        refused = client.post(BUY, {"product_id": product.pk}, format="json", HTTP_ORIGIN="https://evil.example")
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden_origin")
        allowed = client.post(BUY, {"product_id": product.pk}, format="json", HTTP_ORIGIN="https://shop.example.com")
        assert allowed.json()["code"] == "sold_out"

    call_command("blacklist", "add", "ip", "203.0.113.7")
    assert wait_for(lambda: refused_as(user.pk, "203.0.113.7") == "blacklisted", 1)
    via_proxy = dict(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert client.post(BUY, {"product_id": product.pk}, format="json", **via_proxy).json()["code"] == "sold_out"
    with override_settings(SECKILL_TRUSTED_PROXIES=(ipaddress.ip_network("10.0.0.0/8"),)):
        response = client.post(BUY, {"product_id": product.pk}, format="json", **via_proxy)
        assert (response.status_code, response.json()["code"]) == (403, "blacklisted")


def test_a_buyer_short_of_units_does_not_make_the_product_sold_out_for_others(worker, make_buyers, make_product):
    first, big, small = make_buyers(3)
    product = make_product(stock_total=3, per_user_limit=2)
    # This process caches "3 left" with the first purchase and keeps it for a second: the gate decides below.
    assert api_client(first).post(BUY, {"product_id": product.pk, "quantity": 2}, format="json").status_code == 200
    refused = api_client(big).post(BUY, {"product_id": product.pk, "quantity": 2}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (409, "sold_out")  # 1 left, 2 asked
    with override_settings(SECKILL_LOCAL_CACHE_TTL=60):  # whatever the cache holds now, it holds
        bought = api_client(small).post(BUY, {"product_id": product.pk, "quantity": 1}, format="json")
    assert (bought.status_code, bought.json()["code"]) == (200, "success")


def test_a_buyer_who_bought_is_answered_at_the_gate_without_the_broker_or_the_database(
    worker, make_buyers, make_product, publishes
):
    # A double-click storm of a winner: the logic layer would refuse it after taking the ledger's lock.
    (user,) = make_buyers(1)
    product = make_product(stock_total=5)
    client = api_client(user)
    assert client.post(BUY, {"product_id": product.pk}, format="json").json()["code"] == "success"
    published_before = len(publishes)
    blacklist.blacklist_reconcile()  # the mirror exists (clean_redis removed it): a refresh reads only Redis
    with override_settings(SECKILL_USER_RATE_RULES=[]), no_queries():
        again = [client.post(BUY, {"product_id": product.pk}, format="json") for _ in range(20)]
    assert {(r.status_code, r.json()["code"]) for r in again} == {(409, "already_purchased")}
    assert len(publishes) == published_before
    assert gate.admitted_count(product.pk) == 0 and records.requests_pending_since(time.time() + 1, 10) == []
    assert Order.objects.filter(product=product).count() == 1
    # Another buyer still gets through.
    (other,) = make_buyers(1, prefix="other")
    assert api_client(other).post(BUY, {"product_id": product.pk}, format="json").json()["code"] == "success"
