"""/healthz, /readyz and the landing page."""

import pytest
import redis
from django.test import Client

from seckill import health_apis
from seckill.redis_store import ops
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_healthz_answers_with_no_io(monkeypatch, django_assert_num_queries):
    def no_redis():
        raise AssertionError("healthz touched Redis")

    monkeypatch.setattr(health_apis, "get_client", no_redis)
    with django_assert_num_queries(0):
        response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.worker
def test_readyz_is_ready_with_the_database_redis_the_broker_and_a_live_worker(worker):
    # The worker's heartbeat comes back within a couple of seconds of clean_redis removing it.
    assert wait_for(lambda: Client().get("/readyz").status_code == 200, 10, 0.2)
    checks = Client().get("/readyz").json()["checks"]
    assert set(checks) == {"database", "redis", "broker", "workers"}
    assert all(value.startswith("ok") for value in checks.values())


def test_readyz_names_what_failed_with_503(clean_redis, monkeypatch):
    monkeypatch.setattr(ops, "workers_seen_since", lambda moment: 0)
    response = Client().get("/readyz")
    assert response.status_code == 503 and response.json()["status"] == "unavailable"
    assert response.json()["checks"]["workers"].startswith("failed") and response.json()["checks"]["database"] == "ok"

    def redis_down():
        raise redis.ConnectionError("gone")

    monkeypatch.setattr(health_apis, "get_client", redis_down)
    assert Client().get("/readyz").json()["checks"]["redis"] == "failed: ConnectionError: gone"


def test_the_landing_page_leads_to_the_admin_the_api_and_the_probes(clean_redis):
    body = Client().get("/").content
    assert b'href="/admin/"' in body and b'href="/api/products/"' in body and b'href="/readyz"' in body
