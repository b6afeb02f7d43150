"""Probes for a load balancer or an orchestrator: /healthz (the process answers: no I/O) and /readyz (this host can
serve a sale: the database, the Redis gate and the broker answer it), and Prometheus' /metrics. /readyz also
reports what every host shares, without failing on it (a shared fault would take every host out of rotation at
once): the live workers and the age of beat's last tick. Plain Django views (no DRF, no authentication): cheap
enough to be called every second.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging

from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST

from seckill.access import guards
from seckill.gate.client import get_client
from seckill.ops import heartbeat, metrics
from seckill_site.celery import app

logger = logging.getLogger(__name__)


def healthz(request):
    return JsonResponse({"status": "ok"})


def ops_only(view):
    """/readyz and /metrics answer only the operator's side: a client address in SECKILL_OPS_ALLOWED_NETWORKS (not
    one forwarded by a proxy that is not trusted: behind one, that would be everyone), or the bearer token
    SECKILL_METRICS_TOKEN. Anyone else gets a cheap 403 (each costs Redis, database and broker calls)."""

    @functools.wraps(view)
    def checked(request, *args, **kwargs):
        if not _ops_caller(request.META):
            body = {"code": "permission_denied", "detail": "Not for this client (SECKILL_OPS_ALLOWED_NETWORKS)."}
            return JsonResponse(body, status=403)
        return view(request, *args, **kwargs)

    return checked


# What a proxy adds when it forwards a request (nginx's proxy_set_header habits, RFC 7239, Via).
FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP", "HTTP_VIA", "HTTP_X_FORWARDED_HOST")


def _ops_caller(meta: dict) -> bool:
    token = settings.SECKILL_METRICS_TOKEN
    given = meta.get("HTTP_AUTHORIZATION", "")
    if token and given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode()):
        return True
    if any(header in meta for header in FORWARDING_HEADERS) and not guards.forwarded_by_trusted_proxy(meta):
        return False
    try:
        address = ipaddress.ip_address(guards.client_ip(meta))
    except ValueError:
        return False
    return any(address in network for network in settings.SECKILL_OPS_ALLOWED_NETWORKS)


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


CHECKS = {"database": _database, "redis": _redis, "broker": _broker}


def _reports() -> dict:
    """What every web host shares, for people and alerts; never a reason to take this host out of rotation."""
    try:
        workers, beat_age = heartbeat.live_workers(), heartbeat.beat_age()
    except Exception as exc:
        logger.warning("readyz: heartbeats unreadable: %r", exc)
        return {"workers_live": None, "beat_age_s": None, "beat": "unknown"}
    age = None if beat_age is None else round(beat_age, 1)
    return {"workers_live": workers, "beat_age_s": age, "beat": heartbeat.beat_state(beat_age)}


@ops_only
def readyz(request):
    checks, ready = {}, True
    for name, check in CHECKS.items():
        try:
            checks[name] = check()
        except Exception as exc:  # every failure is an answer here, never a 500; the details go to the log only
            checks[name] = f"failed: {exc.__class__.__name__}"
            logger.warning("not ready: %s failed: %r", name, exc)
            ready = False
    body = {"status": "ok" if ready else "unavailable", "checks": checks, "reports": _reports()}
    return JsonResponse(body, status=200 if ready else 503)


@ops_only
def metrics_view(request):
    """Prometheus' scrape (text exposition format), for the operator's side only (ops_only)."""
    counters_only = request.GET.get("counters") == "1"  # (another host's live page: this host's counters alone)
    return HttpResponse(metrics.metrics_text(counters_only=counters_only), content_type=CONTENT_TYPE_LATEST)
