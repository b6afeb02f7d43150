"""Heartbeats of the processes the sale needs besides the web: workers and celery beat.

Workers: a worker's main process scores its name in Redis every HEARTBEAT_INTERVAL seconds (a thread started
when the worker is ready, stopped when it shuts down), so that /readyz can tell in one Redis call whether any
worker runs, instead of a broadcast ping to every worker on every probe.

Beat: its scheduler writes the time of its last tick (`HeartbeatScheduler`, CELERY_BEAT_SCHEDULER), and runs the
schedule only while it holds a lease in Redis, so that beat may run on several hosts and one runs it. Without beat
nothing expires unpaid orders or reconciles; /readyz, /metrics and the live sale page show its age, so that a
missing beat is seen (readiness does not fail on it: every web host shares it). Lost purchase requests are still
swept: while beat is silent, the workers' heartbeat thread publishes the sweep in its place.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from celery import signals
from celery.beat import PersistentScheduler
from django.conf import settings
from django.db import connection

from seckill.gate import operations, records
from seckill.ops.beat_lease import BeatLease

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 2.0
HEARTBEAT_TTL = 10.0  # a worker not heard from for this long counts as gone
_stop = threading.Event()


def live_workers() -> int:
    """Workers heard from within HEARTBEAT_TTL. Raises Redis' errors."""
    return operations.workers_seen_since(time.time() - HEARTBEAT_TTL)


def _beat(hostname: str) -> None:
    period = min(HEARTBEAT_INTERVAL, settings.SECKILL_SWEEP_INTERVAL)
    while True:
        try:
            operations.worker_seen(hostname)
            _stand_in_for_beat()
        except redis.RedisError:
            logger.warning("heartbeat of %s not written", hostname, exc_info=True)
        except Exception:  # (a broker error publishing the sweep): the heartbeat goes on
            logger.warning("the sweep standing in for beat was not sent", exc_info=True)
        finally:
            connection.close()  # this thread's: the main process, which pool processes fork from, keeps none open
        if _stop.wait(period):
            return


SWEEP_TASK = "seckill.sweep_pending"  # seckill.tasks.sweep_pending_task, published by name as beat does


def _stand_in_for_beat() -> None:
    """While beat is silent (never seen, or stale), the workers publish the sweep of lost requests it would: a
    request whose message a killed worker took off the queue but never recorded as unacknowledged comes back by
    nothing else (docs/reliability.md). One worker per sweep interval (a lock in Redis); the sweep runs in the pool
    like any maintenance task. Expiry and reconciliation stay beat's."""
    if not settings.SECKILL_SWEEP_WITHOUT_BEAT:
        return
    age = beat_age()
    if age is not None and age <= beat_stale_after():
        return
    due = time.time() - settings.SECKILL_REDELIVER_AFTER
    # (the pending sets of the products whose sale is recent: a database read; the heartbeat closes the connection)
    if not records.requests_pending_since(due, 1):  # nothing to sweep: no message (a sold-out flood sends none)
        return
    interval = settings.SECKILL_SWEEP_INTERVAL
    if not operations.sweep_stand_in_claim(ttl_ms=int(interval * 1000)):
        return
    from seckill_site.celery import app

    app.send_task(SWEEP_TASK, expires=interval)
    logger.info("beat is silent (%s): this worker sent the sweep of lost requests", beat_state(age))


def _on_worker_ready(sender=None, **kwargs) -> None:
    _stop.clear()
    threading.Thread(target=_beat, args=(sender.hostname,), name="seckill-heartbeat", daemon=True).start()


def _on_worker_shutdown(sender=None, **kwargs) -> None:
    _stop.set()
    try:
        operations.worker_gone(sender.hostname)
    except (redis.RedisError, AttributeError):
        pass


def connect() -> None:
    signals.worker_ready.connect(_on_worker_ready, dispatch_uid="seckill.ops.heartbeat.ready")
    signals.worker_shutdown.connect(_on_worker_shutdown, dispatch_uid="seckill.ops.heartbeat.shutdown")


# --- celery beat ------------------------------------------------------------------------------------------------
BEAT_HEARTBEAT_EVERY = 1.0  # seconds between two writes of beat's tick (it ticks at least every sweep interval)


def beat_stale_after() -> float:
    """Beat not heard from for this long is missing: it ticks at least every sweep interval."""
    return max(10.0, 3 * settings.SECKILL_SWEEP_INTERVAL)


def beat_age() -> float | None:
    """Seconds since beat last ticked; None if it never did (or Redis lost it). Raises Redis' errors."""
    last = operations.beat_last_seen()
    return None if last is None else max(0.0, time.time() - last)


def beat_state(age: float | None) -> str:
    """'ok', 'stale' (not heard from for beat_stale_after()) or 'never seen', for a beat_age()."""
    if age is None:
        return "never seen"
    return "ok" if age <= beat_stale_after() else "stale"


def beat_lease_ttl() -> float:
    """How long the beat that runs the schedule holds it without a tick (it ticks at least every sweep
    interval): a standing-by beat takes over this long after the holder's death."""
    return max(5.0, 2.5 * settings.SECKILL_SWEEP_INTERVAL)


class HeartbeatScheduler(PersistentScheduler):
    """Celery's default scheduler (the schedule file), which runs the schedule only while it holds the beat lease
    (seckill/ops/beat_lease.py), and then writes beat's heartbeat at each tick. Beat may so run on every host: one
    runs the schedule, the others stand by and take over within beat_lease_ttl() and a second of its death
    (docs/deploy.md)."""

    _beat_written = float("-inf")

    def __init__(self, *args, **kwargs):
        self.lease = BeatLease(beat_lease_ttl())
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs):
        now = time.monotonic()
        if now - self._beat_written >= BEAT_HEARTBEAT_EVERY:
            self._beat_written = now
            if self.lease.renew():
                try:
                    operations.beat_seen()
                except redis.RedisError:
                    logger.warning("beat's heartbeat not written", exc_info=True)
        if not self.lease.held():
            return BEAT_HEARTBEAT_EVERY  # standing by: ask again in a second
        return super().tick(*args, **kwargs)

    def apply_async(self, entry, *args, **kwargs):
        # A send that fails lets the lease lapse (BeatLease), one that succeeds holds it again.
        try:
            result = super().apply_async(entry, *args, **kwargs)
        except Exception:
            self.lease.sends_failing = True
            raise
        self.lease.sends_failing = False
        return result

    def close(self):
        super().close()
        try:
            self.lease.release()  # a clean stop: a standing-by beat takes over at its next tick
        except redis.RedisError:
            pass
