"""Failover with real processes, mid-sale (docs/reliability.md, "Failover"):
- the broker's and the results' Redis master SIGKILLed, on a Sentinel set (a master, a replica, three sentinels on
  private ports), the gate on the test Redis. What may be lost with the master (messages and results not yet
  replicated) is found again from the gate's records by the sweeper;
- the gate's master of the product's slot SIGKILLed, on a cluster of 3 masters and 3 replicas, with sales its
  replica never received: the ledger keeps the sale exact, `reconcile --fix` repairs the gate.
Either way every request is decided, nothing is sold twice, every sale has its order, the answers buyers got are
what the ledger holds, and sales resume within RESUME_BOUND_S of the promotion."""

import threading
import time
from collections import Counter
from io import StringIO

import pytest
import redis
from django.core.management import call_command
from django.db import connection

from products.models import Product
from seckill.gate import keys
from seckill.gate.client import client_reset, get_client
from seckill.models import Order
from tests.support.http import http, token_for
from tests.support.invariants import assert_gate_and_ledger_agree
from tests.support.polling import wait_for
from tests.support.processes import WorkerProcess
from tests.support.redis_cluster import MASTER_NAME, RedisClusterProcesses, RedisSentinelSet, sentinel_control

# Slow, and the same on either database: run in the SQLite pass only, to keep the whole suite near 15 minutes.
pytestmark = [pytest.mark.slow, pytest.mark.skipif(connection.vendor == "postgresql", reason="runs in the SQLite pass")]

RESUME_BOUND_S = 15  # purchases are answered again within this long after the promotion
BUYERS, STOCK = 90, 60
# No beat in these tests: the workers send the sweep of lost requests; a short wait, so that requests are swept soon.
ENV = dict(SECKILL_SWEEP_WITHOUT_BEAT="1", SECKILL_REDELIVER_AFTER="2", SECKILL_RESULT_TIMEOUT="2")


