"""The two Redis roles configured apart, with real processes: the broker and the results on a Redis Sentinel set
(CELERY_BROKER_URL / CELERY_RESULT_BACKEND = sentinel://...), the gate on a Redis Cluster (SECKILL_GATE_URL,
SECKILL_GATE_CLUSTER)."""

import pytest
from django.db import connection
from redis.cluster import ClusterNode, RedisCluster

from products.models import Product
from seckill.gate import keys
from seckill.models import Order
from tests.support.http import http, token_for
from tests.support.polling import wait_for
from tests.support.processes import WorkerProcess
from tests.support.redis_cluster import MASTER_NAME, RedisSentinelSet, sentinel_control

# Slow, and the same on either database: run in the SQLite pass only, to keep the whole suite near 15 minutes.
pytestmark = [pytest.mark.slow, pytest.mark.skipif(connection.vendor == "postgresql", reason="runs in the SQLite pass")]


@pytest.fixture
def sentinel_set(tmp_path):
    sentinels = RedisSentinelSet(tmp_path / "sentinel")
    sentinels.start()
    yield sentinels
    sentinels.stop()


def follow(base, body, token, deadline_s=20):
    """A `pending` answer followed to its decision (its result_url), as a buyer's client does."""
    latest = {}

    def decided():
        status, latest["body"] = http("GET", f"{base}{body['result_url']}", None, token)
        return status != 202

    assert wait_for(decided, deadline_s, interval=0.1), body
    return latest["body"]


def test_a_sale_with_the_broker_and_results_on_sentinel_and_the_gate_on_a_cluster(
    web, sentinel_set, gate_cluster, make_buyers, make_product, tmp_path
):
    gate_cluster.flush()
    env = dict(
        CELERY_BROKER_URL=sentinel_set.url,
        CELERY_RESULT_BACKEND=sentinel_set.url,
        SECKILL_SENTINEL_MASTER=MASTER_NAME,
        SECKILL_GATE_URL=gate_cluster.url,
        SECKILL_GATE_CLUSTER="1",
    )
    worker = WorkerProcess("roles@localhost", tmp_path / "worker.log")
    worker.start(extra_env=env, wait=False)
    control = sentinel_control(sentinel_set.url)
    try:
        assert wait_for(lambda: control.control.ping(destination=[worker.name], timeout=0.5), 60), worker.log_tail()
        base = web(**env)
        buyers, product = make_buyers(6), make_product(stock_total=4)
        answers = []
        for buyer in buyers:
            status, body = http("POST", f"{base}/api/seckill/", {"product_id": product.pk}, token_for(buyer))
            answers.append(follow(base, body, token_for(buyer)) if status == 202 else body)
    finally:
        worker.stop()
        control.close()

    codes = sorted(answer["code"] for answer in answers)
    assert codes == ["sold_out"] * 2 + ["success"] * 4, answers
    assert Order.objects.filter(product=product).count() == 4
    assert Product.objects.get(pk=product.pk).stock_left == 0
    # Each role where it was configured: the results on the sentinels' master, the gate's keys on the cluster.
    sold = [answer["request_id"] for answer in answers if answer["code"] == "success"]
    master = sentinel_set.master()
    assert all(master.exists(f"celery-task-meta-{request_id}") for request_id in sold)
    port = int(gate_cluster.url.split(",")[0].rsplit(":", 1)[1])
    cluster = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", port)], decode_responses=True)
    assert cluster.get(keys.stock(product.pk)) == "0"
    assert all(cluster.hget(keys.request(product.pk, request_id), "outcome") for request_id in sold)
    cluster.close()
