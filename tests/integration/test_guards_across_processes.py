"""Guards hold across web processes: the state is in Redis, not in one process' memory."""

import threading
import time
from collections import Counter

import pytest
from django.core.management import call_command

from seckill.gate import stock as gate
from tests.conftest import http, token_for

pytestmark = [pytest.mark.slow]

BUY_BODY = lambda product: {"product_id": product.pk}  # noqa: E731


def test_blacklist_change_reaches_another_web_process_within_a_second(web, clean_redis, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=0)  # sold out: probing never buys
    base = web()
    token = token_for(user)
    assert http("POST", f"{base}/api/seckill/", BUY_BODY(product), token)[0] == 409

    call_command("blacklist", "add", "user", str(user.pk))
    added = time.monotonic()
    while True:
        status, body = http("POST", f"{base}/api/seckill/", BUY_BODY(product), token)
        if status == 403 or time.monotonic() - added > 3:
            break
        time.sleep(0.02)
    took = time.monotonic() - added
    assert (status, body["code"]) == (403, "blacklisted")
    assert took <= 1.0

    call_command("blacklist", "remove", "user", str(user.pk))
    removed = time.monotonic()
    while http("POST", f"{base}/api/seckill/", BUY_BODY(product), token)[0] == 403 and time.monotonic() - removed < 3:
        time.sleep(0.02)
    assert time.monotonic() - removed <= 1.0


def test_rate_limit_holds_exactly_across_two_processes_hammering_at_once(web, clean_redis, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=1)  # its admission slots held: allowed requests are answered busy
    for rid in ("held-1", "held-2"):
        assert (
            gate.admit(product_id=product.pk, request_id=rid, quantity=1, factor=1.5, slot_ms=300_000)[0] == "admitted"
        )
    limit, requests = 30, 200
    env = dict(SECKILL_USER_RATE_LIMIT=f"{limit}/h", SECKILL_IP_RATE_LIMIT="")
    bases = [web(**env), web(**env)]
    token = token_for(user)
    statuses, lock = Counter(), threading.Lock()
    served_by = Counter()

    def hammer(index):
        for i in range(index, requests, 16):
            base = bases[i % 2]
            _, body = http("POST", f"{base}/api/seckill/", BUY_BODY(product), token)
            with lock:
                statuses[body["code"]] += 1
                if body["code"] == "busy":
                    served_by[base] += 1

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert statuses == {"busy": limit, "rate_limited": requests - limit}  # allowed ones meet the full gate
    assert len(served_by) == 2  # both processes let some through: the count is shared, not per process
