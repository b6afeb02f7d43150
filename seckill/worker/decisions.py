"""Worker side: decide a purchase request (the logic layer), or give it up.

The task (seckill.tasks) calls `purchase_process` for each delivery of a request; `purchase_abandon` when its
retries run out or the sweeper gives it up. The ledger's statements come first and Redis decides last, inside
the same transaction, which commits only if Redis sold.

A worker that hands a pool process several requests as one job (seckill_site/integrations/celery_batches.py)
first calls `purchases_decide_together` on them: their sales in one transaction, one commit and one Redis round
trip, which is most of what a sale costs the database server. Their tasks then find their outcomes decided (the
batching step hands them over), and their results are stored after that commit, as always. Anything unusual in
the batch (a refusal, a redelivery, an error) rolls the batch back and leaves each request to be decided alone.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from products.errors import ProductNotFound
from products.models import Product
from seckill.errors import TRANSIENT_ERRORS, AlreadyPurchased, SoldOut, UserInactive
from seckill.gate import keys, records
from seckill.gate import stock as gate
from seckill.gate.sync import stock_gate_load
from seckill.models import Order
from seckill.purchases.outcomes import Outcome
from seckill.purchases.request import PurchaseRequest
from seckill.worker.ledger import ledger_sell, ledger_sell_many
from seckill_site.errors import InternalError, Unavailable, error_for_code
from seckill_site.integrations import celery_batches

logger = logging.getLogger(__name__)


def purchase_process(purchase: PurchaseRequest, *, record: bool = True) -> Outcome:
    """Decide one purchase and record the outcome. Safe to run twice, or at once, for the same request id.

    Writes the order and the ledger's stock in one transaction whose last step decides the sale in Redis
    (sell.lua, which makes every decision final): it commits only if Redis sold. A refusal by the ledger is made
    final in Redis too. Transient database or Redis errors propagate for the task to retry; `purchase_abandon`
    compensates when the retries run out. Anything else is logged and the request refused for good
    (`internal_error`), unless Redis sold it: then the error propagates and the request stays pending for the
    sweeper to run again. `record=False`: the caller records the outcome (the task, whose result backend stores
    it with the result: seckill/worker/outcome_record.py). A pool job's sale decided together with the others of
    its job (`purchases_decide_together`) is taken from the batching step, not decided again.
    """
    try:
        outcome = celery_batches.prelude_result(purchase.request_id) or _purchase_decide(purchase)
    except TRANSIENT_ERRORS:
        raise
    except Exception:
        logger.exception("purchase %s failed", purchase.request_id)
        decision = gate.refuse(**purchase.task_kwargs(), code=InternalError.code)
        if decision == gate.SOLD:  # sold in Redis, maybe not in the ledger: never given up
            raise
        outcome = Outcome.from_error(error_for_code(decision), purchase)
    if record:
        _record(outcome)
    return outcome


def purchases_decide_together(requests: list[dict]) -> dict[str, Outcome]:
    """A pool job's prelude (the task's `batch_prelude`): decide its requests (the tasks' kwargs) in one
    transaction: per product, the ledger's statements (one on PostgreSQL: `seckill.worker.ledger.ledger_sell_many`),
    then Redis decides the product's requests in one round trip (sell.lua, in the product's key slot); then one
    commit. Returns the sales by request id, which the batching step hands to `purchase_process` of each
    (celery_batches.prelude_result). Never raises: whatever is not sold here is decided alone, by the usual path.

    A request the ledger does not sell (an inactive buyer; on PostgreSQL every request of a product whose stock
    cannot cover them all, elsewhere those past its last unit) is simply left out. A refusal by Redis rolls that
    product's requests back (a savepoint, when the job holds several products), the others' stand. Anything else
    rolls the whole batch back: an integrity error (a redelivered request, a buyer twice in the batch), any
    error. Redis may have sold some of them by then (its decisions are final); their orders are written when each
    runs alone (sell.lua answers 'again'), as after any failed commit."""
    if not settings.SECKILL_WORKER_BATCH_TRANSACTION:
        return {}
    try:
        sold = _sell_together([PurchaseRequest(**kwargs) for kwargs in requests])
    except Exception:
        logger.info("batch of %d purchases decided one by one", len(requests), exc_info=True)
        return {}
    return {outcome.request_id: outcome for outcome in sold}


class _DecideAlone(Exception):
    """Redis did not sell the whole batch: roll it back."""


def _sell_together(requests: list[PurchaseRequest]) -> list[Outcome]:
    # Grouped by key slot: a product's, or its bucket's (the request id names it; keys.py).
    by_slot: dict[tuple[int, int], list[PurchaseRequest]] = defaultdict(list)
    for purchase in requests:
        by_slot[purchase.product_id, keys.request_bucket(purchase.request_id)].append(purchase)
    if len(by_slot) == 1:  # the usual job (a hot product's queue): no savepoint needed
        with transaction.atomic():
            return _sell_product(requests)
    sold: list[Outcome] = []
    with transaction.atomic():
        for slot in sorted(by_slot):  # every batch locks products in the same order: no deadlock
            try:
                with transaction.atomic():  # a savepoint: a slot Redis did not sell whole is rolled back alone
                    sold += _sell_product(by_slot[slot])
            except _DecideAlone as refused:
                logger.info("batch: product %s (bucket %s) decided one by one: %s", *slot, refused)
    return sold


def _sell_product(purchases: list[PurchaseRequest]) -> list[Outcome]:
    """One product's requests of one key slot: the ledger's statements, then Redis' decision of those it sold
    (one sell.lua call). Raises _DecideAlone unless Redis sold them all."""
    order_ids = ledger_sell_many([purchase.task_kwargs() for purchase in purchases])
    taken = [(purchase, order_ids[purchase.request_id]) for purchase in purchases if purchase.request_id in order_ids]
    if not taken:
        return []
    decided = gate.sell_many([purchase.task_kwargs() for purchase, _ in taken])
    if len(decided) < len(taken) or any(result not in (gate.Sell.SOLD, gate.Sell.AGAIN) for result, _ in decided):
        raise _DecideAlone([result for result, _ in decided])
    return [Outcome.success(purchase, order_id=order_id) for purchase, order_id in taken]


def _record(outcome: Outcome) -> None:
    """The decision is made: keep its outcome for the result endpoint and free its admission slot."""
    records.request_set_outcome(
        product_id=outcome.product_id, request_id=outcome.request_id, outcome=outcome.as_dict(), free_slot=True
    )


def _gate_learns_the_holder(purchase: PurchaseRequest) -> None:
    """The buyer holds a live order of the product (the ledger says so): the gate records which request made it,
    unless it knows one already (or the order closed meanwhile)."""
    held_by = Order.objects.filter(user_id=purchase.user_id, product_id=purchase.product_id, status__in=Order.LIVE)
    request_id = held_by.values_list("request_id", flat=True).first()
    if request_id is not None:
        gate.buyer_remember(product_id=purchase.product_id, user_id=purchase.user_id, request_id=request_id)


class PurchaseRefused(Exception):
    """The request is refused for good, by Redis (sell.lua) or by the ledger (then in Redis too): its decision."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class _NotLoaded(Exception):
    """The product is not in Redis: nothing was decided."""


