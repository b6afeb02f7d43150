"""Worker side: find purchase requests whose broker message was lost, and run them again or give them up.

Run by beat every SECKILL_SWEEP_INTERVAL seconds (seckill.tasks.sweep_pending_task).
"""

from __future__ import annotations

import logging
import time

from seckill.gate import records
from seckill.gate import stock as gate
from seckill.purchases.enqueue import purchase_enqueue, purchase_queue_length
from seckill.purchases.request import PurchaseRequest
from seckill.worker.decisions import purchase_abandon

logger = logging.getLogger(__name__)


def purchase_requests_sweep(*, older_than_s: float, give_up_after_s: float, limit: int = 1000) -> dict:
    """Find purchase requests that have waited `older_than_s` without an outcome and enqueue them again.

    The Redis transport can lose a message for good (a worker killed between pop and unacked bookkeeping) and
    brings an unacknowledged one back only after the visibility timeout (docs/traps.md). Running a request again is
    safe: the task is idempotent per request id and its decision final. While the purchase queue still holds
    messages, a request may just be waiting in it, so only then are requests swept that a task already decided
    (sold, or refused: their message was taken). After `give_up_after_s` a request is abandoned instead
    (`purchase_abandon`). Returns counts.
    """
    now = time.time()
    backlog = purchase_queue_length() > 0
    counts = {"requeued": 0, "abandoned": 0, "dropped": 0, "waiting": 0}
    for request_id, _, product_id in records.requests_pending_since(now - older_than_s, limit):
        record = records.request_get(request_id, product_id)
        if record is None or record.outcome is not None:  # expired, or decided meanwhile
            records.request_forget_pending(product_id, request_id)
            counts["dropped"] += 1
            continue
        purchase = PurchaseRequest(request_id, record.user_id, record.product_id, record.quantity)
        if now - record.created > give_up_after_s and purchase_abandon(purchase).is_final:
            counts["abandoned"] += 1
            continue  # (not final: sold in Redis, not in the ledger: enqueued again below, never given up)
        if backlog and gate.decision_get(product_id=record.product_id, request_id=request_id) is None:
            counts["waiting"] += 1  # probably still in the queue: look again next time
            continue
        # Not again before another `older_than_s`: a long backlog must not be multiplied by each sweep.
        records.request_touch_pending(product_id, request_id, now)
        purchase_enqueue(purchase)
        counts["requeued"] += 1
    if counts["requeued"] or counts["abandoned"]:
        logger.warning("sweep of pending purchase requests: %s", counts)
    return counts
