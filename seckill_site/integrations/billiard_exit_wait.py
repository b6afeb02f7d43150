"""billiard's wait of an exiting pool process, bounded to 2 s.

Changes: `billiard.pool.GUARANTEE_MESSAGE_CONSUMPTION_RETRY_LIMIT` (a module constant), in the worker's process.
Why: a pool process that exits waits until the worker has read every result it sent, up to 30 s. On a warm shutdown
under load a process often ends one result ahead of what the worker counted as read (Celery's flush drops a job
written to a process but not yet seen accepted; its message goes back to the broker), so a deploy's worker took half
a minute to stop (docs/deploy.md). A process recycled while the worker runs has its results read within
milliseconds; a purchase run again after a lost result is decided once.
Off: billiard's 30 s.
"""

from __future__ import annotations

from seckill_site import integrations

TESTED = {"billiard": ("4.3.2",)}
POOL_PROCESS_EXIT_WAIT_S = 2.0


def apply() -> bool:
    """Bound the wait (called at worker_init); True if it is bounded."""
    import billiard.pool

    if not integrations.allowed(__name__, TESTED) or not hasattr(
        billiard.pool, "GUARANTEE_MESSAGE_CONSUMPTION_RETRY_LIMIT"
    ):
        return False
    interval = billiard.pool.GUARANTEE_MESSAGE_CONSUMPTION_RETRY_INTERVAL
    billiard.pool.GUARANTEE_MESSAGE_CONSUMPTION_RETRY_LIMIT = max(1, round(POOL_PROCESS_EXIT_WAIT_S / interval))
    return True
