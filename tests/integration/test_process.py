"""The logic layer (seckill.worker.decisions): retries, unexpected errors, lost replies, refusals by the ledger, giving
up: each a failure found in review, with the test that would catch it again."""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError, connections

from products.models import Product
from seckill import errors
from seckill.gate import admissions, keys, records, sync
from seckill.gate import stock as gate
from seckill.gate.client import get_client
from seckill.models import Order
from seckill.purchases import admission
from seckill.purchases.request import PurchaseRequest
from seckill.tasks import MAX_RETRIES, purchase_task
from seckill.worker import decisions

pytestmark = pytest.mark.django_db(transaction=True)


def test_duplicate_deliveries_racing_for_the_last_units_give_nothing_back(clean_redis, make_buyers, make_product):
    # Two deliveries of each request; the stock is exactly what the requests ask for, two units each.
    users = make_buyers(10)
    product = make_product(stock_total=20, per_user_limit=2)
    outcomes, lock = [], threading.Lock()

    def deliver(user, barrier):
        try:
            barrier.wait(timeout=10)
            outcome = decisions.purchase_process(
                PurchaseRequest(request_id=f"dup-{user.pk}", user_id=user.pk, product_id=product.pk, quantity=2)
            )
            with lock:
                outcomes.append(outcome)
        finally:
            connections.close_all()

    threads = []
    for user in users:
        barrier = threading.Barrier(2)
        threads += [threading.Thread(target=deliver, args=(user, barrier)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert [o.code for o in outcomes] == ["success"] * 20
    assert Order.objects.filter(product=product).count() == 10
    assert Product.objects.get(pk=product.pk).stock_left == 0
    assert gate.live_stock([product.pk]) == {product.pk: 0}
    assert get_client().hlen(keys.buyers(product.pk)) == 10


def test_task_retries_transient_errors_then_refuses_for_good(clean_redis, make_buyers, make_product, monkeypatch):
    (user,) = make_buyers(1)
    product = make_product(stock_total=2)
    calls = []

    def flaky_write(**fields):
        calls.append(fields)
        raise OperationalError("database is locked")

    monkeypatch.setattr(decisions, "ledger_sell", flaky_write)
    purchase = PurchaseRequest(request_id="flaky-1", user_id=user.pk, product_id=product.pk, quantity=1)

    # apply() runs the task here, its retries too (without their countdown): this tests the task's control flow,
    # the real worker runs the same code in the other tests.
    result = purchase_task.apply(kwargs=purchase.task_kwargs(), task_id="flaky-1").get()

    assert len(calls) == MAX_RETRIES + 1
    assert result["code"] == "unavailable"
    monkeypatch.undo()
    assert decisions.purchase_process(purchase).code == "unavailable"  # final: a late delivery sells nothing
    assert gate.live_stock([product.pk]) == {product.pk: 2}
    assert Product.objects.get(pk=product.pk).stock_left == 2 and not Order.objects.exists()


def test_an_unexpected_error_is_answered_and_refused_for_good(clean_redis, make_buyers, make_product, monkeypatch):
    (user,) = make_buyers(1)
    product = make_product(stock_total=2)

    def broken_write(**fields):
        raise ValueError("a bug")

    monkeypatch.setattr(decisions, "ledger_sell", broken_write)
    purchase = PurchaseRequest(request_id="bug-1", user_id=user.pk, product_id=product.pk, quantity=1)
    outcome = decisions.purchase_process(purchase)

    assert outcome.code == "internal_error"
    assert gate.live_stock([product.pk]) == {product.pk: 2}
    monkeypatch.undo()
    assert decisions.purchase_process(purchase).code == "internal_error"  # the replay does not sell either
    assert not Order.objects.exists()


def test_abandoning_a_request_whose_sale_was_confirmed_keeps_the_sale(clean_redis, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=2)
    purchase = PurchaseRequest(request_id="kept-1", user_id=user.pk, product_id=product.pk, quantity=1)
    assert decisions.purchase_process(purchase).code == "success"
    assert decisions.purchase_abandon(purchase).code == "success"
    assert gate.live_stock([product.pk]) == {product.pk: 1}
    assert Product.objects.get(pk=product.pk).stock_left == 1


def test_a_buyer_the_ledger_knows_stays_known_to_the_gate(clean_redis, make_buyers, make_product):
    # After Redis lost its buyers (or a stale hash), the ledger refuses a second order: the gate learns it.
    (user,) = make_buyers(1)
    product = make_product(stock_total=5)
    assert (
        decisions.purchase_process(
            PurchaseRequest(request_id="first", user_id=user.pk, product_id=product.pk, quantity=1)
        ).code
        == "success"
    )
    get_client().hdel(keys.buyers(product.pk), user.pk)

    second = decisions.purchase_process(
        PurchaseRequest(request_id="second", user_id=user.pk, product_id=product.pk, quantity=1)
    )

    assert second.code == "already_purchased"
    assert get_client().hget(keys.buyers(product.pk), user.pk) == "first"
    assert gate.sell(request_id="third", user_id=user.pk, product_id=product.pk, quantity=1)[0] == "already_purchased"
    assert gate.live_stock([product.pk]) == {product.pk: 4}


def test_a_buyer_who_holds_the_last_unit_is_told_so_when_the_gate_lost_them(clean_redis, make_buyers, make_product):
    # A failover lost the gate's record of the last sale (its unit and its buyer): the same buyer, admitted again,
    # finds the ledger sold out, and is told they hold an order, not that it is sold out.
    (user,) = make_buyers(1)
    product = make_product(stock_total=1)
    first = PurchaseRequest(request_id="first", user_id=user.pk, product_id=product.pk, quantity=1)
    assert decisions.purchase_process(first).code == "success"
    get_client().hdel(keys.buyers(product.pk), user.pk)
    get_client().set(keys.stock(product.pk), 1)

    second = decisions.purchase_process(
        PurchaseRequest(request_id="second", user_id=user.pk, product_id=product.pk, quantity=1)
    )

    assert second.code == "already_purchased"
    assert get_client().hget(keys.buyers(product.pk), user.pk) == "first"
    assert Order.objects.filter(product=product).count() == 1 and Product.objects.get(pk=product.pk).stock_left == 0


# --- ledger first, Redis last (sell.lua inside the order's transaction) --------------------------------------
def sold_in_redis_only(make_buyers, make_product, monkeypatch, request_id: str):
    """A request whose sell.lua ran in Redis but whose reply was lost: the order's transaction rolled back, Redis
    kept the sale. Returns (product, purchase)."""
    import redis

    (user,) = make_buyers(1)
    product = make_product(stock_total=3)
    purchase = PurchaseRequest(request_id=request_id, user_id=user.pk, product_id=product.pk, quantity=1)
    real_sell = gate.sell

    def sell_then_lose_the_reply(**kwargs):
        real_sell(**kwargs)
        raise redis.ConnectionError("Connection reset by peer")

    monkeypatch.setattr(gate, "sell", sell_then_lose_the_reply)
    with pytest.raises(errors.TRANSIENT_ERRORS):
        decisions.purchase_process(purchase)
    monkeypatch.undo()
    assert not Order.objects.exists() and gate.live_stock([product.pk]) == {product.pk: 2}
    return product, purchase


def assert_stocks(product, left):
    assert Product.objects.get(pk=product.pk).stock_left == left
    assert gate.live_stock([product.pk]) == {product.pk: left}


def test_a_lost_reply_of_the_sale_is_sold_once_by_the_retry(clean_redis, make_buyers, make_product, monkeypatch):
    product, purchase = sold_in_redis_only(make_buyers, make_product, monkeypatch, "lost-sell-1")
    assert decisions.purchase_process(purchase).code == "success"  # the task's retry
    assert Order.objects.get().request_id == "lost-sell-1"
    assert_stocks(product, 2)  # orders == sold == stock taken


def test_a_sale_the_ledger_then_refuses_is_undone_and_never_flips(clean_redis, make_buyers, make_product, monkeypatch):
    # The reply was lost, then the buyer was deactivated: the retry's ledger refuses. The refusal is final (a
    # later run, after the buyer is active again, answers it too) and Redis gives the unit and the buyer back.
    product, purchase = sold_in_redis_only(make_buyers, make_product, monkeypatch, "lost-sell-2")
    user = get_user_model().objects.get(pk=purchase.user_id)
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    assert decisions.purchase_process(purchase).code == "user_inactive"
    assert_stocks(product, 3)
    get_user_model().objects.filter(pk=user.pk).update(is_active=True)
    assert decisions.purchase_process(purchase).code == "user_inactive"  # a duplicate delivery: same answer
    fresh = decisions.purchase_process(
        PurchaseRequest(request_id="fresh-1", user_id=user.pk, product_id=product.pk, quantity=1)
    )
    assert fresh.code == "success"  # the buyer is not held by the undone sale
    assert_stocks(product, 2)


def test_an_unexpected_error_after_the_sale_in_redis_leaves_it_pending(
    clean_redis, make_buyers, make_product, monkeypatch
):
    # Redis sold, then something unexpected failed before the commit: not `internal_error` (the sale stands in
    # Redis and must reach the ledger): the error propagates, nothing is recorded, and a re-run sells it once.
    (user,) = make_buyers(1)
    product = make_product(stock_total=3)
    purchase = PurchaseRequest(request_id="bug-after-sell", user_id=user.pk, product_id=product.pk, quantity=1)
    real_sell = gate.sell

    def sell_then_fail(**kwargs):
        real_sell(**kwargs)
        raise ValueError("a bug after the sale")

    monkeypatch.setattr(gate, "sell", sell_then_fail)
    assert admissions.admit(**purchase.task_kwargs(), factor=10, slot_ms=60_000, created=1.0)[0] == "admitted"
    with pytest.raises(ValueError):
        decisions.purchase_process(purchase)
    assert records.request_get("bug-after-sell", product.pk).outcome is None  # still pending: the sweeper runs it again
    monkeypatch.undo()
    assert decisions.purchase_process(purchase).code == "success"
    assert records.request_get("bug-after-sell", product.pk).outcome["code"] == "success"
    assert_stocks(product, 2)


def test_giving_up_or_rerunning_a_refused_request_answers_its_first_refusal(clean_redis, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=1)
    purchase = PurchaseRequest(request_id="refused-first", user_id=user.pk, product_id=product.pk, quantity=1)
    sync.stock_gate_load(product_id=product.pk)
    assert decisions.purchase_abandon(purchase).code == "unavailable"  # the sweeper gave it up
    Product.objects.filter(pk=product.pk).update(stock_left=0)  # and the ledger has nothing left now
    assert decisions.purchase_process(purchase).code == "unavailable"  # not the ledger's sold_out
    assert decisions.purchase_abandon(purchase).code == "unavailable"

    other = purchase.with_request_id("refused-by-redis")
    Product.objects.filter(pk=product.pk).update(stock_left=1)
    assert admissions.admit(**other.task_kwargs(), factor=10, slot_ms=60_000, created=1.0)[0] == "admitted"
    get_client().hset(keys.meta(product.pk), "enabled", "0")  # disabled in the gate
    assert decisions.purchase_process(other).code == "sale_disabled"
    assert decisions.purchase_abandon(other).code == "sale_disabled"  # giving up keeps the answer
    admission.purchase_refuse_unsent(other)  # nor does the access layer's 503 path write `unavailable` over it
    assert records.request_get("refused-by-redis", product.pk).outcome["code"] == "sale_disabled"
    assert not Order.objects.exists()


def test_a_redelivery_racing_the_first_delivery_never_undoes_its_sale(clean_redis, make_buyers, make_product):
    """The first delivery sits between Redis' sale and its commit; the buyer is deactivated; the sweeper's
    redelivery of the same request finds the ledger refusing (an inactive buyer). It must wait for the first
    delivery, find its order and answer the sale, not undo the sale in Redis nor record `user_inactive` for a
    buyer who holds an order."""
    from django.db import connection

    from tests.support.invariants import assert_gate_and_ledger_agree
    from tests.support.polling import wait_for

    (user,) = make_buyers(1)
    product = make_product(stock_total=3)
    sync.stock_gate_load(product_id=product.pk)
    purchase = PurchaseRequest(request_id="raced-1", user_id=user.pk, product_id=product.pk, quantity=1)
    admission.purchase_admit(purchase)
    first_sold, release_first, second_done = threading.Event(), threading.Event(), threading.Event()
    outcomes = {}
    real_sell = gate.sell

    def sell_then_wait(**kwargs):  # the first delivery only: pauses after Redis sold, before its commit
        decided = real_sell(**kwargs)
        if threading.current_thread().name == "first":
            first_sold.set()
            release_first.wait(30)
        return decided

    def deliver(name, done=None):
        try:
            outcomes[name] = decisions.purchase_process(purchase)
        finally:
            connections.close_all()
            if done is not None:
                done.set()

    gate.sell, saved = sell_then_wait, gate.sell
    try:
        first = threading.Thread(target=deliver, args=("first",), name="first")
        first.start()
        assert first_sold.wait(10)
        # Deactivated meanwhile (on SQLite the update waits for the first delivery's commit, as every writer).
        deactivate = threading.Thread(target=_deactivate, args=(user.pk,))
        deactivate.start()
        postgres = connection.vendor == "postgresql"
        if postgres:
            deactivate.join(10)
        second = threading.Thread(target=deliver, args=("second", second_done), name="second")
        second.start()
        if postgres:  # the redelivery waits for the first delivery's row lock (or, unfixed, refuses at once)
            assert wait_for(lambda: second_done.is_set() or _lock_waiters() > 0, 10)
        release_first.set()
        for thread in (first, second, deactivate):
            thread.join(30)
    finally:
        gate.sell = saved
        release_first.set()

    assert outcomes["first"].code == "success" and outcomes["second"].code == "success"
    assert outcomes["second"].order_id == outcomes["first"].order_id
    assert Order.objects.filter(request_id="raced-1").count() == 1
    assert gate.decision_get(product_id=product.pk, request_id="raced-1") == gate.SOLD
    assert records.request_get("raced-1", product.pk).outcome["code"] == "success"
    assert_gate_and_ledger_agree(product.pk)  # the buyer's entry and the unit stay taken in Redis


def _deactivate(user_id: int) -> None:
    try:
        get_user_model().objects.filter(pk=user_id).update(is_active=False)
    finally:
        connections.close_all()


def _lock_waiters() -> int:
    """PostgreSQL backends of this database waiting for a lock."""
    from django.db import connections as conns

    with conns["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]
