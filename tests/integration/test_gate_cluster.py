"""The gate on a 3-node Redis Cluster: every key family of seckill/gate/keys.py used through the gate's own
functions, where a script or MULTI over two slots fails (redis-py refuses it before sending). The Lua steps of a
sale run on both a server and the cluster in test_redis_store.py; this file covers the rest, and checks that no
key family of keys.py is left out."""

import json
import time
from datetime import timedelta

import pytest
import redis
from django.utils import timezone
from redis.crc import key_slot

from seckill.gate import access_state, admissions, entries, keys, operations, records
from seckill.gate import stock as gate
from seckill.gate.client import get_client
from seckill.worker.outcome_record import OutcomeRecorder
from seckill_site.celery import app as celery_app

pytestmark = pytest.mark.usefixtures("on_gate_cluster")

# Every key family of keys.py (its functions and constants), and the test below that uses it on the cluster.
COVERED = {
    "stock": "test_redis_store.py, test_products_in_different_slots",
    "buyers": "test_redis_store.py",
    "meta": "test_redis_store.py",
    "decision": "test_redis_store.py",
    "admitted": "test_redis_store.py",
    "request": "test_records_and_the_pending_sets",
    "pending": "test_records_and_the_pending_sets",
    "idempotency": "test_idempotency_keys",
    "blacklist": "test_blacklists_bans_and_their_versions",
    "bans": "test_blacklists_bans_and_their_versions",
    "INACTIVE_USERS": "test_blacklists_bans_and_their_versions",
    "BLACKLIST_VERSION": "test_blacklists_bans_and_their_versions",
    "BANS_VERSION": "test_blacklists_bans_and_their_versions",
    "rate_limit": "test_rate_limits_of_two_subjects",
    "rate_limit_breach": "test_rate_limits_of_two_subjects",
    "RECONCILE_REPORT": "test_operations_state",
    "WORKERS": "test_operations_state",
    "BEAT": "test_operations_state",
    "BEAT_LEASE": "test_operations_state",
    "SWEEP_STAND_IN": "test_operations_state",
    "pace": "test_admission_anti_bot.py",
    "path_spent": "test_admission_anti_bot.py",
    "solution_spent": "test_a_challenges_solution_is_spent_once",
    "entries": "test_a_draws_entries_close_and_its_orders_take_their_units",
}
NOT_KEYS = {"request_id_new", "request_id_product", "request_bucket", "uuid"}


def load(product_id, stock=5):
    now = timezone.now()
    window = dict(start_time=now - timedelta(hours=1), end_time=now + timedelta(hours=1))
    gate.load_product(product_id=product_id, stock_left=stock, enabled=True, per_user_limit=1, **window)


def test_every_key_family_is_used_on_the_cluster():
    families = {name for name in vars(keys) if not name.startswith("_")} - NOT_KEYS - {"annotations"}
    assert families == set(COVERED), "a key family added to keys.py belongs in its slot table and in this test"


def test_a_products_buckets_are_slots_of_their_own(gate_cluster):
    """What buckets are for: one product's keys spread over slots, and so over the cluster's nodes."""
    slots = {key_slot(keys.stock(4242, b).encode()) for b in range(8)}
    assert len(slots) == 8
    nodes = {gate_cluster.master_of(keys.stock(4242, b)) for b in range(8)}
    assert len(nodes) > 1, "8 buckets all on one node of three"


def test_the_cluster_refuses_a_script_over_two_slots():
    """What this file relies on: a cross-slot script fails here (as admit.lua with the rate limits would)."""
    with pytest.raises(redis.RedisClusterException):
        get_client().eval("return 1", 2, keys.stock(1), keys.stock(2))


def test_products_in_different_slots():
    product_ids = list(range(101, 109))  # spread over the nodes' slots
    for pid in product_ids:
        load(pid, stock=pid)
    assert gate.live_stock(product_ids) == {pid: pid for pid in product_ids}
    sold = [gate.sell(product_id=pid, user_id=1, request_id=f"{pid}-r", quantity=1)[0] for pid in product_ids]
    assert sold == [gate.Sell.SOLD] * len(product_ids)
    gate.forget_product(101)
    assert gate.live_stock([101, 102]) == {101: None, 102: 101}


