"""A purchase answer counted in Prometheus (by code and product, with its time): the web side's own series, recorded
on the hot path; GET /metrics (seckill/ops/metrics.py) shows them with the rest."""

from __future__ import annotations

import time

from django.conf import settings
from prometheus_client import Counter, Histogram

from seckill.purchases import sale_cache

# `product` is the product's id when the product exists (this process has its sale state), else "": ids a client
# makes up must not grow the series without bound.
PURCHASE_ANSWERS = Counter(
    "seckill_purchase_answers", "Purchase requests answered, by outcome code and product", ["code", "product"]
)
PURCHASE_SECONDS = Histogram(
    "seckill_purchase_seconds",
    "Time the web process took to answer a purchase request, by product",
    ["product"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def purchase_answered(code: str, started: float, product_id: int | None) -> None:
    """Count one purchase answer (started: its time.perf_counter() at arrival; product_id: None before the input
    was read)."""
    if settings.SECKILL_METRICS:
        product = product_id if product_id is not None and sale_cache.product_known(product_id) else None
        answers, seconds = _purchase_series.get((code, product)) or _purchase_series_add(code, product)
        answers.inc()
        seconds.observe(time.perf_counter() - started)


# The (answers, seconds) children of each (code, product), looked up once: .labels() costs more than the
# increment. Bounded like the series themselves (known codes and products).
_purchase_series: dict[tuple[str, int | None], tuple] = {}


def _purchase_series_add(code: str, product_id: int | None) -> tuple:
    label = "" if product_id is None else str(product_id)
    series = (PURCHASE_ANSWERS.labels(code, label), PURCHASE_SECONDS.labels(label))
    _purchase_series[code, product_id] = series
    return series
