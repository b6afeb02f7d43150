"""Web side: a purchase request, from the HTTP request to the logic layer's answer.

    checked (purchase_request_check: guards, input) -> sale state (sale_cache) -> rate limits (guards)
    -> admission + record (admission) -> enqueue + wait (enqueue)

Where the rate limit is counted is decided here: a request this process can refuse from its cached sale state
(sold out, outside the window) is refused before any Redis call and spends none of the buyer's budget; one
that passes counts its limits in the admission's round trip. A product this process has not cached, or a
request with an Idempotency-Key (maybe a replay, which must reach its first outcome), is limited first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from seckill.access import guards
from seckill.antibot.errors import PathRefused
from seckill.draws.outcomes import EntryAnswer
from seckill.gate import keys
from seckill.gate.access_state import RateRules
from seckill.purchases import idempotency
from seckill.purchases.admission import AdmissionUnknown, purchase_admit, purchase_refuse_unsent
from seckill.purchases.enqueue import purchase_enqueue, purchase_wait
from seckill.purchases.entries import entry_submit
from seckill.purchases.outcomes import Outcome
from seckill.purchases.request import PurchaseRequest
from seckill.purchases.sale_cache import sale_check, sale_check_cached, sale_state_get
from seckill_site.errors import RateLimited, SeckillError, Unavailable
from seckill_site.log_context import request_id_bound

logger = logging.getLogger(__name__)


def purchase_request_check(*, user_id: int, meta: dict, read_input: Callable[[], dict]) -> PurchaseRequest:
    """The request, checked as far as it can be without the sale's state: who may ask, from where (the guards:
    origin, blacklists), then what (`read_input()`: product_id and quantity), with an Idempotency-Key of the right
    form (and maybe a purchase path, checked at admission). The one check of the answers before DRF and of the DRF
    view. Raises ForbiddenOrigin, UserInactive,
    Blacklisted, Unavailable, InvalidRequest, and what `read_input` raises."""
    ip = guards.purchase_guard(user_id=user_id, meta=meta)
    fields = read_input()
    key = meta.get("HTTP_IDEMPOTENCY_KEY")
    if key is not None:
        idempotency.idempotency_key_check(key)
    product_id = fields["product_id"]
    request_id = keys.request_id_new(product_id)
    return PurchaseRequest(request_id, user_id, product_id, fields["quantity"], ip, key, fields.get("path"))


def purchase_submit(purchase: PurchaseRequest, *, timeout: float) -> Outcome | EntryAnswer:
    """Hand a checked purchase request to the logic layer and wait up to `timeout` seconds for the decision.

    Returns the task's Outcome for this request id only, or a `pending` Outcome when the wait times out (the
    task goes on; GET result_url gives the decision later). With an Idempotency-Key, a buyer's repeated
    request gets the first one's outcome (the same request id, the same order) instead of a second attempt.
    Raises ProductNotFound, SaleNotStarted, SaleEnded, SaleDisabled, SoldOut, AlreadyPurchased, InvalidRequest,
    a path's refusals (a product sold through paths: checked after the sale's, spent only by an admission; a
    keyed replay is answered before its path is looked at), Busy, RateLimited before anything is enqueued, and
    Unavailable when Redis or the broker cannot take the request and nothing was, or ever will be, sold for it.
    A request Redis may have admitted whose refusal it cannot confirm (it went down meanwhile) is answered
    `pending` instead: the sweeper may still run it once Redis is back. A publish that failed after the broker
    took the message is answered with the worker's decision. No database query on this path once the product is
    in Redis. A product sold by draw takes the request as the buyer's entry instead (entries.py): `entered` at
    once, no broker message, whatever its stock; with or without an Idempotency-Key, a repeat answers the entry.
    """
    if purchase.idempotency_key is not None:
        return _submit_keyed(purchase, timeout)
    if sale_check_cached(product_id=purchase.product_id, quantity=purchase.quantity):  # most end here, refused
        rate_limits = guards.rate_limit_rules(user_id=purchase.user_id, ip=purchase.ip)
    else:
        guards.rate_limit_check(user_id=purchase.user_id, ip=purchase.ip)
        sale_check(product_id=purchase.product_id, quantity=purchase.quantity)
        rate_limits = []
    return _admit_enqueue_wait(purchase, timeout, rate_limits)


def _submit_keyed(purchase: PurchaseRequest, timeout: float) -> Outcome | EntryAnswer:
    user_id, key = purchase.user_id, purchase.idempotency_key
    guards.rate_limit_check(user_id=user_id, ip=purchase.ip)
    if sale_state_get(product_id=purchase.product_id).is_draw:  # an entry is the buyer's own: the key adds nothing
        sale_check(product_id=purchase.product_id, quantity=purchase.quantity)
        return _admit_enqueue_wait(purchase, timeout)
    first = idempotency.idempotency_claim(user_id=user_id, key=key, request_id=purchase.request_id)
    if first is not None:
        try:
            outcome = idempotency.outcome_await(request_id=first, user_id=user_id, timeout=timeout, key=key)
            first = outcome.request_id or first  # (the id the key names now: in a bucketed product, its request's)
            given_up = outcome.code == Unavailable.code or (
                not outcome.is_final
                and idempotency.idempotency_first_never_recorded(user_id=user_id, key=key, request_id=first)
            )
        except Unavailable:  # the first request's outcome cannot be read now: it may be sold, so never 503
            return Outcome.pending(purchase.with_request_id(first))
        if not given_up:
            return outcome
        # The first request was given up and sold nothing (a request that may still sell is never recorded
        # `unavailable`), or was never admitted: "try again" must let this retry through, not repeat itself
        # for the key's lifetime.
        idempotency.idempotency_release(user_id=user_id, key=key, request_id=first)
        first = idempotency.idempotency_claim(user_id=user_id, key=key, request_id=purchase.request_id)
        if first is not None:  # a concurrent retry with this key claimed it first: its outcome is ours
            return idempotency.outcome_await(request_id=first, user_id=user_id, timeout=timeout, key=key)
    try:
        sale_check(product_id=purchase.product_id, quantity=purchase.quantity)
        return _admit_enqueue_wait(purchase, timeout)
    except (RateLimited, Unavailable, PathRefused):  # "try again" answers (Busy too; a new path): the key must
        # let the retry through
        idempotency.idempotency_release(user_id=user_id, key=key, request_id=purchase.request_id)
        raise
    except SeckillError as error:  # refused before the broker: replays of the key must get this answer too
        idempotency.refusal_remember(purchase, error)
        raise
    except Exception:
        idempotency.idempotency_release(user_id=user_id, key=key, request_id=purchase.request_id)
        raise


def _admit_enqueue_wait(
    purchase: PurchaseRequest, timeout: float, rate_limits: RateRules = ()
) -> Outcome | EntryAnswer:
    state = sale_state_get(product_id=purchase.product_id)  # (cached: the checks read it)
    if state.is_draw:  # an entry, answered at once: no admission, no broker message
        return entry_submit(purchase, state, rate_limits)
    with request_id_bound(purchase.request_id):  # every log line of this request names it
        return _admitted_enqueued_awaited(purchase, timeout, rate_limits)


def _admitted_enqueued_awaited(purchase: PurchaseRequest, timeout: float, rate_limits: RateRules) -> Outcome:
    try:
        # Writes the record: from here the sweeper knows it. In a bucketed product, under another id.
        admitted = purchase_admit(purchase, rate_limits=rate_limits)
    except AdmissionUnknown as exc:  # Redis may have run the admission and lost only its reply
        logger.warning("purchase %s: admission unconfirmed: %s", exc.purchase.request_id, exc.__cause__)
        _key_follows(purchase, exc.purchase)
        return _unsent_answer(exc.purchase, timeout)
    _key_follows(purchase, admitted)
    purchase = admitted
    try:
        async_result = purchase_enqueue(purchase)
    except Exception as exc:  # the broker, or the result backend subscribing before the publish
        logger.warning("purchase %s not enqueued: %r", purchase.request_id, exc)
        return _unsent_answer(purchase, timeout)
    return purchase_wait(async_result, purchase, timeout=timeout)


def _key_follows(purchase: PurchaseRequest, admitted: PurchaseRequest) -> None:
    """The Idempotency-Key names the request under the id it was admitted with (a bucket's), so that a replay of
    the key finds its record."""
    if purchase.idempotency_key is not None and admitted.request_id != purchase.request_id:
        idempotency.idempotency_follow(
            user_id=purchase.user_id,
            key=purchase.idempotency_key,
            request_id=purchase.request_id,
            admitted_id=admitted.request_id,
        )


def _unsent_answer(purchase: PurchaseRequest, timeout: float) -> Outcome:
    """The answer to a request that may be admitted but whose message may not have reached the broker. 503 only
    once it is refused for good; `pending` when Redis cannot confirm that (the sweeper runs its record again when
    Redis is back, and result_url then tells the decision, or 404: it was never admitted, nothing was sold)."""
    decision = purchase_refuse_unsent(purchase)
    if decision == Unavailable.code:
        raise Unavailable()
    if decision is None:
        return Outcome.pending(purchase)
    # The message reached the broker after all and a worker decided it: answer that decision (or `pending`, if
    # it cannot be read now: never 503, the request may be sold).
    try:
        outcome = idempotency.outcome_await(request_id=purchase.request_id, user_id=purchase.user_id, timeout=timeout)
    except Unavailable:
        return Outcome.pending(purchase)
    return outcome if outcome.is_final else Outcome.pending(purchase)
