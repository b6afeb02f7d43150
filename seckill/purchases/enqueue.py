"""Web side: hand a purchase request to the logic layer (a Celery task on the Redis broker) and wait for it.

The task is named, not imported: only Celery's worker loads seckill.tasks, and nothing here depends on it.
"""

from __future__ import annotations

import logging

import amqp.exceptions
import celery.exceptions
from celery.result import AsyncResult

from seckill.purchases.outcomes import Outcome
from seckill.purchases.request import PurchaseRequest
from seckill_site.celery import app

logger = logging.getLogger(__name__)

PURCHASE_TASK = "seckill.purchase"  # seckill.tasks.purchase_task
PURCHASE_QUEUE = "celery"  # Celery's default queue carries the purchase tasks; maintenance has its own


def purchase_enqueue(purchase: PurchaseRequest) -> AsyncResult:
    """Publish the purchase task. Its id is the request id, so the result waited on can only be this
    request's own. Raises what the broker raises."""
    kwargs = purchase.task_kwargs()
    # argsrepr/kwargsrepr (the message's printable copy of its arguments, for logs and monitoring) as plain
    # repr: Celery's saferepr costs a noticeable share of a publish's CPU.
    return app.send_task(
        PURCHASE_TASK, kwargs=kwargs, task_id=purchase.request_id, argsrepr="()", kwargsrepr=repr(kwargs)
    )


def purchase_wait(async_result: AsyncResult, purchase: PurchaseRequest, *, timeout: float) -> Outcome:
    """The task's Outcome, or `pending` when it has not decided within `timeout` seconds (the task goes on) or
    the wait failed: an enqueued request may still sell, so it is never answered "nothing was sold"."""
    request_id = purchase.request_id
    try:
        payload = async_result.get(timeout=timeout, propagate=False, interval=0.05)
    except celery.exceptions.TimeoutError:
        # A timeout is not a failure: the task still runs. Stop listening for it here (docs/traps.md).
        async_result.backend.remove_pending_result(async_result)
        return Outcome.pending(purchase)
    except Exception:
        logger.warning("lost the result channel while waiting on %s", request_id, exc_info=True)
        return Outcome.pending(purchase)
    if not async_result.successful():  # raised (it answers its own errors: rare), or revoked: undecided
        logger.error("purchase task %s ended %s: %r", request_id, async_result.state, payload)
        return Outcome.pending(purchase)
    outcome = Outcome.from_dict(payload)
    if outcome.request_id != request_id:  # cannot happen by construction; never hand out another's result
        raise RuntimeError(f"result for {outcome.request_id} delivered to request {request_id}")
    return outcome


def purchase_queue_length() -> int:
    """Messages waiting in the purchase queue of the broker."""
    with app.connection_for_read() as connection:
        try:
            return connection.default_channel.queue_declare(queue=PURCHASE_QUEUE, passive=True).message_count
        except amqp.exceptions.ChannelError:  # the Redis transport's way of saying "empty": no list at all
            return 0
