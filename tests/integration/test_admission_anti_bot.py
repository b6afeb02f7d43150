"""The admission's anti-bot steps in admit.lua, on one Redis server and on a 3-node cluster: the pace cap
(max_admissions_per_second, one window a second of Redis' clock, exact across processes) and the one-time
purchase path (spent by the request it admits, once, even by concurrent requests)."""

import multiprocessing
import threading
import time
import uuid
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from seckill.gate import admissions, keys
from seckill.gate import stock as gate
from seckill.gate.client import client_reset, get_client

PID = 515151


@pytest.fixture(autouse=True, params=["server", "cluster"])
def gate_on(request, clean_redis):
    if request.param == "cluster":
        request.getfixturevalue("on_gate_cluster")


def load(stock, buckets=1):
    now = timezone.now()
    gate.load_product(
        product_id=PID,
        stock_left=stock,
        enabled=True,
        start_time=now - timedelta(hours=1),
        end_time=now + timedelta(hours=1),
        per_user_limit=1,
        buckets=buckets,
    )


def admit(user_id, *, bucket=0, request_id=None, **extra):
    request_id = request_id or keys.request_id_new(PID, bucket)
    answer = admissions.admit(
        product_id=PID,
        request_id=request_id,
        quantity=1,
        factor=1000.0,
        slot_ms=60_000,
        user_id=user_id,
        created=time.time(),
        **extra,
    )
    return answer, request_id


