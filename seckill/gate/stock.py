"""The stock gate in Redis: a product's stock, buyers, window, each request's decision, admission slots."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from seckill.gate import buckets as product_buckets
from seckill.gate import keys
from seckill.gate.access_state import RateRules, rate_limit_hit, rate_limit_keys_args, rate_limit_refund
from seckill.gate.client import get_client, is_cluster, request_ttl_ms, script


class Sell(str, enum.Enum):
    """What sell.lua says besides a refusal (a refusal is the outcome code it was refused with)."""

    SOLD = "sold"
    AGAIN = "again"  # this request id is sold already: a redelivery, or its commit failed; sell nothing more
    NOT_LOADED = "not_loaded"


SOLD = "S"  # a sold request's decision (refuse.lua returns it: the sale stands)
SPENT_MARGIN_S = 60  # a spent path or solution is marked this much past its expiry: a web host's clock may lag Redis'


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
) -> bool:
    """Write the product's meta; load stock and buyers only if Redis holds no live counter. True if loaded.

    With `buckets` > 1 the stock is split between them (buckets.split) and each buyer goes to the bucket their
    request names; the bucket count is written last, as the mark of a complete load. A bucket found without its
    counter after a complete load (Redis lost it) is loaded empty: never more units than the ledger's, and
    reconciliation puts the missing ones back into the others. Two loads at once split the same ledger figure."""
    meta_args = [int(enabled), _epoch_ms(start_time), _epoch_ms(end_time), per_user_limit, anti_bot, pace]
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
) -> None:
    """Write the product's sale configuration (window, enabled, per-buyer limit, anti-bot mode, admission pace), as
    load_product does, without its stock: one HSET per bucket."""
    values = {"enabled": int(enabled), "start": _epoch_ms(start_time), "end": _epoch_ms(end_time)}
    values |= {"limit": per_user_limit, "antibot": anti_bot, "pace": pace}
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
    fields = ("enabled", "start", "end", "limit", product_buckets.BUCKETS_FIELD, "antibot", "pace")
    pipe.hmget(keys.meta(product_id), *fields)
    pipe.get(keys.stock(product_id))
    (enabled, start, end, limit, n, anti_bot, pace), stock = pipe.execute()
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
    )


def forget_product(product_id: int) -> None:
    pipe = get_client().pipeline(transaction=False)  # (a cluster's pipeline takes one key per DEL)
    for b in range(product_buckets.count(product_id)):
        for key in (keys.stock(product_id, b), keys.buyers(product_id, b), keys.meta(product_id, b)):
            pipe.delete(key)
    pipe.execute()


# --- admission --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PathSpend:
    """A purchase path the admission spends (seckill/antibot/paths.py): its nonce, its expiry (epoch ms), the
    bucket whose slot keeps its spent mark (the buyer's home: the first bucket asked), and whether that bucket
    holds it when sold out (a product in several buckets, whose others may still admit the request)."""

    nonce: str
    expires_ms: int
    bucket: int = 0
    held_when_sold_out: bool = False


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
    pace: int | None = None,
    path: PathSpend | None = None,
) -> tuple[str, int, int]:
    """Take one of the product's admission slots (admit.lua): at most ceil(stock * factor) requests in flight.

    With `user_id` and `created`: a buyer the gate knows bought the product is answered 'already_purchased',
    and an admitted request's record and pending entry are written in the same step; with `pace`, at most that
    many requests a second are admitted here ('busy' beyond it, retry_after_ms until the next second); with
    `path`, the admission spends it ('path_used' if it was; in its home bucket even when sold out, the caller
    giving it back with path_give_back if no other bucket admits the request). With `rate_limits` too, they
    are counted first (one round trip for both; on a cluster, where their keys are in their subjects' slots,
    in calls of their own just before). Returns (answer, retry_after_ms, index of the first full
    rule); answer 'admitted', 'sold_out', 'already_purchased', 'path_used', 'busy', 'not_loaded' (nothing
    counted) or 'rate_limited' (nothing else done). In the bucket the request id names (its slots, stock and
    buyers)."""
    b = keys.request_bucket(request_id)
    script_keys = [keys.stock(product_id, b), keys.admitted(product_id, b)]
    args = [request_id, factor, slot_ms, quantity]
    fixed_args = None  # (how many arguments come before the rate limits')
    if user_id is not None:
        here = path is not None and path.bucket == b
        script_keys += [keys.buyers(product_id, b), keys.request(product_id, request_id), keys.pending(product_id, b)]
        script_keys += [keys.pace(product_id, b), keys.path_spent(product_id, b, path.nonce if here else "-")]
        args += [user_id, product_id, created, settings.SECKILL_REQUEST_TTL]
        kept_until = path.expires_ms + SPENT_MARGIN_S * 1000 if here else 0  # (its spent mark's expiry)
        args += ["" if pace is None else pace, kept_until, int(here and path.held_when_sold_out)]
        fixed_args = len(args)
        if rate_limits:
            limit_keys, limit_args = rate_limit_keys_args(rate_limits)
            script_keys += limit_keys
            args += [len(rate_limits), *limit_args]
    elif rate_limits or pace is not None or path is not None:
        raise ValueError("rate_limits, pace and path need user_id and created")
    if rate_limits and is_cluster():  # the counters are in their subjects' slots: counted in calls of their own
        allowed, retry_after_ms, breached = rate_limit_hit(rate_limits)
        if not allowed:
            return "rate_limited", retry_after_ms, breached
        answer, retry_after_ms, _ = script("admit")(keys=script_keys[: -len(rate_limits)], args=args[:fixed_args])
        if answer == "not_loaded":  # counted nothing on one server either: the caller loads it and asks again
            rate_limit_refund(rate_limits)
        return answer, int(retry_after_ms), -1
    answer, retry_after_ms, first_full = script("admit")(keys=script_keys, args=args)
    return answer, int(retry_after_ms), int(first_full) - 1


def path_give_back(*, product_id: int, path: PathSpend, held_by: str) -> bool:
    """Unspend a path its request's home bucket held while sold out (under `held_by`, the request id it was asked
    with there), when no other bucket admitted the request either: a path is spent only by a request it admits.
    True if given back (another request's mark is left alone: path_give_back.lua)."""
    mark = keys.path_spent(product_id, path.bucket, path.nonce)
    return bool(script("path_give_back")(keys=[mark], args=[held_by]))


def solution_spend(*, product_id: int, solution_id: str, expires_at: int) -> bool:
    """Mark a challenge's solution used (seckill/antibot/), until its challenge expires (epoch s, by the web
    host's clock, which refuses it from then on) and SPENT_MARGIN_S more: True the first time, False after."""
    mark = keys.solution_spent(product_id, solution_id)
    return bool(get_client().set(mark, 1, nx=True, exat=expires_at + SPENT_MARGIN_S))


def admission_release(*, product_id: int, request_id: str) -> None:
    get_client().zrem(keys.admitted(product_id, keys.request_bucket(request_id)), request_id)


def admitted_count(product_id: int) -> int:
    """Requests in flight, over the product's buckets."""
    pipe = get_client().pipeline(transaction=False)
    for b in range(product_buckets.count(product_id)):
        pipe.zcard(keys.admitted(product_id, b))
    return sum(pipe.execute())
