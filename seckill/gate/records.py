"""Purchase request records (owner, outcome), the pending sets the sweeper reads, and Idempotency-Keys.

A record and its product's pending set are in the product's key slot, of the bucket its id names (keys.py); the
pending sets are read per product and bucket, for the products whose sale is recent enough to have requests
still kept (`pending_products`).
"""

from __future__ import annotations

import heapq
import json
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from seckill.gate import buckets as product_buckets
from seckill.gate import keys
from seckill.gate.client import get_client, script


@dataclass(frozen=True)
class RequestRecord:
    request_id: str
    user_id: int
    product_id: int
    quantity: int
    created: float
    outcome: dict | None


def request_create_decided(
    *, request_id: str, user_id: int, product_id: int, quantity: int, created: float, outcome: dict
) -> None:
    """The record of a request refused before the broker: created with its outcome, never pending.
    (An admitted request's record is written by the admission: admissions.admit.)"""
    key = keys.request(product_id, request_id)
    pipe = get_client().pipeline(transaction=True)
    pipe.hset(
        key,
        mapping={
            "user_id": user_id,
            "product_id": product_id,
            "quantity": quantity,
            "created": created,
            "outcome": json.dumps(outcome),
        },
    )
    pipe.expire(key, settings.SECKILL_REQUEST_TTL)
    pipe.execute()


def request_set_outcome(
    *,
    product_id: int,
    request_id: str,
    outcome: dict,
    free_slot: bool = False,
    task_result: tuple[bytes | str, bytes | str, int] | None = None,
) -> None:
    """Record the outcome (no longer pending); with `free_slot`, free its admission slot too, in the same step
    (outcome.lua). `task_result` = (key, encoded meta, ttl s) is the Celery result to store in the same step
    (seckill/worker/outcome_record.py, when the result backend's Redis database is the gate's); needs
    `free_slot`."""
    b = keys.request_bucket(request_id)
    record_keys = [keys.request(product_id, request_id), keys.pending(product_id, b)]
    args = [request_id, json.dumps(outcome), settings.SECKILL_REQUEST_TTL]
    if free_slot:
        record_keys.append(keys.admitted(product_id, b))
        if task_result is not None:
            record_keys.append(task_result[0])
            args += [task_result[1], task_result[2]]
    elif task_result is not None:
        raise ValueError("task_result needs free_slot")
    script("outcome")(keys=record_keys, args=args)


def request_get(request_id: str, product_id: int | None = None) -> RequestRecord | None:
    """The request's record; its product is the one its id names unless given. None if Redis has none."""
    if product_id is None:
        product_id = keys.request_id_product(request_id)
        if product_id is None:
            return None
    data = get_client().hgetall(keys.request(product_id, request_id))
    outcome = json.loads(data["outcome"]) if "outcome" in data else None
    # A record Redis lost (a failover to a replica that had not received it) and the decision wrote again holds
    # the outcome alone, which names the request's owner, product and quantity too.
    fields = data if "user_id" in data else outcome or {}
    if "user_id" not in fields:
        return None
    return RequestRecord(
        request_id=request_id,
        user_id=int(fields["user_id"]),
        product_id=int(fields["product_id"]),
        quantity=int(fields["quantity"]),
        created=float(data.get("created", 0)),
        outcome=outcome,
    )


# --- the pending sets ---------------------------------------------------------------------------------------
def pending_products() -> list[int]:
    """The products that may have pending requests: those whose sale ended less than a record's lifetime
    (SECKILL_REQUEST_TTL) ago, or has not ended. From the ledger, which knows every product."""
    from products.models import Product  # (the ledger's products: a model import kept out of module load)

    since = timezone.now() - timedelta(seconds=settings.SECKILL_REQUEST_TTL)
    return list(Product.objects.filter(end_time__gte=since).order_by("pk").values_list("pk", flat=True))


def requests_pending_since(
    created_before: float, limit: int, product_ids: list[int] | None = None
) -> list[tuple[str, float, int]]:
    """Up to `limit` (request_id, created, product_id) without an outcome, created before the given time, oldest
    first, of the given products (default: `pending_products()`)."""
    sets = _pending_sets(pending_products() if product_ids is None else product_ids)
    pipe = get_client().pipeline(transaction=False)
    for product_id, bucket in sets:
        pending = keys.pending(product_id, bucket)
        pipe.zrangebyscore(pending, "-inf", created_before, start=0, num=limit, withscores=True)
    per_set = [
        [(request_id, created, product_id) for request_id, created in found]
        for (product_id, _), found in zip(sets, pipe.execute())
    ]
    return list(heapq.merge(*per_set, key=lambda entry: entry[1]))[:limit]


def _pending_sets(product_ids: list[int]) -> list[tuple[int, int]]:
    """(product, bucket) of every pending set of the products: one per bucket."""
    if not product_ids:
        return []
    counts = product_buckets.counts(product_ids)
    return [(pid, b) for pid in product_ids for b in range(counts[pid])]


def requests_pending_count(product_ids: list[int] | None = None) -> int:
    """How many requests are without an outcome, over the given products (default: `pending_products()`)."""
    sets = _pending_sets(pending_products() if product_ids is None else product_ids)
    pipe = get_client().pipeline(transaction=False)
    for product_id, bucket in sets:
        pipe.zcard(keys.pending(product_id, bucket))
    return sum(pipe.execute())


def request_touch_pending(product_id: int, request_id: str, at: float) -> None:
    """Score a pending request as if created `at`, so that one sweep does not enqueue it again at once; and keep
    its record for another SECKILL_REQUEST_TTL (a request still being run again must not lose it)."""
    pipe = get_client().pipeline(transaction=False)
    pipe.zadd(keys.pending(product_id, keys.request_bucket(request_id)), {request_id: at}, xx=True)
    pipe.expire(keys.request(product_id, request_id), settings.SECKILL_REQUEST_TTL)
    pipe.execute()


def request_forget_pending(product_id: int, request_id: str) -> None:
    get_client().zrem(keys.pending(product_id, keys.request_bucket(request_id)), request_id)


# --- Idempotency-Keys ---------------------------------------------------------------------------------------
def idempotency_claim(*, user_id: int, key: str, request_id: str, ttl_s: int) -> str | None:
    """Bind the key to `request_id` if it is free: None. Else the request id it is bound to."""
    # One command (SET NX GET, Redis 7): a SET NX then a GET could see the key freed in between and return None
    # to a caller that holds nothing.
    return get_client().set(keys.idempotency(user_id, key), request_id, nx=True, ex=ttl_s, get=True)


def idempotency_claimed_ago(*, user_id: int, key: str, ttl_s: int) -> float | None:
    """Seconds since the key was claimed (it was set with `ttl_s`); None if it is not set."""
    left = get_client().ttl(keys.idempotency(user_id, key))
    return None if left < 0 else max(0.0, ttl_s - left)


def idempotency_bound(*, user_id: int, key: str) -> str | None:
    """The request id the key names now (None: not set)."""
    return get_client().get(keys.idempotency(user_id, key))


def idempotency_rebind(*, user_id: int, key: str, request_id: str, new_request_id: str) -> bool:
    """Make the key name `new_request_id` if it still names `request_id` (idem_rebind.lua)."""
    return script("idem_rebind")(keys=[keys.idempotency(user_id, key)], args=[request_id, new_request_id]) == 1


def idempotency_release(*, user_id: int, key: str, request_id: str) -> None:
    """Free the key if it still names `request_id`: the request's answer was not one to repeat."""
    script("idem_release")(keys=[keys.idempotency(user_id, key)], args=[request_id])
