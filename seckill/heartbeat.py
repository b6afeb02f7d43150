"""Workers say they are alive: a worker's main process scores its name in Redis every HEARTBEAT_INTERVAL
seconds (a thread started when the worker is ready, stopped when it shuts down), so that /readyz can tell in one
Redis call whether any worker runs, instead of a broadcast ping to every worker on every probe."""

from __future__ import annotations

import logging
import threading
import time

import redis
from celery import signals

from seckill.redis_store import ops

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 2.0
HEARTBEAT_TTL = 10.0  # a worker not heard from for this long counts as gone
_stop = threading.Event()


def live_workers() -> int:
    """Workers heard from within HEARTBEAT_TTL. Raises Redis' errors."""
    return ops.workers_seen_since(time.time() - HEARTBEAT_TTL)


def _beat(hostname: str) -> None:
    while True:
        try:
            ops.worker_seen(hostname)
        except redis.RedisError:
            logger.warning("heartbeat of %s not written", hostname, exc_info=True)
        if _stop.wait(HEARTBEAT_INTERVAL):
            return


def _on_worker_ready(sender=None, **kwargs) -> None:
    _stop.clear()
    threading.Thread(target=_beat, args=(sender.hostname,), name="seckill-heartbeat", daemon=True).start()


def _on_worker_shutdown(sender=None, **kwargs) -> None:
    _stop.set()
    try:
        ops.worker_gone(sender.hostname)
    except (redis.RedisError, AttributeError):
        pass


def connect() -> None:
    signals.worker_ready.connect(_on_worker_ready, dispatch_uid="seckill.heartbeat.ready")
    signals.worker_shutdown.connect(_on_worker_shutdown, dispatch_uid="seckill.heartbeat.shutdown")
