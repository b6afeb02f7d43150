"""Prometheus metrics (prometheus-client), correct across many web and worker processes.

With PROMETHEUS_MULTIPROC_DIR set (the run command sets it, and wipes it at start) every process writes its
samples to files there, and GET /metrics sums them (the client's multiprocess mode); without it, /metrics shows
this process' own. Each host sums its own processes: Prometheus scrapes every host, and the live sale page reads
the other hosts' counters from their /metrics (SECKILL_METRICS_PEERS). What the hot path records costs a few
microseconds (an increment and an observation); the sale's state (queue depth, pending requests, admission
slots, stock, workers, beat's age) is read from Redis only when /metrics is scraped. SECKILL_METRICS=0 records
nothing.
"""

from __future__ import annotations

import http.client
import logging
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from celery import signals
from django.conf import settings
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from seckill.purchases.answer_metrics import PURCHASE_ANSWERS, PURCHASE_SECONDS  # noqa: F401  (scraped here)

logger = logging.getLogger(__name__)

# The live page's read of another host's counters: at most this long for all of them, and this large each.
PEER_TIMEOUT_S = 0.5
PEER_MAX_BYTES = 8 * 2**20

TASKS = Counter("seckill_tasks", "Celery tasks run, by task and final state", ["task", "state"])
TASK_SECONDS = Histogram(
    "seckill_task_seconds", "Celery task run time", ["task"], buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5)
)


_task_started: dict[str, float] = {}


def _task_prerun(task_id=None, **kwargs) -> None:
    _task_started[task_id] = time.perf_counter()


def _task_postrun(task_id=None, task=None, state=None, **kwargs) -> None:
    started = _task_started.pop(task_id, None)
    if started is None or not settings.SECKILL_METRICS:
        return
    TASKS.labels(task.name, state or "UNKNOWN").inc()
    TASK_SECONDS.labels(task.name).observe(time.perf_counter() - started)


def connect() -> None:
    signals.task_prerun.connect(_task_prerun, dispatch_uid="seckill.ops.metrics.prerun", weak=False)
    signals.task_postrun.connect(_task_postrun, dispatch_uid="seckill.ops.metrics.postrun", weak=False)


class SaleCollector:
    """The sale's state, read when /metrics is scraped."""

    def collect(self):
        from products.models import Product
        from seckill.gate import admissions, records
        from seckill.gate import stock as gate
        from seckill.ops import heartbeat
        from seckill.purchases.enqueue import purchase_queue_length

        yield GaugeMetricFamily(
            "seckill_queue_depth", "Purchase messages waiting in the broker", purchase_queue_length()
        )
        yield GaugeMetricFamily(
            "seckill_requests_pending", "Purchase requests without an outcome", records.requests_pending_count()
        )
        yield GaugeMetricFamily("seckill_workers_live", "Workers heard from in the last 10 s", heartbeat.live_workers())
        beat_age = heartbeat.beat_age()
        yield GaugeMetricFamily(
            "seckill_beat_age_seconds",
            "Seconds since celery beat last ticked (+Inf: never seen); without beat no sweeps, no expiry",
            float("inf") if beat_age is None else beat_age,
        )
        now = timezone.now()
        live = list(
            Product.objects.filter(is_enabled=True, start_time__lte=now, end_time__gt=now).values_list("pk", flat=True)
        )
        stock = GaugeMetricFamily("seckill_stock_left", "Units the Redis gate may still sell", labels=["product"])
        slots = GaugeMetricFamily("seckill_admission_slots_used", "Requests in flight per product", labels=["product"])
        for pid, left in gate.live_stock(live).items():
            if left is not None:
                stock.add_metric([str(pid)], left)
            slots.add_metric([str(pid)], admissions.admitted_count(pid))
        yield stock
        yield slots


