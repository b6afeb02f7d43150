"""A draw's entries in Redis (enter.lua): one per buyer, in the product's slot, until the draw takes them
(seckill/worker/draw.py writes them to the ledger, then forgets them here)."""

from __future__ import annotations

from seckill.gate import keys
from seckill.gate.access_state import RateRules, rate_limit_hit, rate_limit_keys_args, rate_limit_refund
from seckill.gate.admissions import SPENT_MARGIN_S, PathSpend
from seckill.gate.client import get_client, is_cluster, script


def enter(
    *, product_id: int, user_id: int, code: str, path: PathSpend | None = None, rate_limits: RateRules = ()
) -> tuple[str, str | None, int, int]:
    """Enter the buyer in the product's draw with `code`, unless they entered already (enter.lua: the window by
    Redis' clock, the path spent once, the rate limits counted first; on a cluster those in calls of their own
    just before). Returns (answer, the entry's code, retry_after_ms, index of the first full rule): answer
    'entered' (with their code: `code`, or the one they entered with), 'not_started', 'ended', 'disabled',
    'not_draw', 'path_used', 'not_loaded' (nothing counted) or 'rate_limited'."""
    path_mark = keys.path_spent(product_id, 0, path.nonce if path is not None else "-")
    kept_until = path.expires_ms + SPENT_MARGIN_S * 1000 if path is not None else 0
    script_keys = [keys.meta(product_id), keys.entries(product_id), path_mark]
    args = [user_id, code, kept_until, f"entry:{user_id}"]
    if rate_limits and is_cluster():  # the counters are in their subjects' slots: counted in calls of their own
        allowed, retry_after_ms, breached = rate_limit_hit(rate_limits)
        if not allowed:
            return "rate_limited", None, retry_after_ms, breached
        answer, entered, _, _ = script("enter")(keys=script_keys, args=args)
        if answer == "not_loaded":
            rate_limit_refund(rate_limits)
        return answer, entered or None, 0, -1
    if rate_limits:
        limit_keys, limit_args = rate_limit_keys_args(rate_limits)
        script_keys += limit_keys
        args += [len(rate_limits), *limit_args]
    answer, entered, retry_after_ms, first_full = script("enter")(keys=script_keys, args=args)
    return answer, entered or None, int(retry_after_ms), int(first_full) - 1


def entry_code(*, product_id: int, user_id: int) -> str | None:
    """The buyer's entry code, while Redis holds the entries (until the draw)."""
    return get_client().hget(keys.entries(product_id), user_id)


def entries_count(product_id: int) -> int:
    return get_client().hlen(keys.entries(product_id))


class EntriesOpen(Exception):
    """The window has not ended by Redis' clock (a host whose clock runs ahead asked): nothing was closed."""


def entries_close(product_id: int) -> dict[int, str] | None:
    """Close the draw's entries for good, once its window has ended by Redis' clock (enter.lua refuses any more),
    and read them, in one step (draw_close.lua): user id -> code. None when Redis does not hold the product (its
    data lost). Raises EntriesOpen."""
    answer = script("draw_close")(keys=[keys.meta(product_id), keys.entries(product_id)], args=[])
    if answer is None:
        return None
    if answer[0] == "open":
        raise EntriesOpen()
    return {int(user): code for user, code in zip(answer[1::2], answer[2::2])}


def entries_forget(product_id: int) -> None:
    """Drop the entries once the ledger holds them (UNLINK: a large hash is freed off Redis' main thread)."""
    get_client().unlink(keys.entries(product_id))
