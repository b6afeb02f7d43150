"""The Celery no-op: the floor a purchase round trip is compared with (enqueue + AsyncResult wait, no work)."""

from celery import shared_task


@shared_task(name="bench.noop")
def noop_task() -> dict:
    return {"code": "ok"}
