"""Web side: the admission gate between the access layer and the logic layer.

At most ceil(stock_left * SECKILL_ADMISSION_FACTOR) requests per product (per bucket of it) are in flight to the
logic layer; the rest are answered `busy` (or `sold_out`) at once. Admitting a request also records it (the
sweeper knows it from then on) and, when given, counts its rate limits: one Redis round trip (admit.lua).
"""

from __future__ import annotations

import time

from django.conf import settings

from products.errors import ProductNotFound
from products.models import AntiBot
from seckill.access import guards
from seckill.antibot.errors import PathUsed
from seckill.antibot.paths import path_token_check
from seckill.errors import BROKER_ERRORS, AlreadyPurchased, Busy, SoldOut, redis_refused_write
from seckill.gate import admissions, buckets, keys, records, sync
from seckill.gate import stock as gate
from seckill.gate.access_state import RateRules
from seckill.purchases.outcomes import Outcome
from seckill.purchases.request import PurchaseRequest
from seckill.purchases.sale_cache import sale_cache_mark_short, sale_state_get
from seckill_site.errors import Unavailable


class AdmissionUnknown(Exception):
    """Redis failed the admission's call in a way that may hide its effect (a lost reply): the request (`purchase`,
    under the id it was admitted with) may be admitted and recorded, and the sweeper would then find it."""

    def __init__(self, purchase: PurchaseRequest):
        super().__init__(purchase.request_id)
        self.purchase = purchase


def purchase_admit(purchase: PurchaseRequest, *, rate_limits: RateRules = ()) -> PurchaseRequest:
    """Count the request's rate limits, take one of the product's admission slots and record the request.
    Returns the purchase as admitted: for a product in buckets, under a new id naming the bucket that admitted it
    (the buyer's own bucket first, then the others in turn while they are sold out: `sold_out` only when every
    bucket is). A product sold through purchase paths (its anti_bot) spends the request's path in the step that
    admits it. Raises the path's refusals (seckill/antibot/errors.py; nothing counted), RateLimited (nothing
    admitted), SoldOut, AlreadyPurchased (the gate knows the buyer's sale), PathUsed, Busy (retry later: every
    slot taken, or the product's admissions a second reached), ProductNotFound, Unavailable (Redis refused it:
    nothing admitted), AdmissionUnknown (maybe admitted)."""
    state = sale_state_get(product_id=purchase.product_id)
    n = state.buckets
    first, sold_out = buckets.home(purchase.user_id, n), False
    path, held_by, answer = path_to_spend(purchase, state, first), None, None
    try:
        for i in range(n):
            b = (first + i) % n
            if n > 1:  # (the id was made for bucket 0)
                purchase = purchase.with_request_id(keys.request_id_new(purchase.product_id, b))
            # The rate limits count once, with the first bucket asked.
            answer, retry_after_ms, breached = _admit_here(
                purchase, rate_limits if i == 0 else (), pace=state.pace_share(b), path=path
            )
            if answer == "sold_out" and path is not None and path.held_when_sold_out and b == path.bucket:
                held_by = purchase.request_id  # (its home bucket holds the path while the others are asked)
            sold_out = sold_out or answer == "sold_out"
            if answer not in ("sold_out", "not_loaded"):  # (a bucket the gate does not have: the next)
                break
    except AdmissionUnknown:  # (the request may be admitted: its path stays spent)
        held_by = None
        raise
    finally:
        if held_by is not None and answer != "admitted":  # no bucket admitted it, or one failed
            _path_give_back(purchase.product_id, path, held_by)
    if answer == "not_loaded" and sold_out:
        answer = "sold_out"
    if answer == "rate_limited":
        guards.rate_limit_refuse(rate_limits, retry_after_ms=retry_after_ms, breached=breached)
    if answer == "sold_out":
        sale_cache_mark_short(purchase.product_id, purchase.quantity)
        raise SoldOut()
    if answer == "already_purchased":
        raise AlreadyPurchased()
    if answer == "path_used":
        raise PathUsed()
    if answer == "busy":
        raise Busy(retry_after=max(1, -(-retry_after_ms // 1000)))
    if answer != "admitted":
        raise ProductNotFound()
    return purchase


def path_to_spend(purchase: PurchaseRequest, state: gate.SaleState, home: int) -> admissions.PathSpend | None:
    """The request's purchase path, checked, if the product is sold through paths (spent in bucket `home`: the
    buyer's). Raises the path's refusals."""
    if state.anti_bot == AntiBot.OFF:
        return None
    claim = path_token_check(
        purchase.path, user_id=purchase.user_id, product_id=purchase.product_id, now_ms=int(time.time() * 1000)
    )
    return admissions.PathSpend(claim.nonce, claim.expires_ms, bucket=home, held_when_sold_out=state.buckets > 1)


def _path_give_back(product_id: int, path: admissions.PathSpend, held_by: str) -> None:
    try:
        admissions.path_give_back(product_id=product_id, path=path, held_by=held_by)
    except BROKER_ERRORS:  # it expires with the path: the buyer takes a new one
        pass


def _admit_here(
    purchase: PurchaseRequest, rate_limits: RateRules, *, pace: int | None, path: admissions.PathSpend | None
) -> tuple[str, int, int]:
    """admit.lua in the bucket the request id names (the product loaded first if Redis does not have it)."""
    call = dict(
        **purchase.task_kwargs(),
        created=time.time(),
        factor=settings.SECKILL_ADMISSION_FACTOR,
        slot_ms=int(settings.SECKILL_ADMISSION_SLOT_TTL * 1000),
        rate_limits=rate_limits,
        pace=pace,
        path=path,
    )
    try:
        answer, retry_after_ms, breached = admissions.admit(**call)
        if answer == "not_loaded":  # (nothing counted then)
            sync.stock_gate_load(product_id=purchase.product_id)
            answer, retry_after_ms, breached = admissions.admit(**call)
    except BROKER_ERRORS as exc:
        if redis_refused_write(exc):  # full or read-only: refused at its first write, nothing admitted
            raise Unavailable() from exc
        raise AdmissionUnknown(purchase) from exc
    return answer, retry_after_ms, breached


def purchase_refuse_unsent(purchase: PurchaseRequest) -> str | None:
    """Refuse for good a request whose message may not have reached the broker, so that it can be answered 503
    (nothing sold, and nothing ever will be): its message may have reached the broker after all, or Redis ran
    the admission and lost only its reply (then a pending record exists for the sweeper).
    Returns the decision in force (`unavailable` when this refused it; SOLD or another code when a worker had
    decided it already: then it must be answered with that decision, not 503), None when Redis could not
    confirm the refusal (down, full): then the request may still sell, and must not be answered 503."""
    outcome = Outcome.from_error(Unavailable(), purchase).as_dict()
    try:
        decision = gate.refuse(**purchase.task_kwargs(), code=Unavailable.code)
        if decision == Unavailable.code:
            records.request_set_outcome(
                product_id=purchase.product_id, request_id=purchase.request_id, outcome=outcome, free_slot=True
            )
        return decision
    except BROKER_ERRORS:
        return None