def admissions_per_second(bucket=0):
    """Admitted requests per second of Redis' clock (admit.lua scores each by its admission time)."""
    scores = get_client().zrange(keys.admitted(PID, bucket), 0, -1, withscores=True)
    return Counter(int(score) // 1000 for _, score in scores)


# --- the pace -------------------------------------------------------------------------------------------------
def test_beyond_the_pace_a_request_is_busy_until_the_next_second():
    load(stock=1000)
    answers = [admit(user, pace=3)[0] for user in range(1, 40)]
    # 39 calls in well under a second (or two partial ones): at most 3 a second, and the refusals say how long
    counts = admissions_per_second()
    assert max(counts.values()) == 3 and sum(counts.values()) == sum(a[0] == "admitted" for a in answers)
    busy = [a for a in answers if a[0] == "busy"]
    assert busy and all(0 < retry_after_ms <= 1000 for _, retry_after_ms, _ in busy)


def _hammer(first_user, ready, results):
    """One process of the crowd, on its own connections: once every process is ready, admissions as fast as it
    can for 3.2 s."""
    client_reset()
    get_client().ping()
    ready.wait(30)
    admitted = busy = 0
    user, until = first_user, time.time() + 3.2
    while time.time() < until:
        answer = admissions.admit(
            product_id=PID,
            request_id=keys.request_id_new(PID),
            quantity=1,
            factor=1000.0,
            slot_ms=60_000,
            user_id=user,
            created=time.time(),
            pace=PACE,
        )[0]
        admitted += answer == "admitted"
        busy += answer == "busy"
        user += 1
    results.put((admitted, busy))


PACE = 25


def test_the_pace_is_exact_across_processes():
    """Four processes, each far faster than the pace, for three seconds: every second of Redis' clock admits at
    most PACE, and every second the crowd covered whole admits exactly PACE."""
    load(stock=100_000)
    context = multiprocessing.get_context("fork")
    results, ready = context.Queue(), context.Barrier(4)
    crowd = [context.Process(target=_hammer, args=(1 + i * 1_000_000, ready, results)) for i in range(4)]
    for process in crowd:
        process.start()
    totals = [results.get(timeout=30) for _ in crowd]
    for process in crowd:
        process.join(10)
    admitted, busy = sum(t[0] for t in totals), sum(t[1] for t in totals)
    counts = admissions_per_second()
    assert sum(counts.values()) == admitted and busy > 10 * admitted, (admitted, busy)
    seconds = sorted(counts)
    assert max(counts.values()) <= PACE, counts
    whole = seconds[1:-1]  # the first and last seconds were covered in part
    assert len(whole) >= 2 and all(counts[s] == PACE for s in whole), counts


def test_a_bucketed_products_pace_is_split_between_its_buckets():
    load(stock=1000, buckets=3)
    state = replace(gate.sale_state(PID), pace=10)
    shares = [state.pace_share(b) for b in range(3)]
    assert shares == [4, 3, 3]
    for b in range(3):
        for user in range(20):
            admit(user, bucket=b, pace=shares[b])
    per_second = [sum(admissions_per_second(b).values()) for b in range(3)]
    # (20 calls per bucket take well under a second; two seconds at most)
    assert all(shares[b] <= per_second[b] <= 2 * shares[b] for b in range(3)), per_second


# --- the purchase path ----------------------------------------------------------------------------------------
def path(bucket=0, held=False):
    return admissions.PathSpend(
        uuid.uuid4().hex, int(time.time() * 1000) + 60_000, bucket=bucket, held_when_sold_out=held
    )


def test_a_path_is_spent_by_the_request_it_admits_and_only_once():
    load(stock=5)
    one = path()
    (answer, _, _), first = admit(7, path=one)
    assert answer == "admitted"
    assert get_client().get(keys.path_spent(PID, 0, one.nonce)) == first
    # kept as long as the path lives, and a margin (the web host's clock, which checks its expiry, may lag Redis')
    assert 60_000 < get_client().pttl(keys.path_spent(PID, 0, one.nonce)) <= 60_000 + admissions.SPENT_MARGIN_S * 1000
    assert admit(8, path=one)[0][0] == "path_used"


@pytest.mark.parametrize("refusal", ["sold_out", "already_purchased", "busy"])
def test_a_request_that_is_not_admitted_leaves_its_path_unspent(refusal):
    load(stock=0 if refusal == "sold_out" else 5)
    if refusal == "already_purchased":
        gate.buyer_set(product_id=PID, user_id=7, request_id=keys.request_id_new(PID))
    one = path()
    extra = {"pace": 0} if refusal == "busy" else {}
    assert admit(7, path=one, **extra)[0][0] == refusal
    assert not get_client().exists(keys.path_spent(PID, 0, one.nonce))
    if refusal != "sold_out":
        assert admit(9, path=one)[0][0] == "admitted"  # still good


def test_concurrent_requests_with_one_path_admit_exactly_one():
    load(stock=50)
    one = path()
    answers, barrier = [], threading.Barrier(16)

    def attempt(user):
        barrier.wait()
        answers.append(admit(user, path=one)[0][0])

    threads = [threading.Thread(target=attempt, args=(100 + i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert Counter(answers) == {"admitted": 1, "path_used": 15}
    assert admissions.admitted_count(PID) == 1


def test_a_bucketed_products_path_is_held_by_its_home_bucket_sold_out():
    """Buckets 0 and 1, the buyer's home (0) sold out: home holds the path while another bucket admits the request,
    so a second request with it finds it used, in home, whichever bucket it tries next."""
    load(stock=1, buckets=2)  # 1, 0 ... home must be the empty one:
    gate.adjust_stock(product_id=PID, delta=1)  # 1, 1
    get_client().set(keys.stock(PID, 0), 0)  # home empty, bucket 1 has a unit
    one = path(bucket=0, held=True)
    (answer, _, _), held_by = admit(7, bucket=0, path=one)
    assert answer == "sold_out" and get_client().get(keys.path_spent(PID, 0, one.nonce)) == held_by  # held
    assert admit(7, bucket=1, path=one)[0][0] == "admitted"  # (the path is not looked at outside home)
    assert admit(8, bucket=0, path=one)[0][0] == "path_used"
    # What the web does when no bucket admitted the request: gives back its own mark, never another's.
    assert not admissions.path_give_back(product_id=PID, path=one, held_by="another-request")
    assert admissions.path_give_back(product_id=PID, path=one, held_by=held_by)
    assert not get_client().exists(keys.path_spent(PID, 0, one.nonce))
