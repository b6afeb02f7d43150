"""The Lua scripts on the real redis-server (Lua 5.1; fakeredis runs another Lua)."""

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from seckill.gate import access_state as guard_store
from seckill.gate import admissions, keys, records
from seckill.gate import stock as gate
from seckill.gate.client import get_client
from seckill.gate.stock import AdjustResult, Sell

PID = 424242


def load(stock=5, *, enabled=True, start=-1, end=1, limit=1, buyers=()):
    now = timezone.now()
    return gate.load_product(
        product_id=PID,
        stock_left=stock,
        enabled=enabled,
        start_time=now + timedelta(hours=start),
        end_time=now + timedelta(hours=end),
        per_user_limit=limit,
        live_buyers=buyers,
    )


def sell(user, request, qty=1):
    return gate.sell(product_id=PID, user_id=user, request_id=request, quantity=qty)


@pytest.fixture(autouse=True, params=["server", "cluster"])
def gate_on(request, clean_redis):
    """Each test on one Redis server, then on a 3-node Redis Cluster (where a cross-slot script fails)."""
    if request.param == "cluster":
        request.getfixturevalue("on_gate_cluster")


def test_sell_decrements_and_records_the_buyer_and_the_sale():
    load(stock=2)
    assert sell(1, "r1") == (Sell.SOLD, 1)
    assert get_client().hget(keys.buyers(PID), "1") == "r1"
    assert gate.decision_get(product_id=PID, request_id="r1") == gate.SOLD


def test_stock_never_goes_below_zero_and_the_last_unit_sells_once():
    load(stock=1, limit=3)
    assert sell(1, "r1")[0] is Sell.SOLD
    assert sell(2, "r2") == ("sold_out", 0)
    assert gate.live_stock([PID]) == {PID: 0}


def test_quantity_larger_than_the_stock_is_sold_out_without_a_decrement():
    load(stock=2, limit=3)
    assert sell(1, "r1", qty=3) == ("sold_out", 2)


def test_same_request_id_replayed_does_not_sell_twice():
    load(stock=5)
    assert sell(1, "r1")[0] is Sell.SOLD
    assert sell(1, "r1") == (Sell.AGAIN, 4)
    assert gate.live_stock([PID]) == {PID: 4}


def test_second_request_of_a_buyer_is_already_purchased():
    load(stock=5)
    sell(1, "r1")
    assert sell(1, "r2") == ("already_purchased", 4)


@pytest.mark.parametrize(
    "window, expected",
    [
        (dict(start=1, end=2), "sale_not_started"),
        (dict(start=-2, end=-1), "sale_ended"),
        (dict(enabled=False), "sale_disabled"),
    ],
)
def test_window_and_switch_are_checked(window, expected):
    load(stock=5, **window)
    assert sell(1, "r1")[0] == expected
    assert gate.live_stock([PID]) == {PID: 5}


def test_quantity_over_the_limit_is_refused():
    load(stock=5, limit=2)
    assert sell(1, "r1", qty=3)[0] == "invalid_request"


def test_unloaded_product_says_so_and_decides_nothing():
    assert sell(1, "r1")[0] is Sell.NOT_LOADED
    assert gate.decision_get(product_id=PID, request_id="r1") is None


def refuse(request, code="sold_out", *, user=1, qty=1, ledger_refused=False):
    return gate.refuse(
        product_id=PID, request_id=request, user_id=user, quantity=qty, code=code, ledger_refused=ledger_refused
    )


def test_a_refusal_is_final_even_when_units_come_back():
    load(stock=1)
    assert sell(1, "r1")[0] is Sell.SOLD
    assert sell(2, "r2")[0] == "sold_out"
    gate.adjust_stock(product_id=PID, delta=1)  # a unit comes back (the admin added one)
    assert sell(2, "r2")[0] == "sold_out"  # a late or duplicate delivery of r2 does not sell now
    assert refuse("r2", code="unavailable", user=2) == "sold_out"  # nor does giving it up change its answer
    assert sell(3, "r3")[0] is Sell.SOLD  # a new request does


