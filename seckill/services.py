"""The purchase path.

Access layer (the web process):  `purchase_submit` checks the request, enqueues the task, waits on its result.
Logic layer (the Celery worker): `purchase_process` writes the order to the ledger, Redis deciding the sale
                                 last in the same transaction.
Stock gate upkeep:              `stock_gate_load`, `stock_gate_change_total` keep Redis in step with the database.
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import replace

import amqp.exceptions
import celery.exceptions
import kombu.exceptions
import redis
from django import db
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from products.models import Product
from products.selectors import product_get
from seckill import access, redis_store
from seckill.errors import (
    AlreadyPurchased,
    Busy,
    InternalError,
    InvalidRequest,
    ProductNotFound,
    RateLimited,
    SaleDisabled,
    SaleEnded,
    SaleNotStarted,
    SeckillError,
    SoldOut,
    StockConflict,
    Unavailable,
    UserInactive,
    error_for_code,
)
from seckill.models import Order
from seckill.outcomes import Outcome
from seckill.redis_store import AdjustResult, Sell

logger = logging.getLogger(__name__)

# Errors that mean "Redis or the broker cannot be reached".
BROKER_ERRORS = (kombu.exceptions.OperationalError, redis.ConnectionError, redis.TimeoutError, ConnectionError)
# Errors worth a retry of the task: the database or Redis may answer a moment later.
TRANSIENT_ERRORS = (db.OperationalError, db.InterfaceError) + BROKER_ERRORS

PURCHASE_QUEUE = "celery"  # Celery's default queue carries the purchase tasks; maintenance has its own


# --- access layer -----------------------------------------------------------------------------------------
def purchase_check(*, state: redis_store.SaleState, quantity: int, now_ms: int) -> None:
    """The checks the access layer makes before the logic layer. Raises the matching SeckillError.

    The logic layer checks all of them again atomically (sell.lua); these only turn losers away early.
    """
    if not state.enabled:
        raise SaleDisabled()
    if now_ms < state.start_ms:
        raise SaleNotStarted()
    if now_ms >= state.end_ms:
        raise SaleEnded()
    if quantity > state.per_user_limit:
        raise InvalidRequest(
            errors={"quantity": [f"Ensure this value is less than or equal to {state.per_user_limit}."]}
        )
    if state.stock is not None and state.stock < quantity:
        raise SoldOut()


# A web process keeps each product's sale state for SECKILL_LOCAL_CACHE_TTL seconds: most requests of a flash
# sale are for one product that is sold out, and this answers them without Redis or the database.
_sale_cache: dict[int, tuple[float, redis_store.SaleState | None]] = {}
_SALE_CACHE_MAX = 10_000


def _sale_cache_fresh(product_id: int, now: float) -> tuple[float, redis_store.SaleState | None] | None:
    """The cache's (expiry, state) for the product, if there is one and it has not expired."""
    cached = _sale_cache.get(product_id)
    return cached if cached is not None and cached[0] > now else None


def sale_state_get(*, product_id: int) -> redis_store.SaleState:
    """The product's sale state: from this process' cache, else Redis, else (first time) the database.
    Raises ProductNotFound, Unavailable (Redis down)."""
    now = time.monotonic()
    cached = _sale_cache_fresh(product_id, now)
    if cached is not None:
        state = cached[1]
    else:
        try:
            state = redis_store.sale_state(product_id)
            if state is None:
                try:
                    stock_gate_load(product_id=product_id)
                except ProductNotFound:
                    pass  # remembered below like any state: unknown ids cost no query for a while either
                else:
                    state = redis_store.sale_state(product_id)
        except BROKER_ERRORS as exc:
            raise Unavailable() from exc
        if len(_sale_cache) >= _SALE_CACHE_MAX:  # unknown ids must not grow it without bound
            _sale_cache.clear()
        _sale_cache[product_id] = (now + settings.SECKILL_LOCAL_CACHE_TTL, state)
    if state is None:
        raise ProductNotFound()
    return state


def _sale_cache_mark_short(product_id: int, quantity: int) -> None:
    """The gate has fewer than `quantity` units: refuse such requests here until the cache entry lapses, but
    not smaller ones (a buyer of 2 finding 1 left does not make the product sold out)."""
    cached = _sale_cache.get(product_id)
    if cached is not None and cached[1] is not None:
        known = cached[1].stock if cached[1].stock is not None else quantity
        _sale_cache[product_id] = (cached[0], replace(cached[1], stock=min(known, quantity - 1)))


