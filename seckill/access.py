"""Access-layer guards: who may ask, from where, how often. Cheap checks that turn abusers away before any
sale logic runs; all shared state is in Redis, so every web process enforces the same rules.

- client_ip:        REMOTE_ADDR, or the X-Forwarded-For hop a trusted proxy wrote (SECKILL_TRUSTED_PROXIES).
- origin_check:     optional Origin/Referer allow-list (SECKILL_ALLOWED_ORIGINS).
- blacklist_check:  blacklisted users and addresses (CIDR too) and deactivated or deleted users, from a
                    per-process snapshot refreshed when Redis' version counter moves (checked every
                    SECKILL_BLACKLIST_REFRESH seconds, so a change reaches every process within a second).
- rate_limit_check: per-user and per-IP limits in one Lua step (alone, or with the admission: rate_limit_rules);
                    optional temporary bans, never permanent.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import NoReturn
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from seckill import redis_store
from seckill.errors import Blacklisted, ForbiddenOrigin, InvalidRequest, RateLimited, UserInactive
from seckill.models import BlacklistEntry

logger = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def purchase_guard(*, user_id: int, meta: dict) -> str:
    """Who may ask at all: origin, then blacklists (a per-process snapshot). Returns the client's address.
    Raises ForbiddenOrigin, UserInactive, Blacklisted, Unavailable (Redis down)."""
    from seckill.errors import Unavailable

    origin_check(meta)
    ip = client_ip(meta)
    try:
        blacklist_check(user_id=user_id, ip=ip)
    except redis.RedisError as exc:
        raise Unavailable() from exc
    return ip


def purchase_rate_limit(*, user_id: int, ip: str) -> None:
    """The rate limits of a purchase that may go to the logic layer (a round trip to Redis). The view runs it
    after the refusals the process' cached sale state answers (sold out, outside the window): those cost no
    more than the limit itself, so a flood on a sold-out product is shed without it. (When that state is cached,
    the view counts the limits in the admission's round trip instead: `rate_limit_rules`.)
    Raises RateLimited, Unavailable (Redis down)."""
    from seckill.errors import Unavailable

    try:
        rate_limit_check(user_id=user_id, ip=ip)
    except redis.RedisError as exc:
        raise Unavailable() from exc


# --- client address and origin ----------------------------------------------------------------------------
def client_ip(meta: dict) -> str:
    """The client's address, normalised (an IPv4-mapped IPv6 address is its IPv4 address).

    X-Forwarded-For is spoofable, so it is read only when the peer (REMOTE_ADDR) is one of
    SECKILL_TRUSTED_PROXIES (addresses or CIDR ranges): then the client is the right-most hop that is not a
    trusted proxy itself.
    """
    remote = _normalise(meta.get("REMOTE_ADDR", "")) or ""
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


def _normalise(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)


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


# --- blacklists -------------------------------------------------------------------------------------------
@dataclass
class _Snapshot:
    version: tuple | None = None
    users: dict[str, int] = field(default_factory=dict)  # user id -> expiry in epoch ms (0: none)
    addresses: dict[str, int] = field(default_factory=dict)  # exact address -> expiry
    networks: list[tuple[Network, int]] = field(default_factory=list)
    inactive: frozenset[str] = frozenset()
    checked_at: float = float("-inf")


_snapshot = _Snapshot()
_snapshot_lock = threading.Lock()


def _current_snapshot() -> _Snapshot:
    global _snapshot
    snap = _snapshot
    now = time.monotonic()
    if now - snap.checked_at < settings.SECKILL_BLACKLIST_REFRESH:
        return snap
    with _snapshot_lock:
        snap = _snapshot
        if now - snap.checked_at < settings.SECKILL_BLACKLIST_REFRESH:
            return snap
        version = redis_store.blacklist_version()
        if version[0] is None:  # Redis lost it (or never had it): rebuild from the database
            blacklist_reconcile()
            version = redis_store.blacklist_version()
        if version != snap.version:
            users, ips, inactive = redis_store.blacklist_read()
            addresses, networks = {}, []
            for value, expires in ips.items():
                net = ipaddress.ip_network(value, strict=False)
                if net.num_addresses == 1:
                    addresses[str(net.network_address)] = expires
                else:
                    networks.append((net, expires))
            snap = _Snapshot(version, users, addresses, networks, frozenset(inactive))
        _snapshot = _Snapshot(snap.version, snap.users, snap.addresses, snap.networks, snap.inactive, now)
        return _snapshot


def _live(expires_ms: int, now_ms: int) -> bool:
    return expires_ms == 0 or expires_ms > now_ms


def blacklist_check(*, user_id: int, ip: str) -> None:
    """Raises Blacklisted or UserInactive. At most one Redis round trip per process and refresh period."""
    snap = _current_snapshot()
    now_ms = int(time.time() * 1000)
    uid = str(user_id)
    if uid in snap.inactive:
        raise UserInactive()
    if uid in snap.users and _live(snap.users[uid], now_ms):
        raise Blacklisted()
    if not ip:
        return
    if ip in snap.addresses and _live(snap.addresses[ip], now_ms):
        raise Blacklisted()
    if snap.networks:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return
        if any(address in net and _live(exp, now_ms) for net, exp in snap.networks):
            raise Blacklisted()


def blacklist_normalize(kind: str, value: str) -> str:
    """Raises InvalidRequest for a value that is not a user id / IP address or range."""
    value = value.strip()
    if kind == BlacklistEntry.Kind.USER:
        if not value.isdigit() or int(value) < 1:
            raise InvalidRequest(errors={"value": ["A user id is a positive whole number."]})
        return str(int(value))
    if kind == BlacklistEntry.Kind.IP:
        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise InvalidRequest(errors={"value": ["Not an IP address or CIDR range."]}) from None
        return str(net.network_address) if net.num_addresses == 1 else str(net)
    raise InvalidRequest(errors={"kind": ["Choose user or ip."]})


def blacklist_add(*, kind: str, value: str, ttl_seconds: int | None = None, reason: str = "") -> BlacklistEntry:
    """Add (or renew) an entry in the database and, on commit, in Redis. `ttl_seconds` None: until removed."""
    value = blacklist_normalize(kind, value)
    expires_at = timezone.now() + timedelta(seconds=ttl_seconds) if ttl_seconds else None
    with transaction.atomic():
        entry, _ = BlacklistEntry.objects.update_or_create(
            kind=kind, value=value, defaults={"reason": reason, "expires_at": expires_at}
        )
        transaction.on_commit(lambda: blacklist_publish(entry))
    return entry


def blacklist_remove(*, kind: str, value: str) -> bool:
    value = blacklist_normalize(kind, value)
    with transaction.atomic():
        deleted, _ = BlacklistEntry.objects.filter(kind=kind, value=value).delete()
        transaction.on_commit(lambda: redis_store.blacklist_unset(kind=kind, value=value))
    return bool(deleted)


def blacklist_publish(entry: BlacklistEntry) -> None:
    expires_ms = int(entry.expires_at.timestamp() * 1000) if entry.expires_at else 0
    redis_store.blacklist_set(kind=entry.kind, value=entry.value, expires_ms=expires_ms)


def blacklist_reconcile() -> bool:
    """Make Redis' mirror of the blacklist match the database, if it does not (run on beat every few seconds,
    and when Redis has lost it). Repairs a change whose publication failed, or a Redis restored from an old
    snapshot. Returns True if it rebuilt the mirror."""
    from django.contrib.auth import get_user_model

    now = timezone.now()
    entries = sorted(
        (e.kind, e.value, int(e.expires_at.timestamp() * 1000) if e.expires_at else 0)
        for e in BlacklistEntry.objects.exclude(expires_at__lte=now)
    )
    inactive = sorted(get_user_model().objects.filter(is_active=False).values_list("pk", flat=True))
    digest = hashlib.sha1(json.dumps([entries, inactive]).encode()).hexdigest()
    if redis_store.blacklist_version()[0] == digest:
        return False
    redis_store.blacklist_replace(entries=entries, inactive_user_ids=inactive, version=digest)
    return True


def user_activity_publish(*, user_id: int, active: bool) -> None:
    """Tell every web process that a user may (no longer) buy: called when a user is saved or deleted."""
    try:
        redis_store.user_set_inactive(user_id=user_id, inactive=not active)
    except redis.RedisError:
        logger.error("could not publish user %s active=%s to Redis", user_id, active, exc_info=True)


# --- rate limits ------------------------------------------------------------------------------------------
def rate_limit_rules(*, user_id: int, ip: str) -> redis_store.RateRules:
    """The (scope, id, limit, window seconds) rules a purchase request counts against: the user's and the
    address' (SECKILL_USER_RATE_LIMIT, SECKILL_IP_RATE_LIMIT); empty when both are off."""
    scopes = [("user", str(user_id), settings.SECKILL_USER_RATE_RULES)]
    if ip:
        scopes.append(("ip", rate_limit_subject(ip), settings.SECKILL_IP_RATE_RULES))
    return [(scope, ident, limit, window) for scope, ident, ruleset in scopes for limit, window in ruleset]


