"""Failover with real processes: the broker's and the results' Redis master SIGKILLed mid-sale, on a Sentinel set
(a master, a replica, three sentinels on private ports); web and worker processes on it, the gate on the test
Redis. What may be lost with the master (messages and results not yet replicated) is found again from the gate's
records by the sweeper: every request is decided, nothing is sold twice, every sale has its order."""

import threading
import time
from collections import Counter

import pytest

from products.models import Product
from seckill.gate import keys
from seckill.gate.client import get_client
from seckill.models import Order
from tests.support.http import http, token_for
from tests.support.invariants import assert_gate_and_ledger_agree
from tests.support.polling import wait_for
from tests.support.processes import WorkerProcess
from tests.support.redis_cluster import MASTER_NAME, RedisSentinelSet, sentinel_control

pytestmark = pytest.mark.slow

RESUME_BOUND_S = 15  # purchases are answered again within this long after the sentinels promote the replica
BUYERS, STOCK = 90, 60


def test_the_brokers_master_killed_mid_sale_loses_no_purchase(web, clean_redis, make_buyers, make_product, tmp_path):
    sentinels = RedisSentinelSet(tmp_path / "sentinel", replicas=1, sentinels=3, down_after_ms=1000)
    sentinels.start()
    env = dict(
        CELERY_BROKER_URL=sentinels.url,
        CELERY_RESULT_BACKEND=sentinels.url,
        SECKILL_SENTINEL_MASTER=MASTER_NAME,
        SECKILL_SWEEP_WITHOUT_BEAT="1",  # no beat here: the workers send the sweep of lost requests
        SECKILL_REDELIVER_AFTER="2",
        SECKILL_RESULT_TIMEOUT="2",
    )
    worker = WorkerProcess("failover@localhost", tmp_path / "worker.log")
    control = sentinel_control(sentinels.url)
    worker.start(extra_env=env, wait=False)
    try:
        assert wait_for(lambda: control.control.ping(destination=[worker.name], timeout=0.5), 60), worker.log_tail()
        base = web(**env)
        users, product = make_buyers(BUYERS), make_product(stock_total=STOCK)
        answers, sold_at, lock = {}, [], threading.Lock()
        killed = threading.Event()

        def buyer(user):
            """Buys until decided: a 503 (nothing sold) or 429 is tried again, a 202 followed to its decision."""
            token, deadline = token_for(user), time.monotonic() + 90
            while time.monotonic() < deadline:
                try:
                    status, body = http("POST", f"{base}/api/seckill/", {"product_id": product.pk}, token)
                except OSError:
                    continue  # the web server's answer lost (a timeout): ask again
                while status == 202 and time.monotonic() < deadline:
                    status, body = http("GET", f"{base}{body['result_url']}", None, token)
                    if status == 202:
                        time.sleep(0.2)  # a client's polling pace (not a synchronisation)
                if status in (503, 429):
                    time.sleep(0.2)
                    continue
                with lock:
                    answers[user.pk] = (status, body)
                    if status == 200 and killed.is_set():
                        sold_at.append(time.monotonic())
                return

        threads = [threading.Thread(target=buyer, args=(user,)) for user in users]
        for thread in threads[: BUYERS // 3]:
            thread.start()
        started = wait_for(lambda: Order.objects.filter(product=product).count() >= 5, 30, interval=0.05)
        assert started, (answers, worker.log_tail(), web.logs[-1].read_text()[-3000:])
        old_master = sentinels.master_port
        sentinels.kill(old_master)
        killed_at = time.monotonic()
        killed.set()
        for thread in threads[BUYERS // 3 :]:
            thread.start()
        assert wait_for(lambda: sentinels.master_addr()[1] != old_master, 30, interval=0.1), "no promotion"
        promoted_at = time.monotonic()
        for thread in threads:
            thread.join(timeout=120)
        # Every request decided: no record left pending (the sweeper re-sent what was lost with the master).
        assert wait_for(lambda: get_client().zcard(keys.pending(product.pk)) == 0, 60, interval=0.2), worker.log_tail()
    finally:
        worker.stop()
        control.close()
        sentinels.stop()

    assert len(answers) == BUYERS, f"{BUYERS - len(answers)} buyers never got a decision"
    codes = Counter(body["code"] for _, body in answers.values())
    assert codes == {"success": STOCK, "sold_out": BUYERS - STOCK}, codes
    assert sold_at, "nothing sold after the kill"
    resumed = min(sold_at) - promoted_at
    print(f"promoted {promoted_at - killed_at:.1f} s after the kill, first sale {resumed:.1f} s after the promotion")
    assert resumed <= RESUME_BOUND_S, resumed
    orders = dict(Order.objects.filter(product=product).values_list("user_id", "request_id"))
    assert len(orders) == STOCK and Product.objects.get(pk=product.pk).stock_left == 0
    for user_id, (_, body) in answers.items():  # each buyer's answer is what the ledger holds
        assert (body["code"] == "success") == (user_id in orders), (user_id, body)
        if body["code"] == "success":
            assert orders[user_id] == body["request_id"]
    assert_gate_and_ledger_agree(product.pk)