def sale_cache_clear() -> None:
    _sale_cache.clear()


IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


def purchase_submit(
    *, user_id: int, product_id: int, quantity: int, timeout: float, idempotency_key: str | None = None,
    rate_limits: redis_store.RateRules = (),
) -> Outcome:
    """Check a purchase request, hand it to the logic layer and wait up to `timeout` seconds for the decision.

    Returns the task's Outcome for this request id only, or a `pending` Outcome when the wait times out (the
    task goes on; GET result_url gives the decision later). With an `idempotency_key`, a buyer's repeated
    request gets the first one's outcome (the same request id, the same order) instead of a second attempt.
    `rate_limits` (access.rate_limit_rules) are counted in the admission's round trip, once the sale checks
    have passed: a request they refuse raises RateLimited and is not admitted.
    Raises ProductNotFound, SaleNotStarted, SaleEnded, SaleDisabled, SoldOut, AlreadyPurchased, InvalidRequest,
    Busy, RateLimited before anything is enqueued, and Unavailable when Redis or the broker cannot take the
    request (then nothing was enqueued and nothing will be sold for it). No database query on this path once
    the product is in Redis.
    """
    if idempotency_key is None:
        _sale_check(product_id=product_id, quantity=quantity)  # most requests end here, before any id is made
        fields = dict(request_id=uuid.uuid4().hex, product_id=product_id, user_id=user_id, quantity=quantity)
        return _submit(fields, timeout, rate_limits)
    request_id = uuid.uuid4().hex
    fields = dict(request_id=request_id, product_id=product_id, user_id=user_id, quantity=quantity)
    if not IDEMPOTENCY_KEY.match(idempotency_key):
        raise InvalidRequest(errors={"Idempotency-Key": ["1 to 64 letters, digits or _ . : -"]})
    try:
        first = redis_store.idempotency_claim(
            user_id=user_id, key=idempotency_key, request_id=request_id, ttl_s=settings.SECKILL_IDEMPOTENCY_TTL
        )
    except BROKER_ERRORS as exc:
        raise Unavailable() from exc
    if first is not None:
        outcome = _await_outcome(request_id=first, user_id=user_id, timeout=timeout)
        if outcome.code != Unavailable.code:
            return outcome
        # The first request was given up and sold nothing (its refusal is final; a request that may still sell
        # is never recorded `unavailable`): "try again" must let this retry through, not repeat itself for the
        # key's lifetime.
        _release_key(user_id, idempotency_key, first)
        try:
            first = redis_store.idempotency_claim(
                user_id=user_id, key=idempotency_key, request_id=request_id, ttl_s=settings.SECKILL_IDEMPOTENCY_TTL
            )
        except BROKER_ERRORS as exc:
            raise Unavailable() from exc
        if first is not None:  # a concurrent retry with this key claimed it first: its outcome is ours
            return _await_outcome(request_id=first, user_id=user_id, timeout=timeout)
    try:
        _sale_check(product_id=product_id, quantity=quantity)
        return _submit(fields, timeout, rate_limits)
    except (RateLimited, Unavailable):  # "try again" answers (Busy too): the key must let the retry through
        _release_key(user_id, idempotency_key, request_id)
        raise
    except SeckillError as error:  # refused before the broker: replays of the key must get this answer too
        _remember_refusal(fields, error)
        raise
    except Exception:
        _release_key(user_id, idempotency_key, request_id)
        raise


def _release_key(user_id: int, key: str, request_id: str) -> None:
    try:
        redis_store.idempotency_release(user_id=user_id, key=key, request_id=request_id)
    except BROKER_ERRORS:
        logger.warning("could not free Idempotency-Key of user %s", user_id)


def purchase_precheck(*, product_id: int, quantity: int) -> bool:
    """The refusals this process' cached sale state gives, with no I/O: ProductNotFound, SaleDisabled,
    SaleNotStarted, SaleEnded, SoldOut, InvalidRequest (quantity over the limit). Returns True if the product's
    state is cached (and allows the request), False if not: then nothing was checked (finding out costs Redis
    and maybe the database: the view rate-limits first, and purchase_submit checks again)."""
    cached = _sale_cache_fresh(product_id, time.monotonic())
    if cached is None:
        return False
    if cached[1] is None:
        raise ProductNotFound()
    purchase_check(state=cached[1], quantity=quantity, now_ms=int(time.time() * 1000))
    return True