def test_a_request_refused_before_it_ran_never_sells():
    # The access layer answered 503 (or the sweeper gave it up); the message reached a worker after all.
    load(stock=3)
    assert refuse("r1", code="unavailable") == "unavailable"
    assert sell(1, "r1")[0] == "unavailable"
    assert gate.live_stock([PID]) == {PID: 3}
    assert get_client().hgetall(keys.buyers(PID)) == {}


def test_a_sale_stands_whatever_refusal_is_asked():
    load(stock=3)
    assert sell(1, "r1")[0] is Sell.SOLD
    assert refuse("r1", code="unavailable") == gate.SOLD  # e.g. purchase_abandon racing the commit
    assert gate.live_stock([PID]) == {PID: 2}
    assert sell(1, "r1")[0] is Sell.AGAIN  # a re-run commits the order the sale stands for


def test_a_sale_the_ledger_refused_is_undone_and_stays_refused():
    # An earlier run's sell.lua reply was lost (its transaction rolled back, Redis kept S); then the ledger
    # refused the request (the user was deactivated): the refusal is final, the units and the buyer come back.
    load(stock=3, limit=2)
    assert sell(1, "r1", qty=2)[0] is Sell.SOLD
    assert refuse("r1", code="user_inactive", qty=2, ledger_refused=True) == "user_inactive"
    assert gate.live_stock([PID]) == {PID: 3}
    assert get_client().hget(keys.buyers(PID), "1") is None
    assert sell(1, "r1", qty=2)[0] == "user_inactive"  # a later run of it cannot sell: the answer never flips
    assert refuse("r1", code="sold_out", qty=2, ledger_refused=True) == "user_inactive"  # nothing given twice
    assert gate.live_stock([PID]) == {PID: 3}
    assert sell(1, "r2")[0] is Sell.SOLD  # the buyer may buy with a new request


def test_a_buyer_entry_without_its_decision_is_a_sale():
    # The decision key expired (or was evicted) while the buyer's entry names the request: selling it again
    # takes nothing more and writes the decision back, so a refusal (abandon) cannot be recorded over it.
    load(stock=5)
    assert sell(1, "r1")[0] is Sell.SOLD
    get_client().delete(keys.decision(PID, "r1"))
    assert sell(1, "r1") == (Sell.AGAIN, 4)
    assert refuse("r1", code="unavailable") == gate.SOLD


def test_load_never_overwrites_a_live_counter():
    load(stock=5)
    sell(1, "r1")
    assert load(stock=5) is False  # the database's figure lags: the live 4 stays
    assert gate.live_stock([PID]) == {PID: 4}


def test_load_after_redis_lost_the_keys_restores_stock_and_buyers():
    assert load(stock=3, buyers=[(7, "old-request")]) is True
    assert sell(7, "new-request")[0] == "already_purchased"
    assert sell(7, "old-request")[0] is Sell.AGAIN


def test_adjust_applies_deltas_and_refuses_to_go_negative():
    load(stock=3)
    assert gate.adjust_stock(product_id=PID, delta=2) == (AdjustResult.APPLIED, 5)
    assert gate.adjust_stock(product_id=PID, delta=-6) == (AdjustResult.INSUFFICIENT, 5)
    assert gate.adjust_stock(product_id=PID, delta=-5) == (AdjustResult.APPLIED, 0)
    gate.forget_product(PID)
    assert gate.adjust_stock(product_id=PID, delta=1)[0] is AdjustResult.NOT_LOADED