def _counters() -> CollectorRegistry:
    """Every process' counters (multiprocess mode), or this process' own."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def metrics_text(*, counters_only: bool = False) -> bytes:
    """The exposition text: this host's counters, then the sale's state (left out, and logged, when Redis, the
    broker or the database cannot be read: the counters still answer). `counters_only`: the counters alone (what
    another host's live page reads: the sale's state is the same from every host)."""
    if counters_only:
        return generate_latest(_counters())
    sale = CollectorRegistry()
    sale.register(SaleCollector())
    try:
        state = generate_latest(sale)
    except Exception:
        logger.warning("metrics: the sale's state is unreadable", exc_info=True)
        state = b""
    return generate_latest(_counters()) + state


def _peer_families(peer: str) -> list:
    """The counters of the web server at `peer` (a base URL: another host's), read from its /metrics. Raises
    OSError (urllib's errors among them), http.client.HTTPException or ValueError when it cannot be read."""
    request = urllib.request.Request(f"{peer.rstrip('/')}/metrics?counters=1")
    if settings.SECKILL_METRICS_TOKEN:  # (never carried over to wherever a redirect points)
        request.add_unredirected_header("Authorization", f"Bearer {settings.SECKILL_METRICS_TOKEN}")
    with urllib.request.urlopen(request, timeout=PEER_TIMEOUT_S) as response:
        text = response.read(PEER_MAX_BYTES + 1)
    if len(text) > PEER_MAX_BYTES:
        raise ValueError(f"over {PEER_MAX_BYTES} bytes")
    return list(text_string_to_metric_families(text.decode()))


def product_purchase_figures(product_id: int) -> dict:
    """One product's purchase counters so far, summed over every process of this host and of each host in
    SECKILL_METRICS_PEERS (read from its /metrics, in parallel, PEER_TIMEOUT_S at most in all): {"answers":
    {code: count}, "latency": {"buckets": [[upper bound s, requests at most that slow], ...], "count": n, "sum":
    s}, "hosts": {"this": "ok", peer: "ok" | "refused" (it answered 401 or 403: the token or its allowed
    networks) | "unreachable"}}. Counters only grow (a process' restart aside), so rates and quantiles are
    differences between two readings of the same hosts."""
    families = list(_counters().collect())
    hosts = {"this": "ok"}
    if settings.SECKILL_METRICS_PEERS:
        pool = ThreadPoolExecutor(max_workers=len(settings.SECKILL_METRICS_PEERS))
        deadline = time.monotonic() + PEER_TIMEOUT_S
        read = {peer: pool.submit(_peer_families, peer) for peer in settings.SECKILL_METRICS_PEERS}
        for peer, future in read.items():
            try:
                families += future.result(timeout=max(0.0, deadline - time.monotonic()))
                hosts[peer] = "ok"
            except urllib.error.HTTPError as exc:
                hosts[peer] = "refused" if exc.code in (401, 403) else "unreachable"
                logger.warning("live page: %s answered %s to its metrics' read", peer, exc.code)
            except (OSError, http.client.HTTPException, ValueError, FutureTimeout) as exc:
                hosts[peer] = "unreachable"
                logger.warning("live page: the metrics of %s are unreadable: %r", peer, exc)
        pool.shutdown(wait=False)  # (a read past the deadline ends on its own socket timeout)
    return {**_purchase_figures(families, str(product_id)), "hosts": hosts}


def _purchase_figures(families, label: str) -> dict:
    answers: dict[str, float] = {}
    buckets: dict[float, float] = {}
    count = total = 0.0
    for family in families:
        for s in family.samples:
            if s.labels.get("product") != label:
                continue
            if s.name == "seckill_purchase_answers_total":
                answers[s.labels["code"]] = answers.get(s.labels["code"], 0) + s.value
            elif s.name == "seckill_purchase_seconds_bucket":
                bound = float(s.labels["le"])
                buckets[bound] = buckets.get(bound, 0) + s.value
            elif s.name == "seckill_purchase_seconds_count":
                count += s.value
            elif s.name == "seckill_purchase_seconds_sum":
                total += s.value
    return {
        "answers": {code: int(n) for code, n in sorted(answers.items())},
        "latency": {
            "buckets": [[bound if bound != float("inf") else None, int(n)] for bound, n in sorted(buckets.items())],
            "count": int(count),
            "sum": total,
        },
    }
