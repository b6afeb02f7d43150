"""Password logins, throttled on failures: POST /api/auth/token/ and the admin's login page alike.

Each try is a slow password hash on the web tier that serves purchases, and unlimited tries guess passwords; but
counting tries per user name would let anyone lock a chosen buyer out by guessing with their name (docs/traps.md).
So failed logins are limited, and only per pair and per address:
- per (user name, address): SECKILL_LOGIN_USER_RATE_LIMIT (default 10/m,50/h): over it, that name from that
  address is refused (429) until the window ends;
- per address: SECKILL_LOGIN_IP_RATE_LIMIT (60/m), whatever the names.
Each try is counted before its password is checked (one atomic step, so parallel tries cannot slip past a limit)
and given back when the password was right. A user name alone, tried from many addresses, is never refused: once
it has failed SECKILL_LOGIN_SLOW_AFTER times within a minute, every try at it first waits SECKILL_LOGIN_SLOWDOWN
seconds. That adds time to each guess, not a cap (the caps are per pair and per address), and each waiting try
holds a web thread, which the per-address limit bounds.
Windows longer than a minute are counted only for a name an account has, so made-up names leave no key that
outlives a minute (the price: past that longer limit, an address learns that the name it tried exists).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import redis
from django.conf import settings
from django.contrib.auth import get_user_model

from seckill.access.guards import rate_limit_subject
from seckill.gate import access_state as store
from seckill_site.errors import RateLimited, Unavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")
MINUTE_S = 60


def login_attempt(
    *,
    username: str,
    ip: str,
    attempt: Callable[[], T],
    failures: tuple[type[BaseException], ...],
    unthrottled_without_redis: bool = False,
) -> T:
    """Run `attempt` (the password check) unless this name and address, or this address, has failed too often;
    it counts as a failure unless it returns (if it raises one of `failures`: re-raised). Returns what `attempt`
    returns. Raises RateLimited (with retry_after), Unavailable (Redis failed, unless `unthrottled_without_redis`:
    then the attempt runs unthrottled, logged), or what `attempt` raises."""
    name = username.strip().lower()[:150]
    counted, longer = _rules(name, ip)
    name_rule = ("login-name", name, settings.SECKILL_LOGIN_SLOW_AFTER, MINUTE_S)
    try:
        allowed, retry_after_ms, _ = store.rate_limit_hit(counted)
        if allowed and longer:
            full, retry_after_ms = store.failures_full(longer)
            if full:
                store.rate_limit_refund(counted)
                allowed = False
        slow = allowed and settings.SECKILL_LOGIN_SLOW_AFTER > 0 and store.failures_full([name_rule])[0]
    except redis.RedisError as exc:
        if not unthrottled_without_redis:
            raise Unavailable() from exc
        logger.warning("Redis failed: a login of %r from %s is not throttled", name, ip)
        return attempt()
    if not allowed:
        raise RateLimited(retry_after=max(1, -(-retry_after_ms // 1000)))
    if slow:  # someone is guessing this name, maybe from many addresses: slower, never locked out
        time.sleep(settings.SECKILL_LOGIN_SLOWDOWN)
    try:
        result = attempt()
    except failures:
        _failure_count(username, name_rule, longer)
        raise
    try:
        store.rate_limit_refund(counted)  # a right password counts nothing
    except redis.RedisError:
        logger.warning("could not give back the count of a login of %r", name, exc_info=True)
    return result


def _rules(name: str, ip: str) -> tuple[store.RateRules, store.RateRules]:
    """The (scope, id, limit, window seconds) rules of a login: those counted before the password check (the
    pair's windows of a minute at most, the address'), and the pair's longer ones (counted on failure only, for
    names an account has)."""
    pair = f"{name}|{rate_limit_subject(ip)}"
    ruleset = settings.SECKILL_LOGIN_USER_RATE_RULES
    counted = [("login-pair", pair, limit, window) for limit, window in ruleset if window <= MINUTE_S]
    longer = [("login-pair", pair, limit, window) for limit, window in ruleset if window > MINUTE_S]
    if ip:
        counted += [
            ("login-ip", rate_limit_subject(ip), limit, window)
            for limit, window in settings.SECKILL_LOGIN_IP_RATE_RULES
        ]
    return counted, longer


def _failure_count(username: str, name_rule: tuple, longer: store.RateRules) -> None:
    """A failed login: the name's count (for the slowdown) and, for a name an account has, the pair's longer
    windows. Best effort: the counts before the attempt already hold."""
    User = get_user_model()
    rules = [name_rule] if settings.SECKILL_LOGIN_SLOW_AFTER > 0 else []
    if longer and User._default_manager.filter(**{User.USERNAME_FIELD: username}).exists():  # (indexed)
        rules += longer
    try:
        if rules:
            store.failures_count(rules)
    except redis.RedisError:
        logger.warning("could not count a failed login of %r", username, exc_info=True)