def test_concurrent_sales_sell_exactly_the_stock():
    load(stock=25)
    results, barrier = [], threading.Barrier(100)

    def buy(user):
        barrier.wait()
        results.append(sell(user, f"r{user}")[0])

    threads = [threading.Thread(target=buy, args=(u,)) for u in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(Sell.SOLD) == 25
    assert results.count("sold_out") == 75
    assert gate.live_stock([PID]) == {PID: 0}
    assert get_client().hlen(keys.buyers(PID)) == 25


def test_scripts_survive_a_flushed_script_cache():
    load(stock=2)
    get_client().script_flush()  # what a Redis restart does to the cache
    assert sell(1, "r1")[0] is Sell.SOLD


def test_admission_writes_the_request_record_only_when_it_admits(settings):
    settings.SECKILL_REQUEST_TTL = 600
    load(stock=1)
    args = dict(product_id=PID, quantity=1, factor=1.0, slot_ms=60_000, user_id=7, created=1234.5)
    assert admissions.admit(request_id="adm-1", **args)[0] == "admitted"
    record = records.request_get("adm-1", PID)
    assert (record.user_id, record.product_id, record.quantity, record.created, record.outcome) == (
        7,
        PID,
        1,
        1234.5,
        None,
    )
    assert 0 < get_client().ttl(keys.request(PID, "adm-1")) <= 600
    assert records.requests_pending_since(2000, 10, [PID]) == [("adm-1", 1234.5, PID)]  # the sweeper sees it
    assert admissions.admit(request_id="adm-2", **args)[0] == "busy"  # one slot for one unit
    assert records.request_get("adm-2", PID) is None
    assert records.requests_pending_since(2000, 10, [PID]) == [("adm-1", 1234.5, PID)]


def test_recording_an_outcome_ends_pending_and_frees_the_slot(settings):
    settings.SECKILL_REQUEST_TTL = 600
    load(stock=2)
    args = dict(product_id=PID, quantity=1, factor=1.0, slot_ms=60_000, user_id=7, created=1.0)
    for rid in ("out-1", "out-2"):
        assert admissions.admit(request_id=rid, **args)[0] == "admitted"
    records.request_set_outcome(product_id=PID, request_id="out-1", outcome={"code": "success"}, free_slot=True)
    records.request_set_outcome(product_id=PID, request_id="out-2", outcome={"code": "unavailable"})  # slot kept
    assert records.request_get("out-1", PID).outcome == {"code": "success"}
    assert records.requests_pending_since(10, 10, [PID]) == []
    assert admissions.admitted_count(PID) == 1
    assert 0 < get_client().ttl(keys.request(PID, "out-1")) <= 600


def test_a_record_written_again_by_its_outcome_alone_is_read_from_it():
    """A failover lost the record; the decision then wrote its outcome, which names owner, product and quantity."""
    rid = keys.request_id_new(PID)
    outcome = {"code": "sold_out", "request_id": rid, "user_id": 7, "product_id": PID, "quantity": 1}
    records.request_set_outcome(product_id=PID, request_id=rid, outcome=outcome)
    record = records.request_get(rid)
    assert (record.user_id, record.product_id, record.quantity, record.outcome) == (7, PID, 1, outcome)
    records.request_set_outcome(product_id=PID, request_id="anonymous", outcome={"code": "busy"})
    assert records.request_get("anonymous", PID) is None  # an outcome naming no owner is no record


# --- rate limits (ratelimit.lua) ---------------------------------------------------------------------------
def test_rate_limit_windows_are_timed_by_redis_not_by_the_callers_clock(monkeypatch):
    rules = [("user", "77", 2, 1)]  # 2 per second
    assert guard_store.rate_limit_hit(rules)[0]
    # Another web host whose clock is an hour off shares the same count.
    monkeypatch.setattr(guard_store.time, "time", lambda: 1_800_000_000.0 + 3600)
    assert guard_store.rate_limit_hit(rules)[0]
    allowed, retry_after_ms, breached = guard_store.rate_limit_hit(rules)
    assert (allowed, breached) == (False, 0)
    assert 0 < retry_after_ms <= 1000  # what is left of the window, by Redis' clock
    # The window ends with its key's expiry: allowed again (a poll with a deadline, not a sleep).
    from tests.support.polling import wait_for

    assert wait_for(lambda: guard_store.rate_limit_hit(rules)[0], 3, 0.05)


def test_admission_counts_the_rate_limits_in_the_same_step_and_admits_nothing_over_them(settings):
    settings.SECKILL_REQUEST_TTL = 600
    rules = [("user", "79", 2, 60), ("ip", "10.0.0.9", 100, 1)]
    call = dict(product_id=PID, quantity=1, factor=10.0, slot_ms=60_000, user_id=79, created=5.0, rate_limits=rules)
    assert admissions.admit(request_id="rl-0", **call)[0] == "not_loaded"
    # not loaded: nothing counted (the caller retries)
    assert get_client().get(keys.rate_limit("user", "79", 60)) is None
    load(stock=5)
    for rid in ("rl-1", "rl-2"):
        assert admissions.admit(request_id=rid, **call) == ("admitted", 0, -1)
    answer, retry_after_ms, breached = admissions.admit(request_id="rl-3", **call)
    assert (answer, breached) == ("rate_limited", 0)
    assert 0 < retry_after_ms <= 60_000
    # Refused whole: not admitted, no record, nothing pending, and no rule counted it.
    assert admissions.admitted_count(PID) == 2
    assert records.request_get("rl-3", PID) is None
    assert [rid for rid, _, _ in records.requests_pending_since(10, 10, [PID])] == ["rl-1", "rl-2"]
    counters = [keys.rate_limit("user", "79", 60), keys.rate_limit("ip", "10.0.0.9", 1)]
    assert [get_client().get(key) for key in counters] == ["2", "2"]
    # The same counters as the rate limit on its own: one count, whichever step makes it.
    allowed, _, breached = guard_store.rate_limit_hit(rules)
    assert (allowed, breached) == (False, 0)
    assert admissions.admit(request_id="rl-4", **dict(call, rate_limits=[])) == ("admitted", 0, -1)


def test_a_rate_limit_counter_without_expiry_gets_one():
    client = get_client()
    client.set(keys.rate_limit("user", "78", 60), 5)  # full, and (not by our script) without expiry
    allowed, retry_after_ms, _ = guard_store.rate_limit_hit([("user", "78", 5, 60)])
    assert not allowed and retry_after_ms == 60_000
    assert 0 < client.pttl(keys.rate_limit("user", "78", 60)) <= 60_000


def test_admission_answers_a_buyer_the_gate_knows_already_purchased(settings):
    settings.SECKILL_REQUEST_TTL = 600
    load(stock=5, buyers=[(7, "bought-before")])
    args = dict(product_id=PID, quantity=1, factor=10.0, slot_ms=60_000, created=1.0)
    assert admissions.admit(request_id="again-1", user_id=7, **args)[0] == "already_purchased"
    assert records.request_get("again-1", PID) is None and admissions.admitted_count(PID) == 0
    assert admissions.admit(request_id="new-1", user_id=8, **args)[0] == "admitted"


# --- a product in buckets (keys.py: bucket b > 0 in a slot of its own, the request id naming its bucket) ---------
def load_buckets(stock, n=3, buyers=()):
    now = timezone.now()
    window = dict(start_time=now - timedelta(hours=1), end_time=now + timedelta(hours=1))
    return gate.load_product(
        product_id=PID, stock_left=stock, enabled=True, per_user_limit=1, live_buyers=buyers, buckets=n, **window
    )


def bucket_stocks(n=3):
    return [int(get_client().get(keys.stock(PID, b))) for b in range(n)]


def test_a_product_in_buckets_splits_its_stock_and_sums_it_back():
    held = keys.request_id_new(PID, 2)
    assert load_buckets(10, buyers=[(7, held)])
    assert bucket_stocks() == [4, 3, 3]
    assert gate.live_stock([PID]) == {PID: 10}
    state = gate.sale_state(PID)
    assert (state.stock, state.buckets) == (10, 3)
    assert gate.buyers(PID) == {7: held} and get_client().hget(keys.buyers(PID, 2), "7") == held
    assert not load_buckets(10)  # live: never loaded twice
    get_client().delete(keys.stock(PID, 1))  # one bucket lost alone (a failover) comes back empty:
    load_buckets(10)  # never more units than the ledger's, reconciliation moves them
    assert bucket_stocks() == [4, 0, 3]
    gate.forget_product(PID)
    assert gate.live_stock([PID]) == {PID: None} and not get_client().exists(keys.stock(PID, 2))


def test_each_bucket_admits_sells_and_records_its_own_requests(settings):
    load_buckets(2)  # 1, 1, 0
    admit = dict(quantity=1, factor=1.5, slot_ms=60_000, created=time.time())
    in_bucket = [keys.request_id_new(PID, b) for b in range(3)]
    assert admissions.admit(product_id=PID, request_id=in_bucket[2], user_id=3, **admit)[0] == "sold_out"
    assert admissions.admit(product_id=PID, request_id=in_bucket[1], user_id=2, **admit)[0] == "admitted"
    assert records.request_get(in_bucket[1]).user_id == 2 and records.requests_pending_count([PID]) == 1
    assert admissions.admitted_count(PID) == 1
    assert sell(2, in_bucket[1]) == (Sell.SOLD, 0)  # bucket 1's last unit; bucket 0 keeps its own
    assert bucket_stocks() == [1, 0, 0] and gate.live_stock([PID]) == {PID: 1}
    assert sell(3, in_bucket[2]) == ("sold_out", 0)
    records.request_set_outcome(product_id=PID, request_id=in_bucket[1], outcome={"code": "success"}, free_slot=True)
    assert records.requests_pending_count([PID]) == 0 and admissions.admitted_count(PID) == 0
    assert gate.release(product_id=PID, orders=[(2, in_bucket[1], 1)]) == 1  # back to the bucket that sold it
    assert bucket_stocks() == [1, 1, 0] and gate.buyers(PID) == {}


def test_stock_edits_spread_over_the_buckets_and_never_go_below_zero():
    load_buckets(3)  # 1, 1, 1
    assert gate.adjust_stock(product_id=PID, delta=4) == (AdjustResult.APPLIED, 7)
    assert sorted(bucket_stocks()) == [2, 2, 3]
    assert gate.adjust_stock(product_id=PID, delta=-6) == (AdjustResult.APPLIED, 1)
    assert gate.adjust_stock(product_id=PID, delta=-2) == (AdjustResult.INSUFFICIENT, 1)  # nothing removed
    assert sum(bucket_stocks()) == 1 and min(bucket_stocks()) == 0


def test_a_buyer_entry_is_set_in_its_requests_bucket_alone():
    load_buckets(3)
    first, second = keys.request_id_new(PID, 0), keys.request_id_new(PID, 2)
    gate.buyer_set(product_id=PID, user_id=5, request_id=first)
    gate.buyer_set(product_id=PID, user_id=5, request_id=second)  # (reconcile: the ledger's order is the second)
    assert get_client().hget(keys.buyers(PID, 0), "5") is None and gate.buyers(PID) == {5: second}
    gate.buyer_set(product_id=PID, user_id=5, request_id=None)
    assert gate.buyers(PID) == {}


def test_request_ids_name_their_product_and_bucket():
    assert keys.request_id_product(keys.request_id_new(PID, 2)) == PID
    assert keys.request_bucket(keys.request_id_new(PID, 2)) == 2
    assert keys.request_bucket(keys.request_id_new(PID)) == 0 and keys.request_bucket("made-up") == 0
    assert keys.request_id_product("1.x-abc") is None and keys.request_id_product("1.2") is None
