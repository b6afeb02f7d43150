"""Web side: a purchase request for a product sold by draw is an entry (docs/draw.md): one per buyer, answered
at once (202 `entered`) from one Redis step (seckill/gate/entries.py: enter.lua), with no broker message and no
sold-out check or admission slot, which would turn the crowd away. The buyer's guards (token, blacklists, rate
limits, the purchase path when the product takes one) apply as to a purchase."""

from __future__ import annotations

from datetime import UTC, datetime

from seckill.access import guards
from seckill.antibot.errors import PathUsed
from seckill.draws.fairness import entry_code_new
from seckill.draws.outcomes import ENTERED, EntryAnswer
from seckill.errors import BROKER_ERRORS, SaleDisabled, SaleEnded, SaleNotStarted
from seckill.gate import entries as gate_entries
from seckill.gate import stock as gate
from seckill.gate import sync
from seckill.gate.access_state import RateRules
from seckill.purchases.admission import path_to_spend
from seckill.purchases.request import PurchaseRequest
from seckill.purchases.sale_cache import sale_cache_forget
from seckill_site.errors import InvalidRequest, Unavailable

_REFUSALS = {"not_started": SaleNotStarted, "ended": SaleEnded, "disabled": SaleDisabled, "path_used": PathUsed}


def entry_submit(purchase: PurchaseRequest, state: gate.SaleState, rate_limits: RateRules = ()) -> EntryAnswer:
    """Enter the buyer in the product's draw, or answer the entry they made (the same code). Raises
    InvalidRequest (more than one unit), the path's refusals, PathUsed, RateLimited, SaleNotStarted, SaleEnded
    (also once the draw has taken the entries), SaleDisabled, Unavailable (Redis: nothing entered, or the
    entry made and its answer lost: a retry is answered it)."""
    if purchase.quantity != 1:
        raise InvalidRequest(errors={"quantity": ["An entry to a draw is for one unit."]})
    path = path_to_spend(purchase, state, 0)
    call = dict(
        product_id=purchase.product_id,
        user_id=purchase.user_id,
        code=entry_code_new(),
        path=path,
        rate_limits=rate_limits,
    )
    try:
        answer, code, retry_after_ms, breached = gate_entries.enter(**call)
        if answer == "not_loaded":  # (nothing counted then)
            sync.stock_gate_load(product_id=purchase.product_id)
            answer, code, retry_after_ms, breached = gate_entries.enter(**call)
    except BROKER_ERRORS as exc:
        raise Unavailable() from exc
    if answer == "rate_limited":
        guards.rate_limit_refuse(list(rate_limits), retry_after_ms=retry_after_ms, breached=breached)
    if answer in _REFUSALS:
        raise _REFUSALS[answer]()
    if answer != ENTERED:  # 'not_draw': this process' copy of the sale is older than its mode (set before the window)
        sale_cache_forget(purchase.product_id)
        raise Unavailable()
    draw_at = datetime.fromtimestamp(state.end_ms / 1000, tz=UTC)
    return EntryAnswer.make(
        ENTERED, product_id=purchase.product_id, user_id=purchase.user_id, entry_code=code, draw_at=draw_at
    )
