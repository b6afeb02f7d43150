"""Celery's result drainer, bounded: `AsyncResult.get(timeout=T)` ends close to T.

Changes: `celery.backends.asynchronous.drainers["default"]` (a private registry) becomes BoundedDrainer.
Why: Celery's drainer checks the timeout only between waits of `interval`, which `get()` does not pass down (it
stays 1 s), so `get(timeout=0.01)` took a whole second and `get(timeout=3)` up to four (docs/traps.md). Each wait
is woken at once by the result's pub/sub message; this only caps how long a wait for nothing may last.
Off: Celery's own drainer; a purchase's wait may then last up to a second past SECKILL_RESULT_TIMEOUT.
"""

from __future__ import annotations

from celery.backends import asynchronous

from seckill_site import integrations

TESTED = {"celery": ("5.7.0",)}


class BoundedDrainer(asynchronous.Drainer):
    def drain_events_until(self, p, timeout=None, interval=1, on_interval=None, wait=None):
        if timeout is not None:
            interval = max(0.01, min(interval, timeout / 10))
        return super().drain_events_until(p, timeout=timeout, interval=interval, on_interval=on_interval, wait=wait)


def apply() -> bool:
    """Install the drainer; True if it is installed."""
    if not integrations.allowed(__name__, TESTED):
        return False
    asynchronous.drainers["default"] = BoundedDrainer
    return True