class Sale:
    """BUYERS buyers against one web server, each until decided: a 503 (nothing sold), a 429 or a status in
    `retry` (a 404: the request was lost with the gate's master) is tried again, a 202 followed to its decision,
    as a buyer's client does. A third start, then `kill` runs once some orders are in, then the rest start."""

    def __init__(self, base, users, product, retry=(503, 429)):
        self.base, self.users, self.product, self.retry = base, users, product, retry
        self.answers, self.lock = {}, threading.Lock()
        self.sales = []  # (when its request was sent, when it was answered) of each sale

    def buyer(self, user):
        token, deadline = token_for(user), time.monotonic() + 90
        while time.monotonic() < deadline:
            sent = time.monotonic()
            try:
                status, body = http("POST", f"{self.base}/api/seckill/", {"product_id": self.product.pk}, token)
            except OSError:
                continue  # the web server's answer lost (a timeout): ask again
            while status == 202 and time.monotonic() < deadline:
                status, body = http("GET", f"{self.base}{body['result_url']}", None, token)
                if status == 202:
                    time.sleep(0.2)  # a client's polling pace (not a synchronisation)
            if status in self.retry:
                time.sleep(0.2)
                continue
            with self.lock:
                self.answers[user.pk] = (status, body)
                if status == 200:
                    self.sales.append((sent, time.monotonic()))
            return

    def run(self, kill, promoted) -> float:
        """Sells through `kill(start_more)`; returns the moment `promoted()` first held (the replica took over).
        A third of the buyers start first; `start_more()` starts the next third (once: a kill that needs sales
        in flight calls it), the rest start after the kill."""
        threads = [threading.Thread(target=self.buyer, args=(user,)) for user in self.users]
        for thread in threads[: BUYERS // 3]:
            thread.start()
        started = wait_for(lambda: Order.objects.filter(product=self.product).count() >= 5, 30, interval=0.05)
        assert started, self.answers

        def start_more():
            for thread in threads[BUYERS // 3 : 2 * BUYERS // 3]:
                thread.start()

        kill(start_more)
        self.killed_at = time.monotonic()
        for thread in threads[BUYERS // 3 :]:
            if thread.ident is None:  # (not started by start_more)
                thread.start()
        assert wait_for(promoted, 30, interval=0.1), "no promotion"
        promoted_at = time.monotonic()
        for thread in threads:
            thread.join(timeout=120)
        return promoted_at

    def assert_exact(self, promoted_at):
        """Every buyer decided; the stock sold exactly, once per buyer; each answer what the ledger holds; sales
        again within RESUME_BOUND_S of the promotion. A buyer who asked again after their request was lost may
        be told `already_purchased` (their first request sold): they hold an order too."""
        assert len(self.answers) == BUYERS, f"{BUYERS - len(self.answers)} buyers never got a decision"
        codes = Counter(body["code"] for _, body in self.answers.values())
        holders = codes["success"] + codes["already_purchased"]
        assert holders == STOCK and codes["sold_out"] == BUYERS - STOCK, codes
        orders = dict(Order.objects.filter(product=self.product).values_list("user_id", "request_id"))
        assert len(orders) == STOCK and Product.objects.get(pk=self.product.pk).stock_left == 0
        for user_id, (_, body) in self.answers.items():
            assert (body["code"] in ("success", "already_purchased")) == (user_id in orders), (user_id, body)
            if body["code"] == "success":
                assert orders[user_id] == body["request_id"]
        after = [answered for sent, answered in self.sales if sent >= self.killed_at]
        assert after, "nothing sold to a request sent after the kill"
        resumed = min(after) - promoted_at
        print(f"promoted {promoted_at - self.killed_at:.1f} s after the kill, next sale {resumed:.1f} s after that")
        assert resumed <= RESUME_BOUND_S, resumed


def test_the_brokers_master_killed_mid_sale_loses_no_purchase(web, clean_redis, make_buyers, make_product, tmp_path):
    sentinels = RedisSentinelSet(tmp_path / "sentinel", replicas=1, sentinels=3, down_after_ms=1000)
    sentinels.start()
    env = dict(ENV, CELERY_BROKER_URL=sentinels.url, CELERY_RESULT_BACKEND=sentinels.url)
    env["SECKILL_SENTINEL_MASTER"] = MASTER_NAME
    worker = WorkerProcess("failover@localhost", tmp_path / "worker.log")
    control = sentinel_control(sentinels.url)
    worker.start(extra_env=env, wait=False)
    try:
        assert wait_for(lambda: control.control.ping(destination=[worker.name], timeout=0.5), 60), worker.log_tail()
        sale = Sale(web(**env), make_buyers(BUYERS), make_product(stock_total=STOCK))
        old_master = sentinels.master_port
        promoted_at = sale.run(
            lambda start_more: sentinels.kill(old_master), lambda: sentinels.master_addr()[1] != old_master
        )
        # Every request decided: no record left pending (the sweeper re-sent what was lost with the master).
        product = sale.product
        assert wait_for(lambda: get_client().zcard(keys.pending(product.pk)) == 0, 60, interval=0.2), worker.log_tail()
    finally:
        worker.stop()
        control.close()
        sentinels.stop()
    sale.assert_exact(promoted_at)
    assert_gate_and_ledger_agree(product.pk)


def test_the_gates_master_killed_mid_sale_keeps_the_sale_exact(
    web, clean_redis, make_buyers, make_product, tmp_path, settings
):
    """The gate on a cluster of 3 masters and 3 replicas: the master of the product's slot SIGKILLed while its
    replica was frozen for a few sales, so that the replica takes over without them (asynchronous replication
    lost them: stock, buyers, records). The ledger's constraints keep the sale exact; `reconcile` finds what the
    gate lost and `--fix` repairs it. The broker and results on a Redis of their own (a one-sentinel set), so that
    no other test's worker takes these purchases."""
    cluster = RedisClusterProcesses(tmp_path / "gate", masters=3, replicas=1, node_timeout_ms=1000)
    broker = RedisSentinelSet(tmp_path / "broker")
    cluster.start()
    broker.start()
    env = dict(ENV, CELERY_BROKER_URL=broker.url, CELERY_RESULT_BACKEND=broker.url)
    env |= dict(SECKILL_SENTINEL_MASTER=MASTER_NAME, SECKILL_GATE_URL=cluster.url, SECKILL_GATE_CLUSTER="1")
    settings.SECKILL_GATE_URL, settings.SECKILL_GATE_CLUSTER = cluster.url, True  # this process' gate too
    client_reset()
    worker = WorkerProcess("gate-failover@localhost", tmp_path / "worker.log")
    control = sentinel_control(broker.url)
    worker.start(extra_env=env, wait=False)
    try:
        assert wait_for(lambda: control.control.ping(destination=[worker.name], timeout=0.5), 60), worker.log_tail()
        product = make_product(stock_total=STOCK)
        sale = Sale(web(**env), make_buyers(BUYERS), product, retry=(503, 429, 404))
        old_master = cluster.master_of(keys.stock(product.pk))
        (replica,) = cluster.replicas_of(old_master)
        lost = []  # whether sales landed on the master alone

        def kill(start_more):
            # Its replica frozen and its link cut (what the master sent before is in the replica's socket and
            # arrives; nothing after) while more buyers' sales land on the master only; then the master gone.
            # (Frozen for seconds at most: far within the time a replica may lag and still take over.)
            orders = Order.objects.filter(product=product).count
            cluster.freeze(replica)
            try:
                redis.Redis(port=old_master).client_kill_filter(_type="replica")
                before = orders()
                start_more()
                lost.append(wait_for(lambda: orders() >= before + 3, 5, interval=0.02))
                cluster.kill(old_master)
            finally:
                cluster.thaw(replica)

        def promoted():
            return cluster.master_of(keys.stock(product.pk), skip=[old_master]) == replica and cluster.ready(
                skip=[old_master]
            )

        promoted_at = sale.run(kill, promoted)
        # Every request decided: no record left pending (the sweeper re-sent what the master took with it).
        assert wait_for(lambda: get_client().zcard(keys.pending(product.pk)) == 0, 60, interval=0.2), worker.log_tail()
    finally:
        worker.stop()
        control.close()
        broker.stop()

    try:
        sale.assert_exact(promoted_at)
        # What the gate lost is drift the reconciliation finds, and --fix repairs.
        found = StringIO()
        with pytest.raises(SystemExit) as drift:
            call_command("reconcile", "--product", str(product.pk), stdout=found)
        assert lost == [True] and drift.value.code == 1, (lost, found.getvalue())
        print(found.getvalue())
        with pytest.raises(SystemExit):  # (its status: drift found, repaired)
            call_command("reconcile", "--product", str(product.pk), "--fix", stdout=StringIO())
        call_command("reconcile", "--product", str(product.pk), stdout=StringIO())  # clean: no SystemExit
        assert_gate_and_ledger_agree(product.pk)
    finally:
        client_reset()
        cluster.stop()
