"""The admission gate in Redis (admit.lua): a product's admission slots and request records, the pace of its
admissions, its purchase paths' and challenge solutions' spent marks. Its stock, buyers and window: stock.py."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from seckill.gate import buckets as product_buckets
from seckill.gate import keys
from seckill.gate.access_state import RateRules, rate_limit_hit, rate_limit_keys_args, rate_limit_refund
from seckill.gate.client import get_client, is_cluster, script

SPENT_MARGIN_S = 60  # a spent path or solution is marked this much past its expiry: a web host's clock may lag Redis'


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