def _purchase_decide(purchase: PurchaseRequest) -> Outcome:
    try:
        try:
            order_id = order_write(purchase)
        except _NotLoaded:
            stock_gate_load(product_id=purchase.product_id)
            order_id = order_write(purchase)
    except PurchaseRefused as refusal:  # by Redis, or by the ledger (then made final in Redis already)
        return Outcome.from_error(error_for_code(refusal.code), purchase)
    except AlreadyPurchased as error:  # the ledger's: the buyer holds another live order
        # Final in Redis too (a sale Redis decided for this request is undone: its order can never be written),
        # and the gate learns which order the buyer holds.
        decision = gate.refuse(**purchase.task_kwargs(), code=error.code, ledger_refused=True)
        _gate_learns_the_holder(purchase)
        return Outcome.from_error(error_for_code(decision), purchase)  # (an earlier refusal's code, if any)
    return Outcome.success(purchase, order_id=order_id)


def order_write(purchase: PurchaseRequest) -> int:
    """Write the order and take the stock from the ledger, then decide the sale in Redis (sell.lua), in one
    transaction: it commits only if Redis sold, now or before (a run whose commit failed). Returns the order's
    id (the existing order's on a replay).

    One round trip to Redis, made with the ledger's lock held (the product's row on PostgreSQL, the database on
    SQLite). The ledger's statements (`seckill.worker.ledger.ledger_sell`) first; only when they sell nothing are the
    reasons looked up, and the refusal made final in Redis, still under the lock.
    Raises PurchaseRefused (Redis' refusal, or the ledger's: user_inactive, product_not_found, already_purchased,
    sold_out, made final in Redis), AlreadyPurchased (the unique constraint's; Redis not asked yet), _NotLoaded,
    or a transient error.
    """
    request_id, user_id, product_id = purchase.request_id, purchase.user_id, purchase.product_id
    try:
        with transaction.atomic():
            order_id = ledger_sell(**purchase.task_kwargs())
            if order_id is None:
                # A concurrent delivery of this same request may have taken the last units, or sit between its
                # ledger statement and its commit (a redelivery racing the first, the buyer deactivated
                # meanwhile): that is a sale, and its Redis decision must not be undone.
                refusal = _ledger_refusal(user_id=user_id, product_id=product_id)
                existing = _order_of_concurrent_delivery(
                    request_id=request_id, product_id=product_id, wait=isinstance(refusal, UserInactive)
                )
                if existing is not None:
                    return existing
                if isinstance(refusal, AlreadyPurchased):  # final in Redis before the lock goes, as below
                    decision = gate.refuse(**purchase.task_kwargs(), code=refusal.code, ledger_refused=True)
                    _gate_learns_the_holder(purchase)
                    raise PurchaseRefused(decision)
                # Final in Redis too, before the lock goes: a sale Redis decided for this request (an earlier run's
                # commit failed, then the ledger changed) is undone, its units and buyer entry given back.
                raise PurchaseRefused(gate.refuse(**purchase.task_kwargs(), code=refusal.code, ledger_refused=True))
            # Last step before the commit: Redis decides (a request given up meanwhile is refused there).
            result, _ = gate.sell(**purchase.task_kwargs())
            if result is gate.Sell.NOT_LOADED:
                raise _NotLoaded()
            if result not in (gate.Sell.SOLD, gate.Sell.AGAIN):
                raise PurchaseRefused(result)
            return order_id
    except IntegrityError:
        existing = Order.objects.filter(request_id=request_id).values_list("pk", flat=True).first()
        if existing is not None:  # an earlier or concurrent delivery of the same request wrote it
            return existing
        if Order.objects.filter(user_id=user_id, product_id=product_id, status__in=Order.LIVE).exists():
            raise AlreadyPurchased() from None
        raise


