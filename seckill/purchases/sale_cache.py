"""Web side: each web process' copy of the products' sale state, and the checks made from it.

A web process keeps each product's sale state (window, limit, live stock) for SECKILL_LOCAL_CACHE_TTL seconds:
most requests of a flash sale are for one product that is sold out, and this answers them with no Redis call
and no database query. The logic layer checks everything again atomically (sell.lua); these checks only turn
losers away early.
"""

from __future__ import annotations

import copy
import time
from dataclasses import replace

from django.conf import settings

from products import selectors
from products.errors import ProductNotFound
from products.models import Product
from seckill.errors import BROKER_ERRORS, SaleDisabled, SaleEnded, SaleNotStarted, SoldOut
from seckill.gate import stock as gate
from seckill.gate import sync
from seckill_site.errors import InvalidRequest, Unavailable

_sale_cache: dict[int, tuple[float, gate.SaleState | None]] = {}  # product id -> (expiry, state or None: unknown)
_SALE_CACHE_MAX = 10_000  # unknown ids must not grow it without bound
_product_cache: dict[int, tuple[float, Product | None]] = {}  # product id -> (expiry, row or None: unknown)


def purchase_check(*, state: gate.SaleState, quantity: int, now_ms: int) -> None:
    """Raises SaleDisabled, SaleNotStarted, SaleEnded, InvalidRequest (quantity over the limit) or SoldOut (not
    for a draw's entry, which is taken whatever the stock: seckill/purchases/entries.py)."""
    if not state.enabled:
        raise SaleDisabled()
    if now_ms < state.start_ms:
        raise SaleNotStarted()
    if now_ms >= state.end_ms:
        raise SaleEnded()
    if state.is_draw:
        return
    if quantity > state.per_user_limit:
        raise InvalidRequest(
            errors={"quantity": [f"Ensure this value is less than or equal to {state.per_user_limit}."]}
        )
    if state.stock is not None and state.stock < quantity:
        raise SoldOut()


def _fresh(product_id: int, now: float) -> tuple[float, gate.SaleState | None] | None:
    """The cache's (expiry, state) for the product, if there is one and it has not expired."""
    cached = _sale_cache.get(product_id)
    return cached if cached is not None and cached[0] > now else None


def sale_state_get(*, product_id: int) -> gate.SaleState:
    """The product's sale state: from this process' cache, else Redis, else (first time) the database.
    Raises ProductNotFound, Unavailable (Redis down)."""
    now = time.monotonic()
    cached = _fresh(product_id, now)
    if cached is not None:
        state = cached[1]
    else:
        try:
            state = gate.sale_state(product_id)
            if state is None:
                try:
                    sync.stock_gate_load(product_id=product_id)
                except ProductNotFound:
                    pass  # remembered below like any state: unknown ids cost no query for a while either
                else:
                    state = gate.sale_state(product_id)
        except BROKER_ERRORS as exc:
            raise Unavailable() from exc
        if len(_sale_cache) >= _SALE_CACHE_MAX:
            _sale_cache.clear()
        _sale_cache[product_id] = (now + settings.SECKILL_LOCAL_CACHE_TTL, state)
    if state is None:
        raise ProductNotFound()
    return state


def sale_check(*, product_id: int, quantity: int) -> None:
    """The sale's checks of a request, from the state sale_state_get gives (which may cost Redis and the
    database). Raises ProductNotFound, Unavailable, and what purchase_check raises."""
    purchase_check(state=sale_state_get(product_id=product_id), quantity=quantity, now_ms=int(time.time() * 1000))


def sale_check_cached(*, product_id: int, quantity: int) -> bool:
    """The same checks with no I/O, when this process has the product's state cached: True if it has (and the
    request passed), False if not (nothing was checked). Raises as sale_check does, Unavailable aside."""
    cached = _fresh(product_id, time.monotonic())
    if cached is None:
        return False
    if cached[1] is None:
        raise ProductNotFound()
    purchase_check(state=cached[1], quantity=quantity, now_ms=int(time.time() * 1000))
    return True


def sale_cache_mark_short(product_id: int, quantity: int) -> None:
    """The gate has fewer than `quantity` units: refuse such requests here until the cache entry lapses, but
    not smaller ones (a buyer of 2 finding 1 left does not make the product sold out)."""
    cached = _sale_cache.get(product_id)
    if cached is not None and cached[1] is not None:
        known = cached[1].stock if cached[1].stock is not None else quantity
        _sale_cache[product_id] = (cached[0], replace(cached[1], stock=min(known, quantity - 1)))


def product_known(product_id: int) -> bool:
    """This process has found the product (its state is cached, fresh or not): a cheap "it exists" for labels."""
    cached = _sale_cache.get(product_id)
    return cached is not None and cached[1] is not None


def product_get_cached(*, product_id: int) -> Product:
    """The product page a crowd refreshes before a sale: the product's row as this process last read it from the
    database and its live stock (`stock_left_live`) from the cached sale state, each at most
    SECKILL_LOCAL_CACHE_TTL old, so that a flood of page views costs no query and, mostly, no Redis call. The
    ledger's figure when Redis is down or has no counter. Raises ProductNotFound. The instance is this caller's
    own (a copy)."""
    now = time.monotonic()
    cached = _product_cache.get(product_id)
    if cached is None or cached[0] <= now:
        try:
            row = selectors.product_get(product_id=product_id)
        except ProductNotFound:
            row = None  # remembered as well: a flood of an unknown id costs no query for a while either
        if len(_product_cache) >= _SALE_CACHE_MAX:
            _product_cache.clear()
        cached = _product_cache[product_id] = (now + settings.SECKILL_LOCAL_CACHE_TTL, row)
    if cached[1] is None:
        raise ProductNotFound()
    try:
        stock = sale_state_get(product_id=product_id).stock
    except (Unavailable, ProductNotFound):  # Redis down; a gate that does not know the product (yet)
        stock = None
    product = copy.copy(cached[1])  # (another thread may serve the same row with another figure)
    product.stock_left_live = product.stock_left if stock is None else stock
    return product


def sale_cache_forget(product_id: int) -> None:
    """Read the product's sale state from Redis again at its next request."""
    _sale_cache.pop(product_id, None)


def sale_cache_clear() -> None:
    _sale_cache.clear()
    _product_cache.clear()
