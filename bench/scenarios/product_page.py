"""The product page a crowd refreshes before the sale opens versus GET /api/time/."""

from __future__ import annotations

from bench.audit import make_product
from bench.load import wrk_side_by_side


def product_page_scenario(args, system, tokens_csv, report) -> None:
    """The page a crowd refreshes before the sale opens (with their tokens) versus the framework's floor."""
    from datetime import timedelta

    from django.utils import timezone

    from products.models import Product

    soon = timezone.now() + timedelta(hours=1)
    upcoming = make_product(args.stock, "upcoming")
    Product.objects.filter(pk=upcoming.pk).update(start_time=soon, end_time=soon + timedelta(hours=1))
    report["scenarios"].update(
        wrk_side_by_side(
            args,
            system,
            {
                name: load
                for key, base in system.bases.items()
                for name, load in (
                    (f"product_page{key}", (f"{base}/api/products/{upcoming.pk}/", tokens_csv, "GET", "")),
                    (f"page_time_floor{key}", (f"{base}/api/time/", tokens_csv, "GET", "")),
                )
            },
        )
    )
