"""Prometheus metrics at /metrics: purchase answers by code, latency, tasks, and the sale's state; summed across
web processes in multiprocess mode."""

import urllib.request

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from seckill.ops import metrics
from seckill.tasks import purchase_task
from tests.support.http import api_client, http, token_for

pytestmark = pytest.mark.django_db(transaction=True)


def sample(text: str, name: str, **labels) -> float:
    """The sum of the samples of `name` that carry the given labels, whatever their others (0 when none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == str(v) for k, v in labels.items()):
                total += s.value
    return total


@pytest.mark.worker
def test_purchase_answers_latency_and_the_sales_state_are_exported(worker, make_buyers, make_product):
    before = Client().get("/metrics").content.decode()
    buyers = make_buyers(3)
    product = make_product(stock_total=1)
    codes = [
        api_client(b).post("/api/seckill/", {"product_id": product.pk}, format="json").json()["code"] for b in buyers
    ]
    assert codes == ["success", "sold_out", "sold_out"]
    response = Client().get("/metrics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for code, count in (("success", 1), ("sold_out", 2)):
        assert (
            sample(text, "seckill_purchase_answers_total", code=code, product=product.pk)
            - sample(before, "seckill_purchase_answers_total", code=code, product=product.pk)
            == count
        )
    count = "seckill_purchase_seconds_count"
    assert sample(text, count, product=product.pk) - sample(before, count, product=product.pk) == 3
    assert sample(text, "seckill_stock_left", product=product.pk) == 0
    assert sample(text, "seckill_admission_slots_used", product=product.pk) == 0
    assert "seckill_queue_depth" in text and "seckill_workers_live" in text


def test_a_task_is_counted_with_its_state_and_time(clean_redis, make_buyers, make_product):
    (user,) = make_buyers(1)
    product = make_product(stock_total=1)
    counted = metrics.TASKS.labels("seckill.purchase", "SUCCESS")._value.get()
    timed = sum(s.value for s in metrics.TASK_SECONDS.collect()[0].samples if s.name.endswith("_count"))
    fields = dict(request_id="metrics-1", user_id=user.pk, product_id=product.pk, quantity=1)
    purchase_task.apply(kwargs=fields, task_id="metrics-1").get()  # (Celery's tracer sends the task signals)
    assert metrics.TASKS.labels("seckill.purchase", "SUCCESS")._value.get() == counted + 1
    assert sum(s.value for s in metrics.TASK_SECONDS.collect()[0].samples if s.name.endswith("_count")) == timed + 1


@pytest.mark.worker
@pytest.mark.slow
def test_several_web_processes_are_summed(worker, web, make_buyers, make_product, tmp_path):
    shared = tmp_path / "prometheus"
    shared.mkdir()
    first, second = web(PROMETHEUS_MULTIPROC_DIR=str(shared)), web(PROMETHEUS_MULTIPROC_DIR=str(shared))
    buyers = make_buyers(4)
    product = make_product(stock_total=10)
    for base, buyer in zip([first, second, second, second], buyers):
        status, body = http("POST", f"{base}/api/seckill/", {"product_id": product.pk}, token_for(buyer))
        assert body["code"] == "success"
    for base in (first, second):
        text = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
        assert sample(text, "seckill_purchase_answers_total", code="success") == 4  # every process' answers


def test_with_redis_down_the_scrape_still_answers_with_the_counters(clean_redis, monkeypatch):
    import redis

    from seckill.gate import client
    from tests.support.processes import free_port

    metrics.PURCHASE_ANSWERS.labels("sold_out", "").inc()
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.5)  # nothing listens there
    monkeypatch.setattr(client, "_client", dead)  # the gate's client, as every reader of the sale's state gets it
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert sample(response.content.decode(), "seckill_purchase_answers_total", code="sold_out") >= 1
    assert "seckill_stock_left" not in response.content.decode()
