"""Every use of a library's private API, fenced: one module per patch, each saying what it changes, why (its measured
gain or the bug it avoids), the versions it was tested with, and turning itself off, with one logged warning, on any
other version or when SECKILL_LIBRARY_PATCHES=0. The system sells correctly with every one off (slower, or with a
library's own bug back): tests/integration/test_library_patches.py.

- `celery_result_wait`: Celery's result drainer woken within a tenth of the wait's timeout: `get(timeout=T)` took up
  to a second more (docs/traps.md).
- `kombu_redis_client`: kombu's Redis channel keeps one client per connection pool for publishes and acks, not a
  new one per publish (measured: docs/benchmark-log.md, "History", first round).
- `kombu_sentinel_close`: kombu's Sentinel channel raises a connection error, not an AttributeError, when it is
  closed after its transport was: a worker stopped on a broker failover (tests/integration/test_failover.py).
- `billiard_exit_wait`: an exiting pool process waits seconds, not half a minute, for the worker to read its
  results: a deploy's worker took that long to stop (docs/deploy.md).
- `celery_result_store`: Celery's Redis result backend hands a task's success to the recorder its app registered, to
  store it with the app's own records in one step (measured: docs/benchmark-log.md, "History", first round).
- `celery_batches`: Celery's task strategy sends the purchases that waited to a pool process as one job, saving
  Celery's per-task CPU (measured: docs/benchmark-log.md, "History", "Purchases batched in the worker").
- `simplejwt_token`: simplejwt's token built from the payload the fast check verified, not decoded again with
  PyJWT (seckill_site/authentication.py; measured: docs/benchmark-log.md, "History", first round).
- `drf_early_answer`: DRF's request handling skipped for the requests a view takes as they are (measured:
  docs/benchmark-log.md, "Refusals before DRF").
"""

from __future__ import annotations

import functools
import logging
from importlib import metadata

logger = logging.getLogger(__name__)
_warned: set[str] = set()


def allowed(patch: str, tested: dict[str, tuple[str, ...]]) -> bool:
    """Whether `patch` may be applied: SECKILL_LIBRARY_PATCHES is on and every distribution in `tested` is at a
    version it was tested with. Otherwise False, and one warning per patch and process naming what was found."""
    from django.conf import settings

    if not getattr(settings, "SECKILL_LIBRARY_PATCHES", True):
        return False
    found = {name: _version(name) for name in tested}
    if all(found[name] in versions for name, versions in tested.items()):
        return True
    if patch not in _warned:
        _warned.add(patch)
        logger.warning(
            "Library patch %s is off: found %s, tested only with %s",
            patch,
            ", ".join(f"{name} {version}" for name, version in found.items()),
            ", ".join(f"{name} {' or '.join(versions)}" for name, versions in tested.items()),
        )
    return False


@functools.cache  # (a distribution's version cannot change under a running process; reading it scans site-packages)
def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
