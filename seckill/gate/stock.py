"""The stock gate in Redis: a product's stock, buyers, window, each request's decision. Its admission slots, pace
and spent marks: admissions.py."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from seckill.gate import buckets as product_buckets
from seckill.gate import keys
from seckill.gate.client import get_client, request_ttl_ms, script


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
    stock: int | None  # None: the counter is not loaded (the sum of its buckets')
    buckets: int = 1
    anti_bot: str = "off"  # products.models.AntiBot: what a purchase must carry
    pace: int = 0  # max_admissions_per_second, over every bucket (0: no cap)
    mode: str = "first_come"  # products.models.SaleMode: a draw's requests are entries (seckill/draws/)

    @property
    def is_draw(self) -> bool:
        return self.mode == "draw"

    def pace_share(self, bucket: int) -> int | None:
        """The admissions a second bucket `bucket` may take (the cap split between the buckets, exact in sum);
        None when there is no cap."""
        return product_buckets.split(self.pace, self.buckets)[bucket] if self.pace else None


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
    the last step of the transaction that writes all their orders. One product's requests of one bucket (a
    cluster refuses a script over two slots). Stops after the first that is neither
    Sell.SOLD nor Sell.AGAIN: returns one (result, stock left) per request decided, so maybe fewer than asked."""
    ttl = request_ttl_ms()
    script_keys, args = [], []
    for r in requests:
        pid, rid = r["product_id"], r["request_id"]
        b = keys.request_bucket(rid)
        script_keys += [keys.stock(pid, b), keys.buyers(pid, b), keys.meta(pid, b), keys.decision(pid, rid)]
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
    b = keys.request_bucket(request_id)
    return script("refuse")(
        keys=[keys.decision(product_id, request_id), keys.stock(product_id, b), keys.buyers(product_id, b)],
        args=[code, request_ttl_ms(), request_id, user_id, quantity, "1" if ledger_refused else "0"],
    )


def decision_get(*, product_id: int, request_id: str) -> str | None:
    """SOLD, the refusal's code, or None: no task has decided this request yet."""
    return get_client().get(keys.decision(product_id, request_id))


def buyer_remember(*, product_id: int, user_id: int, request_id: str) -> None:
    """Record that the buyer holds a live order (made by `request_id`), unless the gate already knows one."""
    get_client().hsetnx(keys.buyers(product_id, keys.request_bucket(request_id)), user_id, request_id)


def release(*, product_id: int, orders: Iterable[tuple[int, str, int]]) -> int:
    """Give closed orders' units and buyer entries back to the gate (release.lua): `orders` are (user_id,
    request_id, quantity). Idempotent per order. Returns the units given back."""
    by_bucket: dict[int, list] = {}  # (each order's units go back to the bucket that sold them)
    for user_id, request_id, quantity in orders:
        by_bucket.setdefault(keys.request_bucket(request_id), []).extend((user_id, request_id, quantity))
    return sum(
        int(script("release")(keys=[keys.stock(product_id, b), keys.buyers(product_id, b)], args=args))
        for b, args in by_bucket.items()
    )


def take(*, product_id: int, orders: Iterable[tuple[int, str, int]]) -> int:
    """Orders the ledger made outside a sale (a draw's) take their units and buyer entries from the gate, once each
    (take.lua): `orders` are (user_id, request_id, quantity), of a product in one bucket. Returns the units
    taken, or -9 when the product is not loaded."""
    args = [value for order in orders for value in order]
    if not args:
        return 0
    return int(script("take")(keys=[keys.stock(product_id), keys.buyers(product_id)], args=args))


def reclaim(*, product_id: int, user_id: int, request_id: str, quantity: int) -> int:
    """An expired order paid after all takes its units back from the gate, once (reclaim.lua). Returns 1 taken,
    0 held already, -1 the gate had fewer units (drift), -2 the buyer's entry names another request (left to
    reconcile), -9 the product is not loaded."""
    b = keys.request_bucket(request_id)
    return int(
        script("reclaim")(
            keys=[keys.stock(product_id, b), keys.buyers(product_id, b)], args=[user_id, request_id, quantity]
        )
    )


