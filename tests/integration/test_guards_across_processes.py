"""Guards hold across web processes: the state is in Redis, not in one process' memory."""

import threading
import time
from collections import Counter

import pytest
from django.core.management import call_command

from seckill.gate import admissions
from tests.support.http import http, token_for

pytestmark = [pytest.mark.slow]

BUY_BODY = lambda product: {"product_id": product.pk}  # noqa: E731


def test_blacklist_change_reaches_another_web_process_within_a_second(web, clean_redis, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=0)  # sold out: probing never buys
    base = web()
    token = token_for(user)
    assert http("POST", f"{base}/api/seckill/", BUY_BODY(product), token)[0] == 409

    # The web process looks at the blacklist's version at least once a second (SECKILL_BLACKLIST_REFRESH): every
    # request sent a second after the change is answered by it, however long the answers take to come back.
    call_command("blacklist", "add", "user", str(user.pk))
    last_allowed = last_sent_with(base, product, token, 409, since=time.monotonic())
    assert last_allowed["status_now"] == 403 and last_allowed["code_now"] == "blacklisted"
    assert last_allowed["sent_after_s"] < 1.0

    call_command("blacklist", "remove", "user", str(user.pk))
    last_refused = last_sent_with(base, product, token, 403, since=time.monotonic())
    assert last_refused["status_now"] == 409
    assert last_refused["sent_after_s"] < 1.0


def last_sent_with(base, product, token, status, *, since) -> dict:
    """Probe until the answer is no longer `status` (3 s at most): when, after `since`, the last request answered
    `status` was sent, and the answer that ended it."""
    sent_after_s = -1.0
    while True:
        sent = time.monotonic()
        answered, body = http("POST", f"{base}/api/seckill/", BUY_BODY(product), token)
        if answered != status or sent - since > 3:
            return {"sent_after_s": sent_after_s, "status_now": answered, "code_now": body["code"]}
        sent_after_s = sent - since
        time.sleep(0.02)


def test_rate_limit_holds_exactly_across_two_processes_hammering_at_once(web, clean_redis, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=1)  # its admission slots held: allowed requests are answered busy
    for rid in ("held-1", "held-2"):
        assert (
            admissions.admit(product_id=product.pk, request_id=rid, quantity=1, factor=1.5, slot_ms=300_000)[0]
            == "admitted"
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
