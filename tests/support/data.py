"""Test data: buyers, products, times around now."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone


def buyers_create(count: int, prefix: str = "buyer") -> list:
    User = get_user_model()
    users = User.objects.bulk_create([User(username=f"{prefix}{i}", password="!") for i in range(count)])
    if not users or users[0].pk is None:  # backends that do not return ids from bulk_create
        users = list(User.objects.filter(username__startswith=prefix).order_by("pk"))
    return users


def product_for_sale(**overrides):
    """A product on sale now, through the catalogue's service (which loads the Redis gate too)."""
    from seckill.catalogue.services import product_create

    fields = dict(name="Flash item", stock_total=10, price="5.00", per_user_limit=1)
    fields.update(overrides)
    return product_create(**fields)


def in_the_past(hours: float = 1) -> timezone.datetime:
    return timezone.now() - timedelta(hours=hours)


def in_the_future(hours: float = 1) -> timezone.datetime:
    return timezone.now() + timedelta(hours=hours)