def _sale_check(*, product_id: int, quantity: int) -> None:
    purchase_check(state=sale_state_get(product_id=product_id), quantity=quantity, now_ms=int(time.time() * 1000))


def _submit(fields: dict, timeout: float, rate_limits: redis_store.RateRules = ()) -> Outcome:
    """Admit a checked request (counting its rate limits), enqueue it and wait for its outcome."""
    from seckill.tasks import purchase_task  # tasks import this module

    request_id = fields["request_id"]
    try:
        _admit(**fields, rate_limits=rate_limits)  # writes the record too: from here the sweeper knows the request
    except Unavailable:
        # Redis may have run the script and lost only its reply: then a pending record exists, and the sweeper
        # would enqueue a request we answer 503. Refuse it for good (best effort: Redis may be down).
        _refuse_unsent(fields)
        raise
    try:
        # The task id is the request id: the result we wait on can only be this request's own.
        # argsrepr/kwargsrepr (the message's printable copy of its arguments, for logs and monitoring) given
        # as plain repr: Celery's saferepr of these four fields cost ~45 us of a publish's CPU.
        async_result = purchase_task.apply_async(
            kwargs=fields, task_id=request_id, argsrepr="()", kwargsrepr=repr(fields)
        )
    except Exception as exc:  # the broker, or the result backend subscribing before the publish
        logger.warning("purchase %s not enqueued: %r", request_id, exc)
        _refuse_unsent(fields)
        raise Unavailable() from exc

    try:
        payload = async_result.get(timeout=timeout, propagate=False, interval=0.05)
    except celery.exceptions.TimeoutError:
        # A timeout is not a failure: the task still runs. Stop listening for it in this process (TRAPS.md).
        async_result.backend.remove_pending_result(async_result)
        return Outcome.pending(**fields)
    except Exception:
        # The task was enqueued, so it may sell: this is pending, never "nothing was sold".
        logger.warning("lost the result channel while waiting on %s", request_id, exc_info=True)
        return Outcome.pending(**fields)
    if async_result.failed():  # the task raised (it answers its own errors, so this is rare): undecided
        logger.error("purchase task %s failed: %r", request_id, payload)
        return Outcome.pending(**fields)
    outcome = Outcome.from_dict(payload)
    if outcome.request_id != request_id:  # cannot happen by construction; never hand out another's result
        raise RuntimeError(f"result for {outcome.request_id} delivered to request {request_id}")
    return outcome


def _admit(*, product_id: int, request_id: str, quantity: int, user_id: int,
           rate_limits: redis_store.RateRules = ()) -> None:
    """Count the request's rate limits, take one of the product's admission slots and record the request (one
    round trip). Raises RateLimited (nothing admitted), SoldOut, AlreadyPurchased (the gate knows the buyer's
    sale), Busy (retry later), Unavailable."""
    gate = dict(
        product_id=product_id,
        request_id=request_id,
        quantity=quantity,
        factor=settings.SECKILL_ADMISSION_FACTOR,
        slot_ms=int(settings.SECKILL_ADMISSION_SLOT_TTL * 1000),
        user_id=user_id,
        created=time.time(),
    )
    try:
        answer, retry_after_ms, breached = redis_store.admit_rate_limited(**gate, rate_limits=rate_limits)
        if answer == "not_loaded":  # (nothing counted then)
            stock_gate_load(product_id=product_id)
            answer, retry_after_ms, breached = redis_store.admit_rate_limited(**gate, rate_limits=rate_limits)
    except BROKER_ERRORS as exc:
        raise Unavailable() from exc
    if answer == "rate_limited":
        access.rate_limit_refuse(rate_limits, retry_after_ms=retry_after_ms, breached=breached)
    if answer == "sold_out":
        _sale_cache_mark_short(product_id, quantity)
        raise SoldOut()
    if answer == "already_purchased":
        raise AlreadyPurchased()
    if answer == "busy":
        raise Busy(retry_after=1)
    if answer != "admitted":
        raise ProductNotFound()


