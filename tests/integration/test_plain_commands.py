"""The logic layer started as Celery documents it, nothing more: `celery -A seckill_site worker` (a node name and a
concurrency, no queue option) and `celery -A seckill_site beat`. Unpaid orders expire and give their units back,
a lost request is swept and decided, and beat's heartbeat shows in /readyz and /metrics."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from products.models import Product
from seckill.gate import records
from seckill.gate import stock as gate
from seckill.models import Order
from seckill.orders import services as order_services
from seckill.purchases import admission
from seckill.purchases.request import PurchaseRequest
from seckill_site.celery import app as celery_app
from tests.support.http import api_client
from tests.support.polling import wait_for
from tests.support.processes import ROOT, database_url_for_worker

pytestmark = [pytest.mark.slow, pytest.mark.worker]

CELERY = str(Path(sys.executable).parent / "celery")


def start(command: list[str], env: dict, directory: Path, name: str) -> subprocess.Popen:
    log = open(directory / f"{name}.log", "wb")
    return subprocess.Popen(command, cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT)


def test_the_documented_worker_and_beat_commands_expire_orders_and_sweep_lost_requests(
    worker, make_buyers, make_product, tmp_path
):
    # The session's worker stops consuming: whatever runs now runs on the plain one.
    for queue in celery_app.amqp.queues:
        celery_app.control.cancel_consumer(queue, destination=[worker.name], reply=True, timeout=5)
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),  # (run from an empty directory: beat writes its schedule file there)
        DJANGO_SETTINGS_MODULE="seckill_site.settings",
        REDIS_URL=settings.REDIS_URL,
        DATABASE_URL=database_url_for_worker(),
        LOG_LEVEL="WARNING",
        SECKILL_PAYMENT_WINDOW="3",
        SECKILL_EXPIRE_INTERVAL="1",
        SECKILL_REDELIVER_AFTER="1",
    )
    name = f"plain-{os.getpid()}@localhost"
    plain = start([CELERY, "-A", "seckill_site", "worker", "-n", name, "-c", "2"], env, tmp_path, "worker")
    beat = start([CELERY, "-A", "seckill_site", "beat"], env, tmp_path, "beat")
    try:
        assert wait_for(lambda: celery_app.control.ping(destination=[name], timeout=0.5), 60), "worker not up"
        buyers = make_buyers(6)
        product = make_product(stock_total=5)
        codes = [api_client(b).post("/api/seckill/", {"product_id": product.pk}, format="json") for b in buyers[:5]]
        assert [r.json()["code"] for r in codes] == ["success"] * 5
        for response in codes[:2]:
            order_services.order_pay(order_id=response.json()["order_id"])

        def expired() -> bool:
            return Order.objects.filter(product=product, status=Order.Status.EXPIRED, gate_released=True).count() == 3

        assert wait_for(expired, 30, interval=0.2), (tmp_path / "worker.log").read_text()[-3000:]
        assert Product.objects.get(pk=product.pk).stock_left == 3
        assert gate.live_stock([product.pk]) == {product.pk: 3}
        late = api_client(buyers[5]).post("/api/seckill/", {"product_id": product.pk}, format="json")
        assert late.json()["code"] == "success"  # the units are on sale again

        # A request admitted and recorded whose message never reached the broker (lost with a worker), from a buyer
        # whose order expired: the sweeper enqueues it again and the worker sells it.
        admission.purchase_admit(PurchaseRequest("lost-request-1", buyers[2].pk, product.pk, 1))
        assert wait_for(lambda: records.request_get("lost-request-1", product.pk).outcome is not None, 30, interval=0.2)
        assert records.request_get("lost-request-1", product.pk).outcome["code"] == "success"
        assert Order.objects.filter(request_id="lost-request-1", status=Order.Status.PENDING_PAYMENT).exists()

        reports = Client().get("/readyz").json()["reports"]
        assert reports["beat"] == "ok" and reports["beat_age_s"] < 10 and reports["workers_live"] >= 1
        scrape = Client().get("/metrics").content.decode()
        (age_line,) = [line for line in scrape.splitlines() if line.startswith("seckill_beat_age_seconds ")]
        assert float(age_line.split()[1]) < 10
    finally:
        for proc in (beat, plain):
            proc.terminate()
        for proc in (beat, plain):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
