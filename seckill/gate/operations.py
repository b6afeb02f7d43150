"""Operational state: the last reconciliation's report per product, the workers that are alive, beat's last tick
and which beat runs the schedule."""

from __future__ import annotations

import time

from seckill.gate import keys
from seckill.gate.client import get_client, script


def reconcile_report_set(reports: dict[int, str]) -> None:
    """Keep the last reconciliation's report (JSON) per product, for the admin."""
    if reports:
        get_client().hset(keys.RECONCILE_REPORT, mapping=reports)


def reconcile_report_get(product_ids: list[int]) -> dict[int, str | None]:
    if not product_ids:
        return {}
    values = get_client().hmget(keys.RECONCILE_REPORT, product_ids)
    return dict(zip(product_ids, values))


def worker_seen(hostname: str) -> None:
    """A worker is alive now (its heartbeat)."""
    get_client().zadd(keys.WORKERS, {hostname: time.time()})


def worker_gone(hostname: str) -> None:
    get_client().zrem(keys.WORKERS, hostname)


def workers_seen_since(moment: float) -> int:
    """How many workers gave a heartbeat since `moment` (epoch seconds)."""
    return get_client().zcount(keys.WORKERS, moment, "+inf")


def beat_seen() -> None:
    """Celery beat ticked now (its heartbeat)."""
    get_client().set(keys.BEAT, time.time())


def beat_last_seen() -> float | None:
    """When beat last ticked (epoch seconds), None if never (or Redis lost it)."""
    value = get_client().get(keys.BEAT)
    return float(value) if value is not None else None


def beat_lease_hold(*, beat_id: str, ttl_ms: int) -> bool:
    """Take or renew the lease of the beat that runs the schedule: True while `beat_id` holds it."""
    return script("beat_lease")(keys=[keys.BEAT_LEASE], args=[beat_id, ttl_ms]) == 1


def beat_lease_release(*, beat_id: str) -> None:
    """Give the lease up, if `beat_id` holds it."""
    script("beat_lease")(keys=[keys.BEAT_LEASE], args=[beat_id, 0])


def sweep_stand_in_claim(*, ttl_ms: int) -> bool:
    """Claim the next sweep while beat is silent: True for one worker per `ttl_ms`."""
    return bool(get_client().set(keys.SWEEP_STAND_IN, "1", nx=True, px=ttl_ms))