def buyer_set(*, product_id: int, user_id: int, request_id: str | None) -> None:
    """Make the gate's entry for this buyer name `request_id` (None: no entry), in the bucket the request names
    and no other. For repairs (reconcile)."""
    pipe = get_client().pipeline(transaction=False)
    for b in range(product_buckets.count(product_id)):
        if request_id is not None and b == keys.request_bucket(request_id):
            pipe.hset(keys.buyers(product_id, b), user_id, request_id)
        else:
            pipe.hdel(keys.buyers(product_id, b), user_id)
    pipe.execute()


def buyers(product_id: int) -> dict[int, str]:
    """The gate's buyers of a product (of every bucket): user id -> the request id of their sale."""
    pipe = get_client().pipeline(transaction=False)
    for b in range(product_buckets.count(product_id)):
        pipe.hgetall(keys.buyers(product_id, b))
    return {int(user): request for entries in pipe.execute() for user, request in entries.items()}


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
    buckets: int = 1,
    anti_bot: str = "off",
    pace: int = 0,
    mode: str = "first_come",
) -> bool:
    """Write the product's meta; load stock and buyers only if Redis holds no live counter. True if loaded.

    With `buckets` > 1 the stock is split between them (buckets.split) and each buyer goes to the bucket their
    request names; the bucket count is written last, as the mark of a complete load. A bucket found without its
    counter after a complete load (Redis lost it) is loaded empty: never more units than the ledger's, and
    reconciliation puts the missing ones back into the others. Two loads at once split the same ledger figure."""
    meta_args = [int(enabled), _epoch_ms(start_time), _epoch_ms(end_time), per_user_limit, anti_bot, pace, mode]
    by_bucket: list[list] = [[] for _ in range(buckets)]
    for user_id, request_id in live_buyers:
        b = keys.request_bucket(request_id)
        by_bucket[b if b < buckets else product_buckets.home(user_id, buckets)].extend((user_id, request_id))
    if buckets == 1:
        shares = [stock_left]
    else:
        complete = product_buckets.count(product_id) == buckets
        shares = [0] * buckets if complete else product_buckets.split(stock_left, buckets)
    loaded = 0
    for b in range(buckets):
        bucket_keys = [keys.stock(product_id, b), keys.buyers(product_id, b), keys.meta(product_id, b)]
        loaded += script("load")(keys=bucket_keys, args=[shares[b], *meta_args, *by_bucket[b]])
    if buckets > 1:
        get_client().hset(keys.meta(product_id), product_buckets.BUCKETS_FIELD, buckets)
    return bool(loaded)


def meta_set(
    *,
    product_id: int,
    enabled: bool,
    start_time: datetime,
    end_time: datetime,
    per_user_limit: int,
    anti_bot: str = "off",
    pace: int = 0,
    mode: str = "first_come",
) -> None:
    """Write the product's sale configuration (window, enabled, per-buyer limit, anti-bot mode, admission pace, sale
    mode), as load_product does, without its stock: one HSET per bucket."""
    values = {"enabled": int(enabled), "start": _epoch_ms(start_time), "end": _epoch_ms(end_time)}
    values |= {"limit": per_user_limit, "antibot": anti_bot, "pace": pace, "mode": mode}
    pipe = get_client().pipeline(transaction=False)
    for b in range(product_buckets.count(product_id)):
        pipe.hset(keys.meta(product_id, b), mapping=values)
    pipe.execute()


