"""Writes of products, in the database only.

A product on sale also lives in the Redis gate: `seckill.catalogue.services` wraps these writes and keeps the gate in
step (stock always as a delta). Everything outside this app writes products through it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from products.errors import WaitlistBeforeEnd
from products.models import Product, SaleMode
from seckill_site.errors import InvalidRequest

DEFAULT_SALE_LENGTH = timedelta(hours=1)
PLAIN_FIELDS = ("name", "price", "start_time", "end_time", "per_user_limit", "is_enabled", "gate_buckets")
PLAIN_FIELDS += ("anti_bot", "challenge_cost", "path_lead_seconds", "max_admissions_per_second")
PLAIN_FIELDS += ("sale_mode", "waitlist_until")


def _check_window(start_time: datetime, end_time: datetime) -> None:
    if end_time <= start_time:
        raise InvalidRequest(errors={"end_time": ["The sale must end after it starts."]})


def _check_draw(
    *, sale_mode: str, buckets: int, end_time: datetime, waitlist_until: datetime | None, waitlist_stored: bool = False
) -> None:
    """`waitlist_stored`: the waitlist's close is the product's, not one being set (a new end that passes it is a
    conflict with the product, not a malformed request)."""
    # A draw's entries are one hash in the product's slot (seckill/gate/entries.py): one bucket.
    if sale_mode == SaleMode.DRAW and buckets != 1:
        raise InvalidRequest(errors={"gate_buckets": ["A product sold by draw has 1 Redis bucket."]})
    if waitlist_until is not None and waitlist_until < end_time:
        if waitlist_stored:
            raise WaitlistBeforeEnd(errors={"end_time": ["After the product's waitlist_until."]})
        raise InvalidRequest(errors={"waitlist_until": ["The waitlist closes after the sale ends."]})


def _check_pace(pace: int, buckets: int) -> None:
    # Each bucket admits its share of the pace (seckill.gate.stock.SaleState.pace_share): none may have none.
    if 0 < pace < buckets:
        raise InvalidRequest(
            errors={"max_admissions_per_second": [f"0 (no cap) or at least its {buckets} Redis buckets."]}
        )


def product_create(
    *,
    name: str,
    stock_total: int,
    price: Decimal = Decimal("0"),
    per_user_limit: int = 1,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    is_enabled: bool = True,
    gate_buckets: int = 1,
    **options,
) -> Product:
    """Create a product with all its stock unsold (window defaults: from now, for one hour).

    `options`: the product's anti-bot and sale-mode fields (anti_bot, challenge_cost, path_lead_seconds,
    max_admissions_per_second, sale_mode, waitlist_until), the model's defaults for those not given. Raises
    InvalidRequest for a window that ends before it starts, or another field.
    """
    unknown = set(options) - set(PLAIN_FIELDS)
    if unknown:
        raise InvalidRequest(errors={field: ["Unknown field."] for field in sorted(unknown)})
    start_time = start_time or timezone.now()
    end_time = end_time or start_time + DEFAULT_SALE_LENGTH
    _check_window(start_time, end_time)
    _check_pace(options.get("max_admissions_per_second", 0), gate_buckets)
    _check_draw(
        sale_mode=options.get("sale_mode", SaleMode.FIRST_COME),
        buckets=gate_buckets,
        end_time=end_time,
        waitlist_until=options.get("waitlist_until"),
    )
    return Product.objects.create(
        name=name,
        price=price,
        stock_total=stock_total,
        stock_left=stock_total,
        per_user_limit=per_user_limit,
        start_time=start_time,
        end_time=end_time,
        is_enabled=is_enabled,
        gate_buckets=gate_buckets,
        **options,
    )


def product_update_plain(*, product: Product, **changes) -> None:
    """Write the product's fields other than its stock (PLAIN_FIELDS). Raises InvalidRequest (unknown field,
    a window that ends before it starts, a draw in buckets, a waitlist set to close before the end),
    WaitlistBeforeEnd (a new end after the waitlist the product has)."""
    unknown = set(changes) - set(PLAIN_FIELDS)
    if unknown:
        raise InvalidRequest(errors={field: ["Unknown field."] for field in sorted(unknown)})
    _check_window(changes.get("start_time", product.start_time), changes.get("end_time", product.end_time))
    _check_pace(
        changes.get("max_admissions_per_second", product.max_admissions_per_second),
        changes.get("gate_buckets", product.gate_buckets),
    )
    _check_draw(
        sale_mode=changes.get("sale_mode", product.sale_mode),
        buckets=changes.get("gate_buckets", product.gate_buckets),
        end_time=changes.get("end_time", product.end_time),
        waitlist_until=changes.get("waitlist_until", product.waitlist_until),
        waitlist_stored="waitlist_until" not in changes,
    )
    if changes:
        Product.objects.filter(pk=product.pk).update(**changes, updated_at=timezone.now())


def product_delete(*, product: Product) -> None:
    """Delete a product that has no orders (orders protect it)."""
    product.delete()
