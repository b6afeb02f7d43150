"""Reads of a draw: a buyer's result, the draw's public record."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from products.errors import ProductNotFound
from products.models import Product
from products.selectors import MAX_ID
from seckill.draws.errors import DrawNotHeld, EntryNotFound, NotADraw, NotDrawn
from seckill.draws.fairness import entries_list
from seckill.draws.outcomes import ENTERED, SUCCESS, WAITLISTED, EntryAnswer, iso_ms
from seckill.errors import BROKER_ERRORS
from seckill.gate import entries as gate_entries
from seckill.models import Draw, DrawEntry
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
    `not_drawn`. Raises ProductNotFound, NotADraw, EntryNotFound, Unavailable (Redis, before the draw)."""
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
    entry = DrawEntry.objects.filter(draw=draw, user_id=user_id).only("code", "rank", "order_id").first()
    if entry is None:
        raise EntryNotFound()
    answer["entry_code"] = entry.code
    if entry.order_id is not None:
        order_url = reverse("order-detail", kwargs={"order_id": entry.order_id})
        return EntryAnswer.make(SUCCESS, order_id=entry.order_id, order_url=order_url, **answer)
    closes = product.waitlist_closes
    if entry.rank >= draw.next_rank and timezone.now() < closes:
        position = entry.rank - draw.next_rank + 1
        until = iso_ms(closes)
        return EntryAnswer.make(WAITLISTED, position=position, waitlist_until=until, **answer)
    return EntryAnswer.make(NotDrawn.code, **answer)


def draw_record(*, product_id: int) -> dict:
    """The draw's public record: its commitment from the start; once held, the seed, the digest of the entry list
    and the figures (docs/draw.md). Raises ProductNotFound, NotADraw."""
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
            "winners": draw.winners,
            "stock_total": product.stock_total,
            "entries_url": reverse("draw-entries", kwargs={"product_id": product_id}),
        }
    return record


def draw_entries_list(*, product_id: int) -> str:
    """The draw's entry codes, sorted, one a line (what `entries_sha256` digests). Raises ProductNotFound,
    NotADraw, DrawNotHeld."""
    draw = draw_of(product_id)
    if draw.drawn_at is None:
        raise DrawNotHeld()
    return entries_list(DrawEntry.objects.filter(draw=draw).values_list("code", flat=True).iterator(chunk_size=10_000))