def _await_outcome(*, request_id: str, user_id: int, timeout: float) -> Outcome:
    """The outcome of an earlier request of this buyer, waiting (polling its record) up to `timeout`."""
    from seckill.selectors import RequestNotFound, purchase_request_outcome

    deadline = time.monotonic() + timeout
    while True:
        try:
            outcome = purchase_request_outcome(request_id=request_id, user_id=user_id)
        except RequestNotFound:  # the first request has not written its record yet
            outcome = Outcome(code="pending", detail="The first request with this key is being processed.",
                              request_id=request_id, user_id=user_id)
        if outcome.is_final or time.monotonic() >= deadline:
            return outcome
        time.sleep(0.02)


def _remember_refusal(fields: dict, error: SeckillError) -> None:
    try:  # one write, never pending: the sweeper must not pick a refused request up
        redis_store.request_create_decided(
            **fields, created=time.time(), outcome=Outcome.from_error(error, **fields).as_dict()
        )
    except BROKER_ERRORS:
        pass


def _refuse_unsent(fields: dict) -> None:
    """A request we answer 503 must never sell later: its message may have reached the broker after all."""
    outcome = Outcome.from_error(Unavailable(), **fields).as_dict()
    try:
        decision = redis_store.refuse(**fields, code=Unavailable.code)
        if decision != Unavailable.code:
            return  # the message reached a worker after all, which decided it: the task records its outcome
        redis_store.request_set_outcome(
            request_id=fields["request_id"], outcome=outcome, admitted_for=fields["product_id"]
        )
    except BROKER_ERRORS:
        pass  # Redis is down: then the message did not reach the broker (the same Redis) either


# --- logic layer ------------------------------------------------------------------------------------------
def purchase_process(*, request_id: str, user_id: int, product_id: int, quantity: int, record: bool = True) -> Outcome:
    """Decide one purchase and record the outcome. Safe to run twice, or at once, for the same request id.

    Writes the order and the ledger's stock in one transaction whose last step decides the sale in Redis
    (sell.lua, which makes every decision final): it commits only if Redis sold. A refusal by the ledger is made
    final in Redis too. Transient database or Redis errors propagate for the task to retry; `purchase_abandon`
    compensates when the retries run out. Anything else is logged and the request refused for good
    (`internal_error`), unless Redis sold it: then the error propagates and the request stays pending for the
    sweeper to run again. `record=False`: the caller records the outcome (the task, whose result backend stores
    it with the result: seckill_site/result_backend.py).
    """
    fields = dict(request_id=request_id, product_id=product_id, user_id=user_id, quantity=quantity)
    try:
        outcome = _purchase_decide(**fields)
    except TRANSIENT_ERRORS:
        raise
    except Exception:
        logger.exception("purchase %s failed", request_id)
        decision = redis_store.refuse(**fields, code=InternalError.code)
        if decision == redis_store.SOLD:  # sold in Redis, maybe not in the ledger: never given up
            raise
        outcome = Outcome.from_error(error_for_code(decision), **fields)
    if record:
        _record(outcome)
    return outcome


def _record(outcome: Outcome) -> None:
    """The decision is made: keep its outcome for the result endpoint and free its admission slot."""
    redis_store.request_set_outcome(
        request_id=outcome.request_id, outcome=outcome.as_dict(), admitted_for=outcome.product_id
    )


