import os

from celery import Celery
from celery.backends import asynchronous

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seckill_site.settings")


class BoundedDrainer(asynchronous.Drainer):
    """Keeps `AsyncResult.get(timeout=T)` close to T.

    Celery's drainer checks the timeout only between waits of `interval`, which `get()` does not pass down
    (it stays 1 s), so `get(timeout=0.01)` took a whole second and `get(timeout=3)` up to four. Each wait is
    woken at once by the result's pub/sub message; this only caps how long a wait for nothing may last.
    """

    def drain_events_until(self, p, timeout=None, interval=1, on_interval=None, wait=None):
        if timeout is not None:
            interval = max(0.01, min(interval, timeout / 10))
        return super().drain_events_until(p, timeout=timeout, interval=interval, on_interval=on_interval, wait=wait)


asynchronous.drainers["default"] = BoundedDrainer

app = Celery("seckill_site")
# Every Celery setting lives in Django settings as CELERY_<NAME>.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