def adjust_stock(*, product_id: int, delta: int) -> tuple[AdjustResult, int]:
    """Apply a stock edit to the live counter as a delta (adjust.lua): never below zero, never a SET. Over
    buckets: units added are split between them, the emptiest taking the remainder; units removed come from the
    fullest first. INSUFFICIENT (nothing changed) when fewer are left than would go; should a bucket sell its
    units meanwhile, the others' part stands and INSUFFICIENT says the rest is for reconciliation. Returns the
    result and the stock after."""
    n = product_buckets.count(product_id)
    if n == 1:
        result, stock = script("adjust")(keys=[keys.stock(product_id)], args=[delta])
        return AdjustResult(int(result)), int(stock)
    # (a bucket Redis lost takes no part: it is loaded empty when next asked)
    stocks = {b: stock for b, stock in enumerate(_bucket_stocks(product_id, n)) if stock is not None}
    if not stocks:
        return AdjustResult.NOT_LOADED, -1
    if sum(stocks.values()) + delta < 0:
        return AdjustResult.INSUFFICIENT, sum(stocks.values())
    if delta >= 0:
        steps = dict(zip(sorted(stocks, key=stocks.get), product_buckets.split(delta, len(stocks))))
    else:
        steps, left = {}, -delta
        for b in sorted(stocks, key=stocks.get, reverse=True):
            steps[b], left = -min(left, stocks[b]), left - min(left, stocks[b])
    result = AdjustResult.APPLIED
    for b, step in steps.items():
        if step:
            applied, stocks[b] = script("adjust")(keys=[keys.stock(product_id, b)], args=[step])
            if int(applied) != AdjustResult.APPLIED:
                result = AdjustResult.INSUFFICIENT
    return result, sum(int(stock) for stock in stocks.values())


def _bucket_stocks(product_id: int, n: int) -> list[int | None]:
    pipe = get_client().pipeline(transaction=False)
    for b in range(n):
        pipe.get(keys.stock(product_id, b))
    return [int(v) if v is not None else None for v in pipe.execute()]


def live_stock(product_ids: list[int]) -> dict[int, int | None]:
    """The gate's stock for each product (the sum of its buckets'); None where the product is not loaded."""
    if not product_ids:
        return {}
    pipe = get_client().pipeline(transaction=False)  # (not MGET: on a cluster the products are in several slots)
    for pid in product_ids:
        pipe.get(keys.stock(pid))
        pipe.hget(keys.meta(pid), product_buckets.BUCKETS_FIELD)
    values = pipe.execute()
    stock = {pid: (int(v) if v is not None else None) for pid, v in zip(product_ids, values[::2])}
    for pid, n in zip(product_ids, values[1::2]):
        if n is not None and int(n) > 1 and stock[pid] is not None:
            stock[pid] = _sum_loaded(_bucket_stocks(pid, int(n)))
    return stock


def _sum_loaded(stocks: list[int | None]) -> int:
    return sum(stock for stock in stocks if stock is not None)


def sale_state(product_id: int) -> SaleState | None:
    """The product's window, limit and live stock (over its buckets) from Redis; None if the product is not
    loaded."""
    pipe = get_client().pipeline(transaction=False)
    fields = ("enabled", "start", "end", "limit", product_buckets.BUCKETS_FIELD, "antibot", "pace", "mode")
    pipe.hmget(keys.meta(product_id), *fields)
    pipe.get(keys.stock(product_id))
    (enabled, start, end, limit, n, anti_bot, pace, mode), stock = pipe.execute()
    if enabled is None or start is None or end is None or limit is None:
        return None
    n = int(n or 1)
    if n > 1 and stock is not None:
        stock = _sum_loaded(_bucket_stocks(product_id, n))
    return SaleState(
        enabled=enabled == "1",
        start_ms=int(start),
        end_ms=int(end),
        per_user_limit=int(limit),
        stock=int(stock) if stock is not None else None,
        buckets=n,
        anti_bot=anti_bot or "off",
        pace=int(pace or 0),
        mode=mode or "first_come",
    )


def forget_product(product_id: int) -> None:
    pipe = get_client().pipeline(transaction=False)  # (a cluster's pipeline takes one key per DEL)
    for b in range(product_buckets.count(product_id)):
        for key in (keys.stock(product_id, b), keys.buyers(product_id, b), keys.meta(product_id, b)):
            pipe.delete(key)
    pipe.unlink(keys.entries(product_id))  # (a draw's, if it was one)
    pipe.execute()
