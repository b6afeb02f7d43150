"""Celery tasks: thin, take ids, safe to run twice. The work is in the worker-side modules they call."""

import logging
import time

from celery import shared_task
from django.conf import settings

from seckill.access import blacklist
from seckill.errors import TRANSIENT_ERRORS
from seckill.gate import access_state as guard_store
from seckill.ops import reconcile
from seckill.orders import services as order_services
from seckill.purchases.request import PurchaseRequest
from seckill.worker import decisions, draw, sweep
from seckill.worker.outcome_record import outcome_recorded_with_result
from seckill_site.log_context import request_id_bound

logger = logging.getLogger(__name__)

MAX_RETRIES = 3


@shared_task(
    bind=True,
    name="seckill.purchase",  # seckill.purchases.enqueue publishes it by this name
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
    # Celery writes the return value's repr for its success log line (and the pool's reply) on every task, log
    # level notwithstanding: the first 100 characters say which request it was.
    resultrepr_maxsize=100,
    # Under load a pool process is given every purchase that waited for it as one job
    # (seckill_site/integrations/celery_batches.py).
    Strategy="seckill_site.integrations.celery_batches:batched",
    # ... whose sales are then made in one database transaction before each task runs.
    batch_prelude="seckill.worker.decisions:purchases_decide_together",
)
def purchase_task(self, *, request_id: str, user_id: int, product_id: int, quantity: int) -> dict:
    """Decide one purchase request (its PurchaseRequest's task_kwargs); the task id is the request id. Returns the
    Outcome as a dict."""
    purchase = PurchaseRequest(request_id, user_id, product_id, quantity)
    # On a worker whose result backend shares the gate's Redis, the outcome is recorded with the result.
    record = not outcome_recorded_with_result(self)
    with request_id_bound(request_id):  # every log line of this run names the request
        return _purchase_run(self, purchase, record)


def _purchase_run(task, purchase: PurchaseRequest, record: bool) -> dict:
    """The task's body: retries transient errors, gives the request up when they run out."""
    try:
        return decisions.purchase_process(purchase, record=record).as_dict()
    except TRANSIENT_ERRORS as exc:
        if task.request.retries < MAX_RETRIES:
            # Short countdowns only: far below the broker's visibility timeout (docs/traps.md).
            raise task.retry(exc=exc, countdown=0.1 * 2**task.request.retries) from exc
        outcome = decisions.purchase_abandon(purchase, record=record)
        if not outcome.is_final and not task.request.is_eager:  # (run eagerly, a retry would recurse)
            # Sold in Redis, not in the ledger: never given up. Try again later (the sweeper would too); a retry
            # leaves the result in RETRY, so the sale's success can still be stored when it comes.
            # (max_retries=None here would mean the task's default of 3, not unlimited: allow one more each time.)
            raise task.retry(
                exc=exc, countdown=min(settings.SECKILL_REDELIVER_AFTER, 60), max_retries=task.request.retries + 1
            ) from None
        return outcome.as_dict()


@shared_task(name="seckill.sweep_pending", acks_late=True, ignore_result=True)
def sweep_pending_task() -> dict:
    """Run by beat every SECKILL_SWEEP_INTERVAL seconds: re-enqueue purchase requests whose message was lost."""
    return sweep.purchase_requests_sweep(
        older_than_s=settings.SECKILL_REDELIVER_AFTER, give_up_after_s=settings.SECKILL_GIVE_UP_AFTER
    )


@shared_task(name="seckill.reconcile_blacklist", acks_late=True, ignore_result=True)
def reconcile_blacklist_task() -> None:
    """Run by beat: rebuild Redis' blacklist from the database when they differ; drop lapsed bans."""
    blacklist.blacklist_reconcile()
    guard_store.bans_prune()


@shared_task(name="seckill.expire_orders", acks_late=True, ignore_result=True)
def expire_orders_task() -> int:
    """Run by beat every SECKILL_EXPIRE_INTERVAL seconds: expire due unpaid orders, batch by batch, for at most
    one interval (the next run goes on); then give the gate the units of closed orders it has not had yet."""
    deadline, expired = time.monotonic() + settings.SECKILL_EXPIRE_INTERVAL, 0
    while time.monotonic() < deadline:
        done = order_services.orders_expire_due(limit=settings.SECKILL_EXPIRE_BATCH)
        expired += done
        if done < settings.SECKILL_EXPIRE_BATCH:
            break
    order_services.orders_release_to_gate()
    return expired


@shared_task(name="seckill.reconcile", acks_late=True, ignore_result=True)
def reconcile_task() -> None:
    """Run by beat every SECKILL_RECONCILE_INTERVAL seconds: report (never repair) where Redis and the ledger
    disagree; the admin and `manage.py reconcile` show it."""
    reconcile.reconcile_all(fix=False)


@shared_task(name="seckill.draw_tick", acks_late=True, ignore_result=True)
def draw_tick_task() -> None:
    """Run by beat every SECKILL_DRAW_INTERVAL seconds: hold the draws whose window closed (each once, whoever runs
    at once), hand units back in the ledger to the open waitlists, tell Redis of orders it missed. One product's
    failure (logged) leaves the others' steps to run."""
    steps = [(draw.draw_hold, draw.draws_due()), (draw.waitlist_refill, draw.waitlists_open())]
    steps.append((draw.gate_sync, draw.draws_unsynced()))
    for step, product_ids in steps:
        for product_id in product_ids:
            try:
                step(product_id=product_id)
            except Exception:
                logger.exception(
                    "draw tick: %s of product %s failed (the next tick tries again)", step.__name__, product_id
                )
