"""Two hosts, each a group of processes with an environment of its own (a web server bound to its own loopback
address, 127.0.0.2 and 127.0.0.3, a worker, beat, its own Prometheus directory), sharing what production shares:
the gate on a Redis Cluster, the broker and results on a Sentinel set, the database. Buyers on both hosts sell a
product out; the invariants hold, both hosts' counters add up on the live page's reading, both workers are seen,
one beat runs the schedule (docs/deploy.md, "Several hosts")."""

import threading
import time
from collections import Counter

import pytest
from django.db import connection

from products.models import Product
from seckill.gate import keys
from seckill.gate.client import client_reset, get_client
from seckill.models import Order
from seckill.ops import heartbeat, metrics
from tests.support.http import http, token_for
from tests.support.invariants import assert_gate_and_ledger_agree
from tests.support.polling import wait_for
from tests.support.processes import WorkerProcess, beat_start, process_env
from tests.support.redis_cluster import MASTER_NAME, RedisSentinelSet, sentinel_control

# Slow; on PostgreSQL only, the database hosts share in production (the failover tests run in the SQLite pass).
pytestmark = [pytest.mark.slow, pytest.mark.skipif(connection.vendor != "postgresql", reason="runs on PostgreSQL")]

HOSTS = ("127.0.0.2", "127.0.0.3")
BUYERS, STOCK = 40, 25


def buy(base, product_id, user, answers, lock):
    """One buyer on one host until decided: a 503 or 429 tried again, a 202 followed on the same host."""
    token, deadline = token_for(user), time.monotonic() + 60
    while time.monotonic() < deadline:
        status, body = http("POST", f"{base}/api/seckill/", {"product_id": product_id}, token)
        while status == 202 and time.monotonic() < deadline:
            status, body = http("GET", f"{base}{body['result_url']}", None, token)
            if status == 202:
                time.sleep(0.1)  # a client's polling pace
        if status in (503, 429):
            time.sleep(0.2)
            continue
        with lock:
            answers[user.pk] = body
        return


def test_two_hosts_sell_one_product_out_together(web, gate_cluster, make_buyers, make_product, tmp_path, settings):
    gate_cluster.flush()
    broker = RedisSentinelSet(tmp_path / "broker")
    broker.start()
    shared = dict(CELERY_BROKER_URL=broker.url, CELERY_RESULT_BACKEND=broker.url, SECKILL_SENTINEL_MASTER=MASTER_NAME)
    shared |= dict(SECKILL_GATE_URL=gate_cluster.url, SECKILL_GATE_CLUSTER="1")
    settings.SECKILL_GATE_URL, settings.SECKILL_GATE_CLUSTER = gate_cluster.url, True  # this process' gate too
    client_reset()
    workers, beats, bases = [], [], []
    control = sentinel_control(broker.url)
    try:
        for number, host in enumerate(HOSTS, start=2):
            directory = tmp_path / host
            (directory / "prometheus").mkdir(parents=True)
            env = dict(shared, PROMETHEUS_MULTIPROC_DIR=str(directory / "prometheus"), DJANGO_ALLOWED_HOSTS=host)
            worker = WorkerProcess(f"host{number}@{host}", directory / "worker.log")
            worker.start(extra_env=env, wait=False)
            workers.append(worker)
            beats.append(beat_start(process_env(**env), directory, level="info"))
            bases.append(web(host, **env))
        names = [worker.name for worker in workers]
        assert wait_for(lambda: len(control.control.ping(destination=names, timeout=0.5)) == 2, 60), [
            worker.log_tail() for worker in workers
        ]

        product = make_product(stock_total=STOCK)
        answers, lock = {}, threading.Lock()
        threads = [
            threading.Thread(target=buy, args=(bases[i % 2], product.pk, user, answers, lock))
            for i, user in enumerate(make_buyers(BUYERS))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)

        # The sale: exact, every buyer answered, on both hosts.
        codes = Counter(body["code"] for body in answers.values())
        assert codes == {"success": STOCK, "sold_out": BUYERS - STOCK}, codes
        orders = dict(Order.objects.filter(product=product).values_list("user_id", "request_id"))
        assert len(orders) == STOCK and Product.objects.get(pk=product.pk).stock_left == 0
        for user_id, body in answers.items():
            assert (body["code"] == "success") == (user_id in orders)
        assert wait_for(lambda: get_client().zcard(keys.pending(product.pk)) == 0, 30)
        assert_gate_and_ledger_agree(product.pk)

        # The live page's reading adds both hosts' counters (each host sums its own processes).
        settings.SECKILL_METRICS_PEERS = tuple(bases)
        figures = metrics.product_purchase_figures(product.pk)
        assert figures["hosts"] == {"this": "ok", bases[0]: "ok", bases[1]: "ok"}
        per_host = []
        for base in bases:
            settings.SECKILL_METRICS_PEERS = (base,)
            per_host.append(sum(metrics.product_purchase_figures(product.pk)["answers"].values()))
        assert all(per_host) and sum(figures["answers"].values()) == sum(per_host) >= BUYERS
        # Both hosts' workers are seen; one beat runs the schedule, its heartbeat fresh.
        assert wait_for(lambda: heartbeat.live_workers() == 2, 10)
        holder = get_client().get(keys.BEAT_LEASE)
        assert holder and int(holder.split(":")[1]) in {beat.pid for beat in beats}
        assert wait_for(lambda: heartbeat.beat_state(heartbeat.beat_age()) == "ok", 15)

        # The holder sends the schedule's tasks (its first one interval after it took the lease), the other nothing.
        def sent():
            return sorted((tmp_path / host / "beat.log").read_text().count("Sending due task") for host in HOSTS)

        assert wait_for(lambda: sent()[1] > 0, 15), [(tmp_path / host / "beat.log").read_text() for host in HOSTS]
        assert sent()[0] == 0, sent()
    finally:
        for worker in workers:
            worker.stop()
        for beat in beats:
            beat.terminate()
            beat.wait(20)
        control.close()
        broker.stop()
        client_reset()
