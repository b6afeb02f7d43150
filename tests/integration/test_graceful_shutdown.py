"""A deploy mid-sale: SIGTERM to the web server and to the worker while buyers buy. Every request the web server
had taken is answered within SECKILL_RESULT_TIMEOUT (its decision, or `pending`); nothing is lost or sold twice;
the new processes carry the sale to its end."""

import os
import signal
import subprocess
import threading
import time
import urllib.error
from collections import Counter

import pytest
from django.conf import settings

from products.models import Product
from seckill.gate import keys
from seckill.gate import stock as gate
from seckill.models import Order
from seckill_site.celery import app as celery_app
from seckill_site.web_server import SERVERS
from tests.support.http import http, token_for
from tests.support.polling import wait_for
from tests.support.processes import WorkerProcess

pytestmark = [pytest.mark.slow, pytest.mark.worker]


@pytest.mark.parametrize("server", SERVERS)
def test_sigterm_to_web_and_worker_mid_sale_loses_nothing(
    server, worker, web, make_buyers, make_product, redis_client, tmp_path
):
    buyers, stock = 80, 40
    users = make_buyers(buyers)
    product = make_product(stock_total=stock)
    env = {"SECKILL_USER_RATE_LIMIT": "", "WEB_SERVER": server}
    first = web(**env)
    old_web = web.procs[-1]
    celery_app.control.cancel_consumer("celery", destination=[worker.name], reply=True, timeout=5)
    old_worker = WorkerProcess(f"deploy-old-{os.getpid()}@localhost", tmp_path / "old-worker.log")
    old_worker.start()
    answers, lock = {}, threading.Lock()
    current = {"base": first}

    def buyer(user):
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                status, body = http(
                    "POST", f"{current['base']}/api/seckill/", {"product_id": product.pk}, token_for(user)
                )
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)  # the old server stopped taking connections: try the new one
                continue
            took = time.monotonic() - started
            if body["code"] == "busy":
                time.sleep(0.1)
                continue
            with lock:
                answers[user.pk] = (status, body, took)
            return

    threads = [threading.Thread(target=buyer, args=(user,)) for user in users]
    try:
        for thread in threads[: buyers // 2]:
            thread.start()
        assert wait_for(lambda: len(answers) >= 5, 30, 0.05)
        old_web.send_signal(signal.SIGTERM)  # the web server: stop taking connections, finish those it has
        old_worker.proc.send_signal(signal.SIGTERM)  # celery: warm shutdown, give back what it holds
        current["base"] = web(**env)  # the deploy's new processes
        celery_app.control.add_consumer("celery", destination=[worker.name], reply=True, timeout=5)
        for thread in threads[buyers // 2 :]:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert old_web.wait(timeout=30) == 0
        # Its last jobs done, the old worker is gone within seconds (its pool processes waited 30 s for it to read
        # results it no longer read: seckill_site.integrations.billiard_exit_wait).
        try:
            assert old_worker.proc.wait(timeout=15) == 0
        except subprocess.TimeoutExpired:
            pytest.fail(f"the old worker was still stopping 15 s after the last buyer:\n{old_worker.log_tail()}")
        assert wait_for(lambda: redis_client.zcard(keys.pending(product.pk)) == 0, 60, 0.2), "requests left undecided"
    finally:
        if old_worker.proc.poll() is None:
            old_worker.kill()
        celery_app.control.add_consumer("celery", destination=[worker.name], reply=True, timeout=5)

    assert len(answers) == buyers
    limit = settings.SECKILL_RESULT_TIMEOUT + 2  # the wait, plus an HTTP round trip on a busy machine
    assert max(took for _, _, took in answers.values()) < limit  # none hangs past the result timeout
    final = Counter()
    for user in users:
        status, body, _ = answers[user.pk]
        if body["code"] == "pending":
            status, body = http("GET", f"{current['base']}{body['result_url']}", token=token_for(user))
        final[body["code"]] += 1
    assert final == {"success": stock, "sold_out": buyers - stock}
    assert Order.objects.filter(product=product).count() == stock
    assert Product.objects.get(pk=product.pk).stock_left == 0 and gate.live_stock([product.pk]) == {product.pk: 0}