def test_records_and_the_pending_sets():
    load(201)
    load(202)
    first, second = keys.request_id_new(201), keys.request_id_new(202)
    for pid, rid, created in ((201, first, 10.0), (202, second, 5.0)):
        admitted = admissions.admit(
            product_id=pid, request_id=rid, quantity=1, factor=2, slot_ms=60_000, user_id=7, created=created
        )
        assert admitted[0] == "admitted"
    # The record is found from the request id alone: the id names its product.
    assert records.request_get(first).product_id == 201 and records.request_get(second).product_id == 202
    both = [201, 202]
    assert records.requests_pending_since(100, 10, both) == [(second, 5.0, 202), (first, 10.0, 201)]
    assert records.requests_pending_count(both) == 2
    records.request_touch_pending(202, second, 50.0)
    assert records.requests_pending_since(20, 10, both) == [(first, 10.0, 201)]
    records.request_forget_pending(202, second)
    # Decided: off the pending set, the admission slot freed, in one script (the product's slot).
    records.request_set_outcome(product_id=201, request_id=first, outcome={"code": "success"}, free_slot=True)
    assert records.request_get(first).outcome == {"code": "success"}
    assert records.requests_pending_count(both) == 0 and admissions.admitted_count(201) == 0
    refused = keys.request_id_new(203)
    records.request_create_decided(
        request_id=refused, user_id=8, product_id=203, quantity=1, created=1.0, outcome={"code": "sold_out"}
    )
    assert records.request_get(refused).outcome == {"code": "sold_out"}


def test_the_celery_result_is_stored_apart_from_the_record():
    """On a cluster the result's key is in another slot: the outcome recorder steps aside, the task records."""
    load(301)
    rid = keys.request_id_new(301)
    admissions.admit(product_id=301, request_id=rid, quantity=1, factor=2, slot_ms=60_000, user_id=7, created=1.0)
    meta = json.dumps({"status": "SUCCESS", "result": {}})
    with pytest.raises(redis.RedisClusterException):  # the one script over both, as on one server
        records.request_set_outcome(
            product_id=301,
            request_id=rid,
            outcome={},
            free_slot=True,
            task_result=(f"celery-task-meta-{rid}", meta, 60),
        )
    assert OutcomeRecorder().accepts(celery_app.backend) is False


def test_a_challenges_solution_is_spent_once():
    expires_at = int(time.time()) + 60
    assert admissions.solution_spend(product_id=401, solution_id="ab" * 16, expires_at=expires_at)
    assert not admissions.solution_spend(product_id=401, solution_id="ab" * 16, expires_at=expires_at)
    assert admissions.solution_spend(product_id=402, solution_id="ab" * 16, expires_at=expires_at)  # another product's
    assert (
        55 + admissions.SPENT_MARGIN_S
        <= get_client().ttl(keys.solution_spent(401, "ab" * 16))
        <= 60 + admissions.SPENT_MARGIN_S
    )


def test_idempotency_keys():
    assert records.idempotency_claim(user_id=5, key="k", request_id="1-a", ttl_s=60) is None
    assert records.idempotency_claim(user_id=5, key="k", request_id="1-b", ttl_s=60) == "1-a"
    assert 0 <= records.idempotency_claimed_ago(user_id=5, key="k", ttl_s=60) <= 1
    records.idempotency_release(user_id=5, key="k", request_id="1-a")
    assert records.idempotency_claimed_ago(user_id=5, key="k", ttl_s=60) is None


def test_blacklists_bans_and_their_versions():
    before = access_state.blacklist_version()
    access_state.blacklist_set(kind="user", value="9", expires_ms=0)
    access_state.blacklist_set(kind="ip", value="10.0.0.0/8", expires_ms=0)
    access_state.ban_set(kind="ip", value="192.0.2.1", expires_ms=int(time.time() * 1000) + 60_000)
    access_state.user_set_inactive(user_id=12, inactive=True)
    users, ips, inactive = access_state.blacklist_read()
    assert users == {"9": 0} and set(ips) == {"10.0.0.0/8", "192.0.2.1"} and inactive == {"12"}
    assert access_state.blacklist_version() != before
    access_state.blacklist_unset(kind="user", value="9")
    access_state.blacklist_replace(entries=[("user", "3", 0)], inactive_user_ids=[4], version="v1")
    assert access_state.blacklist_read()[0] == {"3": 0} and access_state.inactive_users() == {"4"}
    assert access_state.blacklist_version()[0] == "v1"
    access_state.ban_set(kind="user", value="6", expires_ms=1)  # lapsed long ago
    assert access_state.bans_prune() == 1


