"""Reads of a draw: a buyer's result, the draw's public record."""

from __future__ import annotations

import time

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from products.errors import ProductNotFound
from products.models import Product
from products.selectors import MAX_ID
from seckill.draws.errors import DrawNotHeld, EntryNotFound, NotADraw, NotDrawn
from seckill.draws.fairness import entries_list
from seckill.draws.outcomes import ENTERED, LAPSED, SUCCESS, WAITLISTED, EntryAnswer, iso_ms
from seckill.errors import BROKER_ERRORS
from seckill.gate import entries as gate_entries
from seckill.models import Draw, DrawEntry, Order
from seckill_site.errors import Unavailable


def draw_of(product_id: int) -> Draw:
    """Raises ProductNotFound, NotADraw."""
    if not 0 < product_id <= MAX_ID:
        raise ProductNotFound()
    draw = Draw.objects.select_related("product").filter(product_id=product_id).first()
    if draw is None:
        if not Product.objects.filter(pk=product_id).exists():
            raise ProductNotFound()
        raise NotADraw()
    if not draw.product.is_draw:
        raise NotADraw()
    return draw


def entry_result(*, product_id: int, user_id: int) -> EntryAnswer:
    """The buyer's entry and where it stands: `entered` until the draw, then `success` (with the order it won,
    by the draw or from the waitlist), `waitlisted` (with its position) until the waitlist closes, else
    `not_drawn`; `lapsed` for a winner whose order expired or was cancelled. Raises ProductNotFound, NotADraw,
    EntryNotFound, Unavailable (Redis, before the draw)."""
    draw = draw_of(product_id)
    product = draw.product
    answer = dict(product_id=product_id, user_id=user_id, draw_at=product.end_time)
    if draw.drawn_at is None:
        try:
            code = gate_entries.entry_code(product_id=product_id, user_id=user_id)
        except BROKER_ERRORS as exc:
            raise Unavailable() from exc
        if code is None:
            draw.refresh_from_db()  # (held meanwhile: the ledger has the entries now)
            if draw.drawn_at is None:
                raise EntryNotFound()
        else:
            return EntryAnswer.make(ENTERED, entry_code=code, **answer)
    entry = DrawEntry.objects.filter(draw=draw, user_id=user_id).values_list(
        "code", "rank", "order_id", "order__status"
    )
    if (entry := entry.first()) is None:
        raise EntryNotFound()
    code, rank, order_id, order_status = entry
    answer["entry_code"] = code
    if order_id is not None:
        order_url = reverse("order-detail", kwargs={"order_id": order_id})
        won = SUCCESS if order_status in Order.LIVE else LAPSED
        return EntryAnswer.make(won, order_id=order_id, order_url=order_url, **answer)
    closes = product.waitlist_closes
    if rank >= draw.next_rank and timezone.now() < closes:
        position = rank - draw.next_rank + 1
        until = iso_ms(closes)
        return EntryAnswer.make(WAITLISTED, position=position, waitlist_until=until, **answer)
    return EntryAnswer.make(NotDrawn.code, **answer)


def draw_record(*, product_id: int) -> dict:
    """The draw's public record: its commitment from the start; once held, the seed, the digest of the entry list
    and the figures (docs/draw.md). Each process keeps it for SECKILL_LOCAL_CACHE_TTL: every buyer's page asks.
    Raises ProductNotFound, NotADraw."""
    now = time.monotonic()
    cached = _records.get(product_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    record = _draw_record(product_id)
    if len(_records) >= 10_000:
        _records.clear()
    _records[product_id] = (now + settings.SECKILL_LOCAL_CACHE_TTL, record)
    return record


_records: dict[int, tuple[float, dict]] = {}  # product id -> (expiry, record)


def _draw_record(product_id: int) -> dict:
    draw = draw_of(product_id)
    product = draw.product
    record = {
        "product_id": product_id,
        "draw_at": product.end_time,
        "waitlist_until": product.waitlist_closes,
        "seed_sha256": draw.seed_sha256,
        "drawn": draw.drawn_at is not None,
    }
    if draw.drawn_at is not None:
        record |= {
            "drawn_at": draw.drawn_at,
            "seed": draw.seed,
            "entries_count": draw.entries_count,
            "entries_sha256": draw.entries_digest,
            "units": draw.units,
            "winners": draw.winners,
            "passed_over": draw.passed_over,
            "entries_url": reverse("draw-entries", kwargs={"product_id": product_id}),
        }
    return record


def draw_entries_list(*, product_id: int) -> str:
    """The draw's entry codes, sorted, one a line (what `entries_sha256` digests). Built once per process: a held
    draw's list never changes. Raises ProductNotFound, NotADraw, DrawNotHeld."""
    listed = _lists.get(product_id)
    if listed is not None:
        return listed
    draw = draw_of(product_id)
    if draw.drawn_at is None:
        raise DrawNotHeld()
    codes = DrawEntry.objects.filter(draw=draw).values_list("code", flat=True).iterator(chunk_size=10_000)
    if len(_lists) >= 16:
        _lists.clear()
    listed = _lists[product_id] = entries_list(codes)
    return listed


_lists: dict[int, str] = {}  # product id -> a held draw's entry list (about 21 bytes an entry)


def draw_caches_clear() -> None:
    _records.clear()
    _lists.clear()
