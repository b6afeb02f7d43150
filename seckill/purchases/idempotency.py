"""Web side: Idempotency-Keys. The same key from the same buyer gets the first request's outcome (the same
request id, the same order) for SECKILL_IDEMPOTENCY_TTL, instead of a second attempt; a "try again" answer frees
the key for a new attempt."""

from __future__ import annotations

import logging
import re
import time

from django.conf import settings

from seckill.errors import BROKER_ERRORS
from seckill.gate import records
from seckill.purchases.outcomes import Outcome
from seckill.purchases.request import PurchaseRequest
from seckill.purchases.selectors import RequestNotFound, purchase_request_outcome
from seckill_site.errors import InvalidRequest, SeckillError, Unavailable

logger = logging.getLogger(__name__)

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


def idempotency_key_check(key: str) -> None:
    """Raises InvalidRequest for a key that is not 1 to 64 of A-Z a-z 0-9 _ . : -"""
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise InvalidRequest(errors={"Idempotency-Key": ["1 to 64 letters, digits or _ . : -"]})


def idempotency_claim(*, user_id: int, key: str, request_id: str) -> str | None:
    """Bind the key to `request_id`: None if it was free, else the request id it is bound to. Raises Unavailable."""
    try:
        return records.idempotency_claim(
            user_id=user_id, key=key, request_id=request_id, ttl_s=settings.SECKILL_IDEMPOTENCY_TTL
        )
    except BROKER_ERRORS as exc:
        raise Unavailable() from exc


# A request records itself within moments of claiming its key (its admission); a key whose request has no record
# this long after the claim belongs to a request that was never admitted (Redis failed it and could not confirm
# the refusal either, so it was answered `pending`): nothing sold, and the key must let a new attempt in.
NEVER_RECORDED_AFTER_S = 30


def idempotency_first_never_recorded(*, user_id: int, key: str, request_id: str) -> bool:
    """Whether the key's first request (`request_id`) never got a record: it was never admitted. Raises
    Unavailable."""
    try:
        claimed_ago = records.idempotency_claimed_ago(user_id=user_id, key=key, ttl_s=settings.SECKILL_IDEMPOTENCY_TTL)
        return (
            claimed_ago is not None and claimed_ago > NEVER_RECORDED_AFTER_S and records.request_get(request_id) is None
        )
    except BROKER_ERRORS as exc:
        raise Unavailable() from exc


def idempotency_follow(*, user_id: int, key: str, request_id: str, admitted_id: str) -> None:
    """The key names the request under the id it was admitted with (a bucket's), if it still named its first id
    (best effort: a replay that finds the first id sees it never recorded, and is let through after a while)."""
    try:
        records.idempotency_rebind(user_id=user_id, key=key, request_id=request_id, new_request_id=admitted_id)
    except BROKER_ERRORS:
        logger.warning("could not move the Idempotency-Key of user %s to %s", user_id, admitted_id)


def idempotency_release(*, user_id: int, key: str, request_id: str) -> None:
    """Free the key if it still names `request_id` (best effort: the key lapses by itself)."""
    try:
        records.idempotency_release(user_id=user_id, key=key, request_id=request_id)
    except BROKER_ERRORS:
        logger.warning("could not free Idempotency-Key of user %s", user_id)


def outcome_await(*, request_id: str, user_id: int, timeout: float, key: str | None = None) -> Outcome:
    """The outcome of an earlier request of this buyer, polling its record up to `timeout` seconds. With the
    Idempotency-Key that named it: followed to the id the key names while that request has no record (a request
    of a product in buckets is admitted under its bucket's id, and the key moves to it)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            outcome = purchase_request_outcome(request_id=request_id, user_id=user_id)
        except RequestNotFound:  # the first request has not written its record yet
            if key is not None:
                request_id = _bound_now(user_id=user_id, key=key) or request_id
            outcome = Outcome(
                code="pending",
                detail="The first request with this key is being processed.",
                request_id=request_id,
                user_id=user_id,
            )
        if outcome.is_final or time.monotonic() >= deadline:
            return outcome
        time.sleep(0.02)


def _bound_now(*, user_id: int, key: str) -> str | None:
    try:
        return records.idempotency_bound(user_id=user_id, key=key)
    except BROKER_ERRORS as exc:
        raise Unavailable() from exc


def refusal_remember(purchase: PurchaseRequest, error: SeckillError) -> None:
    """Record a refusal made before the broker, so that replays of the key get it too (never pending: the
    sweeper must not pick it up). Best effort."""
    try:
        records.request_create_decided(
            **purchase.task_kwargs(), created=time.time(), outcome=Outcome.from_error(error, purchase).as_dict()
        )
    except BROKER_ERRORS:
        pass
