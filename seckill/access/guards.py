"""Web side: who may ask, from where, how often. Cheap checks that turn abusers away before any sale logic runs;
all shared state is in Redis, so every web process enforces the same rules.

- client_ip:        REMOTE_ADDR, or the X-Forwarded-For hop a trusted proxy wrote (SECKILL_TRUSTED_PROXIES).
- origin_check:     optional Origin/Referer allow-list (SECKILL_ALLOWED_ORIGINS).
- blacklist_check:  blacklisted users and addresses, deactivated or deleted users (seckill.access.blacklist).
- rate limits:      per-user and per-IP limits in one Lua step (alone, or with the admission: rate_limit_rules);
                    optional temporary bans, never permanent.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import time
from typing import NoReturn
from urllib.parse import urlsplit

import redis
from django.conf import settings

from seckill.access.blacklist import blacklist_check
from seckill.errors import ForbiddenOrigin
from seckill.gate import access_state as store
from seckill_site.errors import RateLimited, Unavailable

logger = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def purchase_guard(*, user_id: int, meta: dict) -> str:
    """Who may ask at all: origin, then blacklists (a per-process snapshot). Returns the client's address.
    Raises ForbiddenOrigin, UserInactive, Blacklisted, Unavailable (Redis down)."""
    origin_check(meta)
    ip = client_ip(meta)
    try:
        blacklist_check(user_id=user_id, ip=ip)
    except redis.RedisError as exc:
        raise Unavailable() from exc
    return ip


# --- client address and origin ----------------------------------------------------------------------------
def client_ip(meta: dict) -> str:
    """The client's address, normalised (an IPv4-mapped IPv6 address is its IPv4 address).

    X-Forwarded-For is spoofable, so it is read only when the peer (REMOTE_ADDR) is one of
    SECKILL_TRUSTED_PROXIES (addresses or CIDR ranges): then the client is the right-most hop that is not a
    trusted proxy itself.
    """
    remote = _normalise_peer(meta.get("REMOTE_ADDR", "")) or ""
    trusted = settings.SECKILL_TRUSTED_PROXIES
    if not trusted or not _is_trusted(remote, trusted):
        return remote
    hops = [_normalise(part) for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for hop in reversed(hops):
        if hop is None:  # garbage in the chain: trust nothing to its left
            return remote
        if not _is_trusted(hop, trusted):
            return hop
    return remote


def forwarded_by_trusted_proxy(meta: dict) -> bool:
    """Whether the socket's peer is one of SECKILL_TRUSTED_PROXIES (whose X-Forwarded-For client_ip believes)."""
    trusted = settings.SECKILL_TRUSTED_PROXIES
    return bool(trusted) and _is_trusted(_normalise_peer(meta.get("REMOTE_ADDR", "")) or "", trusted)


def _normalise(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)


# The socket's peer (never text a client wrote) is parsed once per address, not on every request.
_normalise_peer = functools.lru_cache(maxsize=4096)(_normalise)


def _is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def rate_limit_subject(ip: str) -> str:
    """What a per-address limit counts: the address, or an IPv6 address' /64 (one subscriber's whole block)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return ip


def origin_check(meta: dict) -> None:
    """Raises ForbiddenOrigin unless the allow-list is off or the Origin (else Referer) host is on it."""
    allowed = settings.SECKILL_ALLOWED_ORIGINS
    if not allowed:
        return
    source = meta.get("HTTP_ORIGIN") or meta.get("HTTP_REFERER") or ""
    try:
        host = (urlsplit(source).hostname or "").lower()
    except ValueError:
        host = ""
    if host not in allowed:
        raise ForbiddenOrigin()


# --- rate limits ------------------------------------------------------------------------------------------
def rate_limit_rules(*, user_id: int, ip: str) -> store.RateRules:
    """The (scope, id, limit, window seconds) rules a purchase request counts against: the user's and the
    address' (SECKILL_USER_RATE_LIMIT, SECKILL_IP_RATE_LIMIT); empty when both are off."""
    scopes = [("user", str(user_id), settings.SECKILL_USER_RATE_RULES)]
    if ip:
        scopes.append(("ip", rate_limit_subject(ip), settings.SECKILL_IP_RATE_RULES))
    return [(scope, ident, limit, window) for scope, ident, ruleset in scopes for limit, window in ruleset]


def rate_limit_check(*, user_id: int, ip: str) -> None:
    """Count this request against the user's and the address' limits, atomically (one round trip). Raises
    RateLimited as `rate_limit_refuse` does when any is full, Unavailable when Redis is down. (A purchase whose
    sale state this process has cached counts them in the admission's round trip instead:
    seckill.purchases.services.)"""
    _rate_limit_count(rate_limit_rules(user_id=user_id, ip=ip))


def _rate_limit_count(rules: store.RateRules) -> None:
    if not rules:
        return
    try:
        allowed, retry_after_ms, breached = store.rate_limit_hit(rules)
    except redis.RedisError as exc:
        raise Unavailable() from exc
    if not allowed:
        rate_limit_refuse(rules, retry_after_ms=retry_after_ms, breached=breached)


def rate_limit_refuse(rules: store.RateRules, *, retry_after_ms: int, breached: int) -> NoReturn:
    """Raise RateLimited (with retry_after) for a request refused by rule `breached`; after
    SECKILL_BAN_AFTER_BREACHES refusals within a minute, the offender is also banned for SECKILL_BAN_TTL seconds
    (never for good). The refusal stands if Redis fails to count it (the ban is then missed, logged)."""
    scope, ident = rules[breached][0], rules[breached][1]
    threshold = settings.SECKILL_BAN_AFTER_BREACHES
    try:
        if threshold > 0 and store.rate_limit_breach(scope=scope, ident=ident) >= threshold:
            expires_ms = int((time.time() + settings.SECKILL_BAN_TTL) * 1000)
            store.ban_set(kind=scope, value=ident, expires_ms=expires_ms)
            logger.warning("temporary ban of %s %s for %ss", scope, ident, settings.SECKILL_BAN_TTL)
    except redis.RedisError:
        logger.warning("could not count the rate-limit breach of %s %s", scope, ident, exc_info=True)
    raise RateLimited(retry_after=max(1, -(-retry_after_ms // 1000)))
