"""Purchase request records (owner, outcome), the pending set the sweeper reads, and Idempotency-Keys."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.conf import settings

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
    (An admitted request's record is written by the admission: stock.admit.)"""
    key = keys.request(request_id)
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
    request_id: str,
    outcome: dict,
    admitted_for: int | None = None,
    task_result: tuple[bytes | str, bytes | str, int] | None = None,
) -> None:
    """Record the outcome (no longer pending); with `admitted_for` (a product id), free its admission slot too,
    in the same step (outcome.lua). `task_result` = (key, encoded meta, ttl s) is the Celery result to store in
    the same step (seckill.worker.result_backend, when its Redis database is this one); needs `admitted_for`."""
    record_keys = [keys.request(request_id), keys.PENDING]
    args = [request_id, json.dumps(outcome), settings.SECKILL_REQUEST_TTL]
    if admitted_for is not None:
        record_keys.append(keys.admitted(admitted_for))
        if task_result is not None:
            record_keys.append(task_result[0])
            args += [task_result[1], task_result[2]]
    elif task_result is not None:
        raise ValueError("task_result needs admitted_for")
    script("outcome")(keys=record_keys, args=args)


def request_get(request_id: str) -> RequestRecord | None:
    data = get_client().hgetall(keys.request(request_id))
    if not data or "user_id" not in data:
        return None
    return RequestRecord(
        request_id=request_id,
        user_id=int(data["user_id"]),
        product_id=int(data["product_id"]),
        quantity=int(data["quantity"]),
        created=float(data.get("created", 0)),
        outcome=json.loads(data["outcome"]) if "outcome" in data else None,
    )


# --- the pending set ----------------------------------------------------------------------------------------
def requests_pending_since(created_before: float, limit: int) -> list[tuple[str, float]]:
    """Up to `limit` (request_id, created) without an outcome, created before the given time, oldest first."""
    return get_client().zrangebyscore(keys.PENDING, "-inf", created_before, start=0, num=limit, withscores=True)


def request_touch_pending(request_id: str, at: float) -> None:
    """Score a pending request as if created `at`, so that one sweep does not enqueue it again at once; and keep
    its record for another SECKILL_REQUEST_TTL (a request still being run again must not lose it)."""
    pipe = get_client().pipeline(transaction=False)
    pipe.zadd(keys.PENDING, {request_id: at}, xx=True)
    pipe.expire(keys.request(request_id), settings.SECKILL_REQUEST_TTL)
    pipe.execute()


def request_forget_pending(request_id: str) -> None:
    get_client().zrem(keys.PENDING, request_id)


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


def idempotency_release(*, user_id: int, key: str, request_id: str) -> None:
    """Free the key if it still names `request_id`: the request's answer was not one to repeat."""
    script("idem_release")(keys=[keys.idempotency(user_id, key)], args=[request_id])
