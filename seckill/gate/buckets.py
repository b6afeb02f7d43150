"""A product's stock in N buckets (keys.py: bucket 0 in the product's slot, bucket b in `{<product_id>.<b>}`), so
that one hot product's gate calls spread over N nodes of a cluster: how many a product has, how its stock splits,
which bucket a buyer tries first. A purchase is decided in one bucket, which its request id names."""

from __future__ import annotations

from seckill.gate import keys
from seckill.gate.client import get_client

BUCKETS_FIELD = "buckets"  # in bucket 0's meta, when N > 1


def count(product_id: int) -> int:
    """How many buckets the product has in Redis (1 when it has none or is not loaded)."""
    return counts([product_id])[product_id]


def counts(product_ids: list[int]) -> dict[int, int]:
    pipe = get_client().pipeline(transaction=False)  # (one product per slot: no MGET across them)
    for pid in product_ids:
        pipe.hget(keys.meta(pid), BUCKETS_FIELD)
    return {pid: int(n or 1) for pid, n in zip(product_ids, pipe.execute())}


def split(total: int, n: int) -> list[int]:
    """`total` units over n buckets, as even as can be, the first ones taking the remainder."""
    return [total // n + (1 if b < total % n else 0) for b in range(n)]


def home(user_id: int, n: int) -> int:
    """The bucket a buyer tries first: buyers spread evenly, each always to the same one."""
    return user_id % n
