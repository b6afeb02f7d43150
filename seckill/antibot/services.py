"""A product's challenges and purchase paths, issued to a buyer: each checked like a purchase (the guards; a
challenge counts against the buyer's rate limits), in the sale's window opened `path_lead_seconds` early, a path
for a solution accepted once."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings

from products.models import AntiBot, Product
from seckill.access import guards
from seckill.antibot.challenges import verifier
from seckill.antibot.errors import ChallengeNotRequired, ChallengeUsed, PathNotOpen, PathNotRequired
from seckill.antibot.paths import path_token_make
from seckill.errors import BROKER_ERRORS, SaleDisabled, SaleEnded, SoldOut
from seckill.gate import admissions
from seckill_site.errors import Unavailable


@dataclass(frozen=True)
class PathIssued:
    path: str
    expires_ms: int


def _buyer_checked(*, user_id: int, meta: dict, rate_limited: bool) -> None:
    """The purchase's own checks of who asks (origin, blacklists, an active account) and, `rate_limited`, the
    buyer's rate limits (a challenge counts as a request). Raises what guards raise."""
    ip = guards.purchase_guard(user_id=user_id, meta=meta)
    if rate_limited:
        guards.rate_limit_check(user_id=user_id, ip=ip)


def _open_check(product: Product, now_ms: int) -> None:
    """Whether the product's challenges and paths are issued now: enabled, from path_lead_seconds before its start
    until its end, not sold out (its `stock_left_live`). Raises SaleDisabled, PathNotOpen, SaleEnded, SoldOut."""
    start_ms = int(product.start_time.timestamp() * 1000)
    if not product.is_enabled:
        raise SaleDisabled()
    opens_ms = start_ms - product.path_lead_seconds * 1000
    if now_ms < opens_ms:
        raise PathNotOpen(
            f"Challenges and purchase paths are issued from {product.path_lead_seconds} s before the "
            f"sale starts: in {(opens_ms - now_ms + 999) // 1000} s."
        )
    if now_ms >= int(product.end_time.timestamp() * 1000):
        raise SaleEnded()
    if product.stock_left_live <= 0:
        raise SoldOut()


def challenge_issue(*, user_id: int, product: Product, meta: dict) -> dict:
    """A proof-of-work challenge for this buyer and product (ChallengeVerifier.challenge_make), valid
    SECKILL_CHALLENGE_TTL seconds, at the product's challenge_cost. `product`: with its live stock (the web
    process' copy: seckill.purchases.sale_cache.product_get_cached). Raises the guards' refusals,
    ChallengeNotRequired (a product sold without one) and _open_check's."""
    _buyer_checked(user_id=user_id, meta=meta, rate_limited=True)
    if product.anti_bot != AntiBot.CHALLENGE:
        raise ChallengeNotRequired()
    now = time.time()
    _open_check(product, int(now * 1000))
    return verifier().challenge_make(
        user_id=user_id,
        product_id=product.pk,
        cost=product.challenge_cost,
        expires_at=int(now) + settings.SECKILL_CHALLENGE_TTL,
    )


def path_issue(*, user_id: int, product: Product, solution: str | None, meta: dict) -> PathIssued:
    """A one-time purchase path for this buyer and product. For a product sold with a challenge, it costs a
    solution of one made for them, accepted once (its mark in the product's slot until the challenge expires).
    The path is valid SECKILL_PATH_TTL seconds from the start (from now, once the sale is on; never past the end).
    `product` as challenge_issue's. Raises the guards' refusals, PathNotRequired (a product sold without paths),
    _open_check's, the verifier's, ChallengeUsed, Unavailable (Redis). Not rate-limited: a path costs a solved
    challenge, or is worth one purchase attempt, which is (the admission counts the buyer's limits)."""
    _buyer_checked(user_id=user_id, meta=meta, rate_limited=False)
    if product.anti_bot == AntiBot.OFF:
        raise PathNotRequired()
    now_ms, product_id = int(time.time() * 1000), product.pk
    _open_check(product, now_ms)
    if product.anti_bot == AntiBot.CHALLENGE:
        solved = verifier().solution_verify(solution, user_id=user_id, product_id=product_id)
        try:
            first = admissions.solution_spend(
                product_id=product_id, solution_id=solved.solution_id, expires_at=solved.expires_at
            )
        except BROKER_ERRORS as exc:
            raise Unavailable() from exc
        if not first:
            raise ChallengeUsed()
    start_ms, end_ms = (int(moment.timestamp() * 1000) for moment in (product.start_time, product.end_time))
    expires_ms = min(max(now_ms, start_ms) + settings.SECKILL_PATH_TTL * 1000, end_ms)
    return PathIssued(path_token_make(user_id=user_id, product_id=product_id, expires_ms=expires_ms), expires_ms)