def rate_limit_check(*, user_id: int, ip: str) -> None:
    """Count this request against the user's and the address' limits, atomically. Raises RateLimited as
    `rate_limit_refuse` does when any is full. (A purchase whose sale state this process has cached counts them
    in the admission's round trip instead: services.purchase_submit's `rate_limits`.)"""
    rules = rate_limit_rules(user_id=user_id, ip=ip)
    if not rules:
        return
    allowed, retry_after_ms, breached = redis_store.rate_limit_hit(rules)
    if not allowed:
        rate_limit_refuse(rules, retry_after_ms=retry_after_ms, breached=breached)


def rate_limit_refuse(rules: redis_store.RateRules, *, retry_after_ms: int, breached: int) -> NoReturn:
    """Raise RateLimited (with retry_after) for a request refused by rule `breached`; after
    SECKILL_BAN_AFTER_BREACHES refusals within a minute, the offender is also banned for SECKILL_BAN_TTL seconds
    (never for good). The refusal stands if Redis fails to count it (the ban is then missed, logged)."""
    scope, ident = rules[breached][0], rules[breached][1]
    threshold = settings.SECKILL_BAN_AFTER_BREACHES
    try:
        if threshold > 0 and redis_store.rate_limit_breach(scope=scope, ident=ident) >= threshold:
            expires_ms = int((time.time() + settings.SECKILL_BAN_TTL) * 1000)
            redis_store.ban_set(kind=scope, value=ident, expires_ms=expires_ms)
            logger.warning("temporary ban of %s %s for %ss", scope, ident, settings.SECKILL_BAN_TTL)
    except redis.RedisError:
        logger.warning("could not count the rate-limit breach of %s %s", scope, ident, exc_info=True)
    raise RateLimited(retry_after=max(1, -(-retry_after_ms // 1000)))