def test_rate_limits_of_two_subjects():
    """A user's and an address' counters are in two slots: counted in a call each, all or none."""
    rules = [("user", "31", 5, 60), ("ip", "198.51.100.7", 2, 60)]
    assert access_state.rate_limit_hit(rules)[0] and access_state.rate_limit_hit(rules)[0]
    allowed, retry_after_ms, breached = access_state.rate_limit_hit(rules)
    assert (allowed, breached) == (False, 1) and 0 < retry_after_ms <= 60_000
    client = get_client()
    assert client.get(keys.rate_limit("user", "31", 60)) == "2"  # the user's count was given back
    access_state.rate_limit_refund(rules)
    assert client.get(keys.rate_limit("ip", "198.51.100.7", 60)) == "1"
    # The admission counts them the same way on a cluster, then admits (the product's slot).
    load(401)
    call = dict(product_id=401, quantity=1, factor=10, slot_ms=60_000, user_id=31, created=1.0, rate_limits=rules)
    assert admissions.admit(request_id=keys.request_id_new(401), **call)[0] == "admitted"
    assert admissions.admit(request_id=keys.request_id_new(401), **call)[:1] == ("rate_limited",)
    assert access_state.rate_limit_breach(scope="ip", ident="198.51.100.7") == 1
    access_state.failures_count([("login-pair", "a|b", 3, 60), ("login-name", "a", 3, 60)])
    assert access_state.failures_full([("login-pair", "a|b", 1, 60)])[0]


def test_operations_state():
    operations.reconcile_report_set({1: "{}", 2: "{}"})
    assert operations.reconcile_report_get([1, 2, 3]) == {1: "{}", 2: "{}", 3: None}
    operations.worker_seen("w1@host")
    assert operations.workers_seen_since(time.time() - 5) == 1
    operations.worker_gone("w1@host")
    operations.beat_seen()
    assert time.time() - operations.beat_last_seen() < 5
    assert operations.sweep_stand_in_claim(ttl_ms=10_000) and not operations.sweep_stand_in_claim(ttl_ms=10_000)
    assert operations.beat_lease_hold(beat_id="a", ttl_ms=10_000)
    assert operations.beat_lease_hold(beat_id="a", ttl_ms=10_000)  # renewed
    assert not operations.beat_lease_hold(beat_id="b", ttl_ms=10_000)


def test_a_draws_entries_close_and_its_orders_take_their_units():
    """enter.lua (with rate limits in their subjects' slots, a path spent), draw_close.lua and take.lua, each in
    the product's slot."""
    now = timezone.now()
    window = dict(start_time=now - timedelta(hours=1), end_time=now + timedelta(hours=1))
    gate.load_product(product_id=77, stock_left=2, enabled=True, per_user_limit=1, mode="draw", **window)
    rules = [("user", "5", 10, 60), ("ip", "10.0.0.1", 10, 60)]
    path = admissions.PathSpend("n" * 32, int(time.time() * 1000) + 60_000)
    assert entries.enter(product_id=77, user_id=5, code="c5", path=path, rate_limits=rules)[:2] == ("entered", "c5")
    assert entries.enter(product_id=77, user_id=5, code="other")[:2] == ("entered", "c5")
    assert entries.enter(product_id=77, user_id=6, code="c6", path=path)[0] == "path_used"
    assert entries.enter(product_id=77, user_id=6, code="c6")[:2] == ("entered", "c6")
    assert entries.entry_code(product_id=77, user_id=6) == "c6" and entries.entries_count(77) == 2
    with pytest.raises(entries.EntriesOpen):
        entries.entries_close(77)
    get_client().hset(keys.meta(77), "end", 0)  # the window over, by Redis' clock
    assert entries.entries_close(77) == {5: "c5", 6: "c6"}
    assert entries.enter(product_id=77, user_id=7, code="c7")[0] == "ended"
    assert gate.take(product_id=77, orders=[(5, "77-draw-c5", 1), (6, "77-draw-c6", 1)]) == 2
    assert gate.take(product_id=77, orders=[(5, "77-draw-c5", 1)]) == 0  # once
    assert gate.live_stock([77]) == {77: 0} and gate.buyers(77) == {5: "77-draw-c5", 6: "77-draw-c6"}
    entries.entries_forget(77)
    assert entries.entries_close(77) == {}
