"""Probes for a load balancer or an orchestrator: /healthz (the process answers: no I/O) and /readyz (it can serve
a sale: the database, the Redis gate, the broker and at least one live worker answer); and Prometheus' /metrics.
Plain Django views (no DRF, no authentication): cheap enough to be called every second."""

from __future__ import annotations

import logging

from django.db import connection
from django.http import HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST

from seckill import heartbeat, metrics
from seckill.redis_store.client import get_client
from seckill_site.celery import app

logger = logging.getLogger(__name__)


def healthz(request):
    return JsonResponse({"status": "ok"})


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _redis() -> str:
    get_client().ping()
    return "ok"


def _broker() -> str:
    with app.pool.acquire(block=True, timeout=1) as conn:
        conn.ensure_connection(max_retries=1)
        client = getattr(conn.default_channel, "client", None)  # the Redis transport's client
        if client is not None:
            client.ping()
    return "ok"


def _workers() -> str:
    live = heartbeat.live_workers()
    if not live:
        raise RuntimeError(f"no worker heard from in the last {heartbeat.HEARTBEAT_TTL:.0f} s")
    return f"ok ({live} live)"


CHECKS = {"database": _database, "redis": _redis, "broker": _broker, "workers": _workers}


def readyz(request):
    checks, ready = {}, True
    for name, check in CHECKS.items():
        try:
            checks[name] = check()
        except Exception as exc:  # every failure is an answer here, never a 500
            checks[name] = f"failed: {exc.__class__.__name__}: {exc}"[:200]
            ready = False
    if not ready:
        logger.warning("not ready: %s", checks)
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


def metrics_view(request):
    """Prometheus' scrape (text exposition format). For the internal network: put it behind the proxy's rules."""
    return HttpResponse(metrics.metrics_text(), content_type=CONTENT_TYPE_LATEST)
