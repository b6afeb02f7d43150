"""The stock gate in Redis: a product's stock, buyers, window, each request's decision, admission slots."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from seckill.gate import keys
from seckill.gate.access_state import RateRules, rate_limit_hit, rate_limit_keys_args, rate_limit_refund
from seckill.gate.client import get_client, is_cluster, request_ttl_ms, script


class Sell(str, enum.Enum):
    """What sell.lua says besides a refusal (a refusal is the outcome code it was refused with)."""

    SOLD = "sold"
    AGAIN = "again"  # this request id is sold already: a redelivery, or its commit failed; sell nothing more
    NOT_LOADED = "not_loaded"


SOLD = "S"  # a sold request's decision (refuse.lua returns it: the sale stands)


class AdjustResult(enum.IntEnum):
    APPLIED = 1
    INSUFFICIENT = 0
    NOT_LOADED = -9


@dataclass(frozen=True)
class SaleState:
    """What the access layer needs to turn a request away without the logic layer (one round trip)."""

    enabled: bool
    start_ms: int
    end_ms: int
    per_user_limit: int
    stock: int | None  # None: the counter is not loaded


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# --- the logic layer's decision -----------------------------------------------------------------------------
def sell(*, product_id: int, user_id: int, request_id: str, quantity: int) -> tuple[Sell | str, int]:
    """Decide the request in Redis: sell it (take its units, record the buyer) or refuse it, for good (sell.lua).
    The last step of the transaction that writes its order. Returns (Sell.SOLD | Sell.AGAIN | Sell.NOT_LOADED |
    the refusal's outcome code, stock left)."""
    return sell_many([dict(product_id=product_id, user_id=user_id, request_id=request_id, quantity=quantity)])[0]


def sell_many(requests: list[dict]) -> list[tuple[Sell | str, int]]:
    """Decide several requests (dicts of product_id, user_id, request_id, quantity) in turn, in one round trip:
    the last step of the transaction that writes all their orders. One product's requests (a cluster refuses a
    script over two products' slots). Stops after the first that is neither
    Sell.SOLD nor Sell.AGAIN: returns one (result, stock left) per request decided, so maybe fewer than asked."""
    ttl = request_ttl_ms()
    script_keys, args = [], []
    for r in requests:
        pid, rid = r["product_id"], r["request_id"]
        script_keys += [keys.stock(pid), keys.buyers(pid), keys.meta(pid), keys.decision(pid, rid)]
        args += [rid, r["user_id"], r["quantity"], ttl]
    flat = script("sell")(keys=script_keys, args=args)
    decided = []
    for result, stock in zip(flat[::2], flat[1::2]):
        try:
            result = Sell(result)
        except ValueError:
            pass  # a refusal: the outcome code
        decided.append((result, int(stock)))
    return decided


def refuse(
    *, product_id: int, request_id: str, user_id: int, quantity: int, code: str, ledger_refused: bool = False
) -> str:
    """Refuse the request for good with `code`, unless it is decided already (refuse.lua). Returns the decision
    in force: SOLD (the sale stands) or the code it is refused with, `code` or an earlier refusal's.
    `ledger_refused`: the ledger refused this request, so a sale Redis decided for it was never written (its
    commit failed, then the ledger changed): it is undone (refused, its units and buyer entry given back)."""
    return script("refuse")(
        keys=[keys.decision(product_id, request_id), keys.stock(product_id), keys.buyers(product_id)],
        args=[code, request_ttl_ms(), request_id, user_id, quantity, "1" if ledger_refused else "0"],
    )


def decision_get(*, product_id: int, request_id: str) -> str | None:
    """SOLD, the refusal's code, or None: no task has decided this request yet."""
    return get_client().get(keys.decision(product_id, request_id))


def buyer_remember(*, product_id: int, user_id: int, request_id: str) -> None:
    """Record that the buyer holds a live order (made by `request_id`), unless the gate already knows one."""
    get_client().hsetnx(keys.buyers(product_id), user_id, request_id)


def release(*, product_id: int, orders: Iterable[tuple[int, str, int]]) -> int:
    """Give closed orders' units and buyer entries back to the gate (release.lua): `orders` are (user_id,
    request_id, quantity). Idempotent per order. Returns the units given back."""
    args: list = []
    for user_id, request_id, quantity in orders:
        args.extend((user_id, request_id, quantity))
    if not args:
        return 0
    return int(script("release")(keys=[keys.stock(product_id), keys.buyers(product_id)], args=args))


def reclaim(*, product_id: int, user_id: int, request_id: str, quantity: int) -> int:
    """An expired order paid after all takes its units back from the gate, once (reclaim.lua). Returns 1 taken,
    0 held already, -1 the gate had fewer units (drift), -2 the buyer's entry names another request (left to
    reconcile), -9 the product is not loaded."""
    return int(
        script("reclaim")(keys=[keys.stock(product_id), keys.buyers(product_id)], args=[user_id, request_id, quantity])
    )


def buyer_set(*, product_id: int, user_id: int, request_id: str | None) -> None:
    """Make the gate's entry for this buyer name `request_id` (None: no entry). For repairs (reconcile)."""
    if request_id is None:
        get_client().hdel(keys.buyers(product_id), user_id)
    else:
        get_client().hset(keys.buyers(product_id), user_id, request_id)


def buyers(product_id: int) -> dict[int, str]:
    """The gate's buyers of a product: user id -> the request id of their sale."""
    return {int(user): request for user, request in get_client().hgetall(keys.buyers(product_id)).items()}


# --- the product in the gate ----------------------------------------------------------------------------------
def load_product(
    *,
    product_id: int,
    stock_left: int,
    enabled: bool,
    start_time: datetime,
    end_time: datetime,
    per_user_limit: int,
    live_buyers: Iterable[tuple[int, str]] = (),
) -> bool:
    """Write the product's meta; load stock and buyers only if Redis holds no live counter. True if loaded."""
    args: list = [stock_left, int(enabled), _epoch_ms(start_time), _epoch_ms(end_time), per_user_limit]
    for user_id, request_id in live_buyers:
        args.extend((user_id, request_id))
    loaded = script("load")(keys=[keys.stock(product_id), keys.buyers(product_id), keys.meta(product_id)], args=args)
    return bool(loaded)


def meta_set(*, product_id: int, enabled: bool, start_time: datetime, end_time: datetime, per_user_limit: int) -> None:
    """Write the product's sale configuration (window, enabled, per-buyer limit), as load_product does, without its
    stock: one HSET."""
    values = {"enabled": int(enabled), "start": _epoch_ms(start_time), "end": _epoch_ms(end_time)}
    get_client().hset(keys.meta(product_id), mapping={**values, "limit": per_user_limit})


def adjust_stock(*, product_id: int, delta: int) -> tuple[AdjustResult, int]:
    """Apply a stock edit to the live counter as a delta (adjust.lua): never below zero, never a SET."""
    result, stock = script("adjust")(keys=[keys.stock(product_id)], args=[delta])
    return AdjustResult(int(result)), int(stock)


def live_stock(product_ids: list[int]) -> dict[int, int | None]:
    """The gate's stock for each product; None where the product is not loaded."""
    if not product_ids:
        return {}
    pipe = get_client().pipeline(transaction=False)  # (not MGET: on a cluster the products are in several slots)
    for pid in product_ids:
        pipe.get(keys.stock(pid))
    values = pipe.execute()
    return {pid: (int(v) if v is not None else None) for pid, v in zip(product_ids, values)}


def sale_state(product_id: int) -> SaleState | None:
    """The product's window, limit and live stock from Redis; None if the product is not loaded."""
    pipe = get_client().pipeline(transaction=False)
    pipe.hmget(keys.meta(product_id), "enabled", "start", "end", "limit")
    pipe.get(keys.stock(product_id))
    (enabled, start, end, limit), stock = pipe.execute()
    if enabled is None or start is None or end is None or limit is None:
        return None
    return SaleState(
        enabled=enabled == "1",
        start_ms=int(start),
        end_ms=int(end),
        per_user_limit=int(limit),
        stock=int(stock) if stock is not None else None,
    )


def forget_product(product_id: int) -> None:
    get_client().delete(keys.stock(product_id), keys.buyers(product_id), keys.meta(product_id))


# --- admission --------------------------------------------------------------------------------------------------
def admit(
    *,
    product_id: int,
    request_id: str,
    quantity: int,
    factor: float,
    slot_ms: int,
    user_id: int | None = None,
    created: float | None = None,
    rate_limits: RateRules = (),
) -> tuple[str, int, int]:
    """Take one of the product's admission slots (admit.lua): at most ceil(stock * factor) requests in flight.

    With `user_id` and `created`: a buyer the gate knows bought the product is answered 'already_purchased',
    and an admitted request's record and pending entry are written in the same step. With `rate_limits` too,
    they are counted first (one round trip for both; on a cluster, where their keys are in their subjects' slots,
    in calls of their own just before). Returns (answer, retry_after_ms, index of the first full
    rule); answer 'admitted', 'sold_out', 'already_purchased', 'busy', 'not_loaded' (nothing counted) or
    'rate_limited' (nothing else done)."""
    script_keys = [keys.stock(product_id), keys.admitted(product_id)]
    args = [request_id, factor, slot_ms, quantity]
    if user_id is not None:
        script_keys += [keys.buyers(product_id), keys.request(product_id, request_id), keys.pending(product_id)]
        args += [user_id, product_id, created, settings.SECKILL_REQUEST_TTL]
        if rate_limits:
            limit_keys, limit_args = rate_limit_keys_args(rate_limits)
            script_keys += limit_keys
            args += [len(rate_limits), *limit_args]
    elif rate_limits:
        raise ValueError("rate_limits need user_id and created")
    if rate_limits and is_cluster():  # the counters are in their subjects' slots: counted in calls of their own
        allowed, retry_after_ms, breached = rate_limit_hit(rate_limits)
        if not allowed:
            return "rate_limited", retry_after_ms, breached
        answer, _, _ = script("admit")(keys=script_keys[: -len(rate_limits)], args=args[:8])
        if answer == "not_loaded":  # counted nothing on one server either: the caller loads it and asks again
            rate_limit_refund(rate_limits)
        return answer, 0, -1
    answer, retry_after_ms, first_full = script("admit")(keys=script_keys, args=args)
    return answer, int(retry_after_ms), int(first_full) - 1


def admission_release(*, product_id: int, request_id: str) -> None:
    get_client().zrem(keys.admitted(product_id), request_id)


def admitted_count(product_id: int) -> int:
    return get_client().zcard(keys.admitted(product_id))