def _order_of_concurrent_delivery(*, request_id: str, product_id: int, wait: bool) -> int | None:
    """The order of this request, once no delivery of it can be between its ledger statement and its commit.

    Such a delivery holds the product's row lock until it commits, and the ledger's statement waited for it,
    except on PostgreSQL when the buyer is inactive (the statement's condition fails before any row is locked):
    then (`wait`) the lock is taken here. On SQLite this transaction began after every other writer committed."""
    if wait:
        Product.objects.select_for_update().filter(pk=product_id).values_list("pk", flat=True).first()
    return Order.objects.filter(request_id=request_id).values_list("pk", flat=True).first()


def _ledger_refusal(*, user_id: int, product_id: int) -> UserInactive | ProductNotFound | AlreadyPurchased | SoldOut:
    """Why the ledger sold nothing. A buyer who holds a live order is told so, not `sold_out`: the gate admits
    them again only when it lost their entry (a failover), and their order is the answer that agrees with the
    ledger."""
    if not get_user_model().objects.filter(pk=user_id, is_active=True).exists():
        return UserInactive()
    if not Product.objects.filter(pk=product_id).exists():
        return ProductNotFound()
    if Order.objects.filter(user_id=user_id, product_id=product_id, status__in=Order.LIVE).exists():
        return AlreadyPurchased()
    return SoldOut()


def purchase_abandon(purchase: PurchaseRequest, *, record: bool = True) -> Outcome:
    """Give a request up (its task's retries are spent, or it waited too long): refuse it for good, unless it is
    decided already: a sale is a success, an earlier refusal stands. Records (unless `record=False`, as in
    purchase_process) and returns the outcome. A task still running for it can no longer sell (sell.lua finds
    the refusal and its transaction rolls back).

    A sale decided in Redis whose order is not in the ledger (yet) cannot be given up: its commit may be under
    way, or it failed and must be written by running the request again (idempotent). Then nothing is recorded,
    the request stays pending for the sweeper (`purchase_requests_sweep` enqueues it again) and the outcome
    returned is `pending`."""
    decision = gate.refuse(**purchase.task_kwargs(), code=Unavailable.code)
    order = Order.objects.filter(request_id=purchase.request_id).first()
    if order is not None:
        outcome = Outcome.success(purchase, order_id=order.pk)
    elif decision == gate.SOLD:
        return Outcome.pending(purchase)
    else:
        outcome = Outcome.from_error(error_for_code(decision), purchase)
    if record:
        _record(outcome)
    return outcome
