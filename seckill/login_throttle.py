"""Password logins, throttled on failures: POST /api/auth/token/ and the admin's login page alike.

Each try is a slow password hash on the web tier that serves purchases, and unlimited tries guess passwords; but
counting tries per user name would let anyone lock a chosen buyer out by guessing with their name (docs/traps.md).
So only failed logins count, and:
- per (user name, address): SECKILL_LOGIN_USER_RATE_LIMIT (default 10/m,50/h): over it, that name from that
  address is refused (429) until the window ends;
- per address: SECKILL_LOGIN_IP_RATE_LIMIT (60/m), whatever the names;
- per user name alone, from any address: never refused, only slowed down: after SECKILL_LOGIN_SLOW_AFTER failures
  within a minute, every try at that name waits SECKILL_LOGIN_SLOWDOWN seconds first.
A name no account has keeps counters for a minute at most (windows over a minute are kept for accounts that exist),
so made-up names cannot fill Redis.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import redis
from django.conf import settings
from django.contrib.auth import get_user_model

from seckill.guards import rate_limit_subject
from seckill.redis_store import guards as store
from seckill_site.errors import RateLimited, Unavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")
NAME_WINDOW_S = 60


def login_attempt(
    *,
    username: str,
    ip: str,
    attempt: Callable[[], T],
    failures: tuple[type[BaseException], ...],
    unthrottled_without_redis: bool = False,
) -> T:
    """Run `attempt` (the password check) unless this name and address, or this address, has failed too often;
    count it if it raises one of `failures` (and re-raise). Returns what `attempt` returns. Raises RateLimited (with
    retry_after), Unavailable (Redis down, unless `unthrottled_without_redis`: then the attempt runs unthrottled,
    logged), or what `attempt` raises."""
    name = username.strip().lower()[:150]
    rules = _rules(name, ip, known=_account_exists(username))
    name_rule = ("login-name", name, settings.SECKILL_LOGIN_SLOW_AFTER, NAME_WINDOW_S)
    try:
        full, retry_after_ms = store.failures_full(rules)
        slow, _ = store.failures_full([name_rule]) if settings.SECKILL_LOGIN_SLOW_AFTER > 0 else (False, 0)
    except redis.RedisError as exc:
        if not unthrottled_without_redis:
            raise Unavailable() from exc
        logger.warning("Redis unreachable: a login of %r from %s is not throttled", name, ip)
        full = slow = False
    if full:
        raise RateLimited(retry_after=max(1, -(-retry_after_ms // 1000)))
    if slow:  # someone is guessing this name, maybe from many addresses: slower, never locked out
        time.sleep(settings.SECKILL_LOGIN_SLOWDOWN)
    try:
        return attempt()
    except failures:
        try:
            store.failures_count([*rules, name_rule])
        except redis.RedisError:
            logger.warning("could not count a failed login of %r from %s", name, ip, exc_info=True)
        raise


def _rules(name: str, ip: str, *, known: bool) -> store.RateRules:
    """The (scope, id, limit, window seconds) rules of a login's failures. Windows over a minute only for a name
    an account has."""
    pair = f"{name}|{rate_limit_subject(ip)}"
    ruleset = settings.SECKILL_LOGIN_USER_RATE_RULES
    rules = [("login-pair", pair, limit, window) for limit, window in ruleset if known or window <= NAME_WINDOW_S]
    if ip:
        ruleset = settings.SECKILL_LOGIN_IP_RATE_RULES
        rules += [("login-ip", rate_limit_subject(ip), limit, window) for limit, window in ruleset]
    return rules


def _account_exists(username: str) -> bool:
    User = get_user_model()
    return User._default_manager.filter(**{f"{User.USERNAME_FIELD}__iexact": username.strip()}).exists()
