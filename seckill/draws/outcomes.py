"""What an entrant is told: at entry and at the entry's result_url (GET /api/seckill/<product_id>/entry/)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from datetime import UTC, datetime

from django.urls import reverse

from seckill.draws.errors import NotDrawn
from seckill_site.errors import answer_codes_register

ENTERED = "entered"  # in the draw, which has not been held yet
WAITLISTED = "waitlisted"  # not among the winners: `position` in the waitlist, until it closes
SUCCESS = "success"  # drawn (or handed a unit from the waitlist): an order to pay
LAPSED = "lapsed"  # drawn, but the order expired unpaid or was cancelled: its unit went back
answer_codes_register({ENTERED: 202, WAITLISTED: 202, LAPSED: 409})  # (success: the purchase's; not_drawn: its error's)


@dataclass
class EntryAnswer:
    """Serialized as is (None fields left out); `code` picks the HTTP status."""

    code: str
    detail: str
    product_id: int
    user_id: int
    entry_code: str | None = None
    draw_at: str | None = None  # ISO 8601: when the draw is held (the window's end)
    position: int | None = None  # waitlisted: 1 = the next to get a unit that comes back
    waitlist_until: str | None = None
    order_id: int | None = None
    order_url: str | None = None
    result_url: str | None = None

    @property
    def is_final(self) -> bool:
        return self.code not in (ENTERED, WAITLISTED)  # (success stays success once paid; it may lapse before)

    def as_dict(self) -> dict:
        values = ((name, getattr(self, name)) for name in _FIELD_NAMES)
        return {name: value for name, value in values if value is not None}

    @classmethod
    def make(cls, code: str, *, product_id: int, user_id: int, entry_code: str | None, draw_at: datetime, **more):
        return cls(
            code=code,
            detail=_DETAILS[code],
            product_id=product_id,
            user_id=user_id,
            entry_code=entry_code,
            draw_at=iso_ms(draw_at),
            result_url=result_url(product_id),
            **more,
        )


@functools.lru_cache(maxsize=1024)
def result_url(product_id: int) -> str:
    """Where an entrant reads their result (reversed once per product: an entry's answer is on the hot path)."""
    return reverse("seckill-entry-detail", kwargs={"product_id": product_id})


@functools.lru_cache(maxsize=1024)
def iso_ms(moment: datetime) -> str:
    """A time as the API writes it in an entry's answers: UTC, to the millisecond (the gate's precision)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_DETAILS = {
    ENTERED: "You are in the draw; ask result_url for the result after draw_at.",
    WAITLISTED: "Not drawn yet: you are on the waitlist, and get an order if a winner's lapses before it closes.",
    SUCCESS: "Drawn: pay the order before its deadline.",
    LAPSED: "Drawn, but the order was not paid in time or was cancelled: its unit went to the waitlist.",
    NotDrawn.code: NotDrawn.default_detail,
}
_FIELD_NAMES = tuple(field.name for field in fields(EntryAnswer))