class _Refused(Exception):
    """Redis refused the sale (sell.lua): its decision, final already."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class _NotLoaded(Exception):
    """The product is not in Redis: nothing was decided."""


def _purchase_decide(*, request_id: str, user_id: int, product_id: int, quantity: int) -> Outcome:
    fields = dict(request_id=request_id, product_id=product_id, user_id=user_id, quantity=quantity)
    try:
        try:
            order_id = _order_write(**fields)
        except _NotLoaded:
            stock_gate_load(product_id=product_id)
            order_id = _order_write(**fields)
    except _Refused as refusal:
        return Outcome.from_error(error_for_code(refusal.code), **fields)
    except (SoldOut, AlreadyPurchased, UserInactive, ProductNotFound) as error:  # the ledger's: Redis not asked
        # Final in Redis too. A sale Redis decided for this request (an earlier run's commit failed, then the
        # ledger changed) is undone: its order was never written, its units and buyer entry go back.
        decision = redis_store.refuse(**fields, code=error.code, ledger_refused=True)
        if isinstance(error, AlreadyPurchased):  # the ledger knows the buyer's order: let the gate know it too
            held_by = Order.objects.filter(user_id=user_id, product_id=product_id, status=Order.Status.CONFIRMED)
            redis_store.buyer_remember(
                product_id=product_id, user_id=user_id, request_id=held_by.values_list("request_id", flat=True)[0]
            )
        return Outcome.from_error(error_for_code(decision), **fields)  # (an earlier refusal's code, if any)
    return Outcome.success(order_id=order_id, **fields)


def _order_write(*, request_id: str, user_id: int, product_id: int, quantity: int) -> int:
    """Write the order and take the stock from the ledger, then decide the sale in Redis (sell.lua), in one
    transaction: it commits only if Redis sold, now or before (a run whose commit failed). Returns the order's
    id (the existing order's on a replay).

    One round trip to Redis, made with the ledger's lock held (the product's row on PostgreSQL, the database on
    SQLite). Two statements on the usual path, one on PostgreSQL (`_ledger_sell`); only when they sell nothing
    are the reasons looked up.
    Raises UserInactive, ProductNotFound, SoldOut, AlreadyPurchased (the ledger's refusals; Redis not asked),
    _Refused (Redis' refusal, final), _NotLoaded, or a transient error.
    """
    try:
        with transaction.atomic():
            order_id = _ledger_sell(request_id=request_id, user_id=user_id, product_id=product_id, quantity=quantity)
            if order_id is None:
                # A concurrent delivery of this same request may have taken the last units: that is a sale.
                existing = Order.objects.filter(request_id=request_id).values_list("pk", flat=True).first()
                if existing is not None:
                    return existing
                if not get_user_model().objects.filter(pk=user_id, is_active=True).exists():
                    raise UserInactive()
                if not Product.objects.filter(pk=product_id).exists():
                    raise ProductNotFound()
                raise SoldOut()
            # Last step before the commit: Redis decides (a request given up meanwhile is refused there).
            result, _ = redis_store.sell(
                request_id=request_id, user_id=user_id, product_id=product_id, quantity=quantity
            )
            if result is Sell.NOT_LOADED:
                raise _NotLoaded()
            if result not in (Sell.SOLD, Sell.AGAIN):
                raise _Refused(result)
            return order_id
    except IntegrityError:
        existing = Order.objects.filter(request_id=request_id).values_list("pk", flat=True).first()
        if existing is not None:  # an earlier or concurrent delivery of the same request wrote it
            return existing
        if Order.objects.filter(user_id=user_id, product_id=product_id, status=Order.Status.CONFIRMED).exists():
            raise AlreadyPurchased() from None
        raise


_LEDGER_SQL: dict[str, tuple[str, str, str | None]] = {}


def _ledger_sql() -> tuple[str, str, str | None]:
    """The two statements of a sale, for this database (built once from the models' table and column names),
    and on PostgreSQL the same as one statement (the UPDATE in a WITH, the INSERT reading its RETURNING): one
    round trip to the server instead of two, with the product's row lock held that much shorter."""
    vendor = connection.vendor
    if vendor not in _LEDGER_SQL:
        q = connection.ops.quote_name
        user_model = get_user_model()
        product, order, user = Product._meta, Order._meta, user_model._meta
        stock, price = q(product.get_field("stock_left").column), q(product.get_field("price").column)
        take = (
            f"UPDATE {q(product.db_table)} SET {stock} = {stock} - %s "
            f"WHERE {q(product.pk.column)} = %s AND {stock} >= %s AND EXISTS (SELECT 1 FROM {q(user.db_table)} "
            f"WHERE {q(user.pk.column)} = %s AND {q(user.get_field('is_active').column)} = %s)"
        )
        columns = ", ".join(q(order.get_field(name).column) for name in (
            "request_id", "user", "product", "quantity", "unit_price", "status", "created_at"))
        insert = (
            f"INSERT INTO {q(order.db_table)} ({columns}) SELECT %s, %s, %s, %s, {price}, %s, %s "
            f"FROM {q(product.db_table)} WHERE {q(product.pk.column)} = %s"
        )
        if connection.features.can_return_columns_from_insert:
            insert += f" RETURNING {q(order.pk.column)}"
        combined = None
        if vendor == "postgresql":
            combined = (
                f"WITH taken AS ({take} RETURNING {price}) INSERT INTO {q(order.db_table)} ({columns}) "
                f"SELECT %s, %s, %s, %s, taken.{price}, %s, %s FROM taken RETURNING {q(order.pk.column)}"
            )
        _LEDGER_SQL[vendor] = (take, insert, combined)
    return _LEDGER_SQL[vendor]


def _ledger_sell(*, request_id: str, user_id: int, product_id: int, quantity: int) -> int | None:
    """Take `quantity` units from the ledger's stock, if there are that many and the buyer is active, and insert
    the order at the product's current price. Returns the new order's id, or None when nothing was taken.

    Plain SQL (one statement on PostgreSQL: `_ledger_sql`), because the ORM spent 1.2 ms of CPU building these
    two queries, 15 times what running them costs (and the logic layer runs them for every sale). Must run
    inside the caller's transaction. The ORM's rules still hold: the unique constraints raise IntegrityError,
    the timestamp is stored as the ORM stores it.
    """
    take, insert, combined = _ledger_sql()
    created_at = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        if combined is not None:
            cursor.execute(combined, [quantity, product_id, quantity, user_id, True,
                                      request_id, user_id, product_id, quantity, Order.Status.CONFIRMED, created_at])
            row = cursor.fetchone()
            return None if row is None else row[0]
        cursor.execute(take, [quantity, product_id, quantity, user_id, True])
        if cursor.rowcount != 1:
            return None
        cursor.execute(insert, [request_id, user_id, product_id, quantity, Order.Status.CONFIRMED, created_at,
                                product_id])
        if connection.features.can_return_columns_from_insert:
            return cursor.fetchone()[0]
        return cursor.lastrowid


def purchase_abandon(*, request_id: str, user_id: int, product_id: int, quantity: int, record: bool = True) -> Outcome:
    """Give a request up (its task's retries are spent, or it waited too long): refuse it for good, unless it is
    decided already: a sale is a success, an earlier refusal stands. Records (unless `record=False`, as in
    purchase_process) and returns the outcome. A task still running for it can no longer sell (sell.lua finds
    the refusal and its transaction rolls back).

    A sale decided in Redis whose order is not in the ledger (yet) cannot be given up: its commit may be under
    way, or it failed and must be written by running the request again (idempotent). Then nothing is recorded,
    the request stays pending for the sweeper (`purchase_requests_sweep` enqueues it again) and the outcome
    returned is `pending`."""
    fields = dict(request_id=request_id, product_id=product_id, user_id=user_id, quantity=quantity)
    decision = redis_store.refuse(**fields, code=Unavailable.code)
    order = Order.objects.filter(request_id=request_id).first()
    if order is not None:
        outcome = Outcome.success(order_id=order.pk, **fields)
    elif decision == redis_store.SOLD:
        return Outcome.pending(**fields)
    else:
        outcome = Outcome.from_error(error_for_code(decision), **fields)
    if record:
        _record(outcome)
    return outcome


# --- lost messages ----------------------------------------------------------------------------------------
def purchase_requests_sweep(*, older_than_s: float, give_up_after_s: float, limit: int = 1000) -> dict:
    """Find purchase requests that have waited `older_than_s` without an outcome and enqueue them again.

    The Redis transport can lose a message for good (a worker killed between pop and unacked bookkeeping) and
    brings an unacknowledged one back only after the visibility timeout (TRAPS.md). Running a request again is
    safe: the task is idempotent per request id and its decision final. While the purchase queue still holds
    messages, a request may just be waiting in it, so only then are requests swept that a task already decided
    (sold, or refused: their message was taken). After `give_up_after_s` a request is abandoned instead
    (`purchase_abandon`). Returns counts.
    """
    from seckill.tasks import purchase_task

    now = time.time()
    backlog = purchase_queue_length() > 0
    counts = {"requeued": 0, "abandoned": 0, "dropped": 0, "waiting": 0}
    for request_id, _ in redis_store.requests_pending_since(now - older_than_s, limit):
        record = redis_store.request_get(request_id)
        if record is None or record.outcome is not None:  # expired, or decided meanwhile
            redis_store.request_forget_pending(request_id)
            counts["dropped"] += 1
            continue
        fields = dict(
            request_id=request_id, user_id=record.user_id, product_id=record.product_id, quantity=record.quantity
        )
        if now - record.created > give_up_after_s and purchase_abandon(**fields).is_final:
            counts["abandoned"] += 1
            continue  # (not final: sold in Redis, not in the ledger: enqueued again below, never given up)
        if backlog and redis_store.decision_get(product_id=record.product_id, request_id=request_id) is None:
            counts["waiting"] += 1  # probably still in the queue: look again next time
            continue
        # Not again before another `older_than_s`: a long backlog must not be multiplied by each sweep.
        redis_store.request_touch_pending(request_id, now)
        purchase_task.apply_async(kwargs=fields, task_id=request_id)
        counts["requeued"] += 1
    if counts["requeued"] or counts["abandoned"]:
        logger.warning("sweep of pending purchase requests: %s", counts)
    return counts


def purchase_queue_length() -> int:
    """Messages waiting in the purchase queue of the broker."""
    from seckill_site.celery import app

    with app.connection_for_read() as connection:
        try:
            return connection.default_channel.queue_declare(queue=PURCHASE_QUEUE, passive=True).message_count
        except amqp.exceptions.ChannelError:  # the Redis transport's way of saying "empty": no list at all
            return 0


# --- the stock gate ---------------------------------------------------------------------------------------
def stock_gate_load(*, product_id: int) -> bool:
    """Write the product's window into Redis and, if Redis holds no live counter, its stock and buyers.

    Never overwrites a live counter (load.lua). Raises ProductNotFound. Returns True if stock was loaded.
    """
    product = product_get(product_id=product_id)
    live_buyers = Order.objects.filter(product_id=product_id, status=Order.Status.CONFIRMED).values_list(
        "user_id", "request_id"
    )
    return redis_store.load_product(
        product_id=product.pk,
        stock_left=product.stock_left,
        enabled=product.is_enabled,
        start_time=product.start_time,
        end_time=product.end_time,
        per_user_limit=product.per_user_limit,
        live_buyers=list(live_buyers),
    )


def stock_gate_change_total(*, product: Product, stock_total: int) -> Product:
    """Set a product's total stock by applying the difference to the ledger and the live counter as a delta.

    Adding stock: the ledger first, then the gate (a crash in between undersells, never oversells).
    Removing stock: the gate first, because only units it has not sold can go; then the ledger.
    Raises StockConflict when more units would go than are unsold. Returns the refreshed product.
    """
    delta = stock_total - product.stock_total
    if delta == 0:
        return product
    if stock_total < 0:
        raise StockConflict("Stock cannot be negative.")

    gate_result = AdjustResult.NOT_LOADED
    if delta < 0:
        gate_result, gate_stock = redis_store.adjust_stock(product_id=product.pk, delta=delta)
        if gate_result is AdjustResult.INSUFFICIENT:
            raise StockConflict(f"Only {gate_stock} unsold units can be removed.")
    try:
        with transaction.atomic():
            # Only if nobody changed the total since `product` was read: two edits from 10 to 15 must not make 20.
            updated = Product.objects.filter(
                pk=product.pk, stock_total=product.stock_total, stock_left__gte=max(0, -delta)
            ).update(stock_total=F("stock_total") + delta, stock_left=F("stock_left") + delta)
            if not updated:
                raise StockConflict("The stock changed meanwhile, or more units would go than are unsold.")
            if delta > 0:
                transaction.on_commit(lambda: _gate_add(product.pk, delta))
    except Exception:
        if gate_result is AdjustResult.APPLIED:
            redis_store.adjust_stock(product_id=product.pk, delta=-delta)
        raise
    product.refresh_from_db()
    return product


def _gate_add(product_id: int, delta: int) -> None:
    try:
        result, _ = redis_store.adjust_stock(product_id=product_id, delta=delta)
        if result is AdjustResult.NOT_LOADED:
            stock_gate_load(product_id=product_id)  # reads the ledger, which already holds the delta
    except BROKER_ERRORS:
        # The ledger has the units, the gate not: the sale undersells (never oversells) until someone
        # reconciles. Loud, because only a person can tell whether to add them again.
        logger.error("product %s: %+d units committed but not added to the Redis gate", product_id, delta)
