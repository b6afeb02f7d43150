"""/healthz, /readyz, /metrics' access and the landing page."""

import ipaddress
import time

import pytest
import redis
from django.test import Client

from seckill.gate import keys, operations
from seckill.ops import probes
from tests.support.polling import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_healthz_answers_with_no_io(monkeypatch, django_assert_num_queries):
    def no_redis():
        raise AssertionError("healthz touched Redis")

    monkeypatch.setattr(probes, "get_client", no_redis)
    with django_assert_num_queries(0):
        response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.worker
def test_readyz_is_ready_with_the_database_redis_the_broker_and_reports_the_live_workers(worker):
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok", "broker": "ok"}
    # The worker's heartbeat comes back within a couple of seconds of clean_redis removing it.
    assert wait_for(lambda: Client().get("/readyz").json()["reports"]["workers_live"] == 1, 10, 0.2)


def test_readyz_names_what_failed_with_503_and_no_exception_text(clean_redis, monkeypatch):
    def redis_down():
        raise redis.ConnectionError("gone: secret-host.internal:6379")

    monkeypatch.setattr(probes, "get_client", redis_down)
    response = Client().get("/readyz")
    assert response.status_code == 503 and response.json()["status"] == "unavailable"
    assert response.json()["checks"] == {"database": "ok", "redis": "failed: ConnectionError", "broker": "ok"}
    assert b"secret-host" not in response.content


def test_what_every_host_shares_is_reported_never_a_reason_to_be_unready(clean_redis, monkeypatch):
    """No worker and no beat: every web host would fail at once, so /readyz reports them and stays ready."""
    monkeypatch.setattr(operations, "workers_seen_since", lambda moment: 0)
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json()["reports"] == {"workers_live": 0, "beat_age_s": None, "beat": "never seen"}
    assert "seckill_beat_age_seconds +Inf" in Client().get("/metrics").content.decode()

    clean_redis.set(keys.BEAT, time.time() - 3600)  # beat died an hour ago
    response = Client().get("/readyz")
    assert response.status_code == 200 and response.json()["reports"]["beat"] == "stale"
    assert response.json()["reports"]["beat_age_s"] >= 3600


def test_the_landing_page_leads_to_the_admin_the_api_and_the_probes(clean_redis):
    body = Client().get("/").content
    assert b'href="/admin/"' in body and b'href="/api/products/"' in body and b'href="/readyz"' in body


@pytest.mark.parametrize("path", ["/readyz", "/metrics"])
def test_readyz_and_metrics_answer_the_operators_side_only(clean_redis, settings, path):
    settings.SECKILL_METRICS_TOKEN = "scrape-token-123"
    public, private = "203.0.113.5", "10.1.2.3"
    assert Client(REMOTE_ADDR=private).get(path).status_code == 403  # this host only, by default
    settings.SECKILL_OPS_ALLOWED_NETWORKS += (ipaddress.ip_network("10.0.0.0/8"),)  # the load balancer's network
    assert Client(REMOTE_ADDR=public).get(path).status_code == 403
    assert Client(REMOTE_ADDR=private).get(path).status_code in (200, 503)
    assert Client(REMOTE_ADDR="127.0.0.1").get(path).status_code in (200, 503)
    # Through a proxy that is not trusted (behind one, every client's address would look local): refused, whatever
    # header says it forwarded.
    for header in ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP", "HTTP_VIA"):
        assert Client(REMOTE_ADDR="127.0.0.1", **{header: public}).get(path).status_code == 403, header
    settings.SECKILL_TRUSTED_PROXIES = (ipaddress.ip_network("127.0.0.1/32"),)
    assert Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=private).get(path).status_code in (200, 503)
    assert Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=public).get(path).status_code == 403
    # The bearer token opens them from anywhere; a wrong one does not.
    bearer = Client(REMOTE_ADDR=public, HTTP_AUTHORIZATION="Bearer scrape-token-123")
    assert bearer.get(path).status_code in (200, 503)
    assert Client(REMOTE_ADDR=public, HTTP_AUTHORIZATION="Bearer nope").get(path).status_code == 403
    assert Client(REMOTE_ADDR=public).get("/healthz").status_code == 200  # stays open


def test_probes_and_the_scrape_are_not_redirected_to_https(clean_redis, settings):
    settings.SECURE_SSL_REDIRECT = True
    client = Client()  # (its middleware reads the settings at its first request)
    assert client.get("/api/time/").status_code == 301
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path).status_code in (200, 503), path
