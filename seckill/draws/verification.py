"""Recompute a held draw from what it published and compare it with what the ledger holds (`manage.py
verify_draw`): the operator's check of what any buyer can check from the draw's public record (docs/draw.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

from seckill.draws import fairness
from seckill.draws.fairness import draw_request_id
from seckill.draws.selectors import draw_of
from seckill.models import DrawEntry, Order


@dataclass
class DrawCheck:
    product_id: int
    entries: int = 0
    winners: list[str] = field(default_factory=list)  # codes given an order (by the draw, or the waitlist)
    passed_over: list[str] = field(default_factory=list)  # reached, but the ledger refused them (inactive, ...)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def draw_verify(*, product_id: int) -> DrawCheck:
    """Check a held draw: the seed matches the commitment; the entry list matches its digest; the ranks are the
    draw's order recomputed from the seed and the codes (fairness.draw_order); the draw's units went to the first
    entrants of that order (but those the ledger refused, whom it counts), each order to its entry's buyer and made
    for that entry; none past the waitlist's reach; never more live orders than the stock. Raises
    ProductNotFound, NotADraw."""
    draw = draw_of(product_id)
    check = DrawCheck(product_id)
    if draw.drawn_at is None:
        check.problems.append("not drawn yet")
        return check
    rows = list(
        DrawEntry.objects.filter(draw=draw)
        .order_by("rank")
        .values_list("rank", "code", "user_id", "order_id", "order__status", "order__user_id", "order__request_id")
    )
    codes = [row[1] for row in rows]
    check.entries = len(codes)
    if fairness.seed_commitment(draw.seed) != draw.seed_sha256:
        check.problems.append("the seed's SHA-256 is not the commitment shown before the draw")
    if fairness.entries_digest(codes) != draw.entries_digest or len(codes) != draw.entries_count:
        check.problems.append("the entry list is not the one whose digest the draw published")
    if fairness.draw_order(draw.seed, codes) != codes:
        check.problems.append("the ranks are not the draw's order recomputed from the seed")
    for rank, code, user_id, order_id, _, order_user, order_request in rows:
        if rank < draw.next_rank:
            (check.winners if order_id is not None else check.passed_over).append(code)
        elif order_id is not None:
            check.problems.append(f"entry {code} (rank {rank}) holds an order the draw's order did not reach")
        if order_id is not None and (order_user != user_id or order_request != draw_request_id(product_id, code)):
            check.problems.append(f"entry {code}'s order is not its buyer's, or not made for it")
    # The draw itself: its units to the first entrants of the order, passing over only those the ledger refused.
    drawn = [row for row in rows if row[0] < draw.winners + draw.passed_over]
    if draw.winners != min(draw.units, len(rows) - draw.passed_over) or draw.winners > draw.units:
        check.problems.append(f"{draw.winners} winners for {draw.units} units and {len(rows)} entries")
    if sum(1 for row in drawn if row[3] is None) != draw.passed_over:
        check.problems.append("the first entrants of the order are not the winners and those passed over")
    live = sum(1 for row in rows if row[4] in Order.LIVE)
    if live > draw.product.stock_total:
        check.problems.append(f"{live} live orders for {draw.product.stock_total} units")
    return check
