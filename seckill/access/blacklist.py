"""Web side: the blacklists of users and addresses (CIDR ranges too) and deactivated or deleted users.

The database holds the entries; Redis holds a mirror (and temporary bans); each web process checks requests
against a snapshot of the mirror, reloaded when Redis' version changes (looked at every
SECKILL_BLACKLIST_REFRESH seconds, so a change reaches every process within a second).
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

import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from seckill.errors import Blacklisted, UserInactive
from seckill.gate import access_state as store
from seckill.models import BlacklistEntry
from seckill_site.errors import InvalidRequest

logger = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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
        version = store.blacklist_version()
        if version[0] is None:  # Redis lost it (or never had it): rebuild from the database
            blacklist_reconcile()
            version = store.blacklist_version()
        if version != snap.version:
            users, ips, inactive = store.blacklist_read()
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


def blacklist_check(*, user_id: int, ip: str, now_ms: int | None = None) -> None:
    """Raises Blacklisted or UserInactive (entries and bans live at `now_ms`, default now). At most one Redis round
    trip per process and refresh period."""
    snap = _current_snapshot()
    if now_ms is None:
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


def user_active_check(*, user_id: int) -> None:
    """Raises UserInactive for an account deactivated or deleted (the snapshot: no query). Raises Redis' errors."""
    if str(user_id) in _current_snapshot().inactive:
        raise UserInactive()


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
        transaction.on_commit(lambda: store.blacklist_unset(kind=kind, value=value))
    return bool(deleted)


def blacklist_publish(entry: BlacklistEntry) -> None:
    expires_ms = int(entry.expires_at.timestamp() * 1000) if entry.expires_at else 0
    store.blacklist_set(kind=entry.kind, value=entry.value, expires_ms=expires_ms)


def blacklist_reconcile() -> bool:
    """Make Redis' mirror of the blacklist match the database, if it does not (run on beat every few seconds,
    and when Redis has lost it). Repairs a change whose publication failed, or a Redis restored from an old
    snapshot. Returns True if it rebuilt the mirror."""
    now = timezone.now()
    entries = sorted(
        (e.kind, e.value, int(e.expires_at.timestamp() * 1000) if e.expires_at else 0)
        for e in BlacklistEntry.objects.exclude(expires_at__lte=now)
    )
    users = get_user_model().objects
    inactive = set(users.filter(is_active=False).values_list("pk", flat=True))
    # Deleted users are no row any more: the ids Redis holds for them stay (ids are never reused), or their
    # tokens would pass the access layer again until they expire.
    mirrored = {int(uid) for uid in store.inactive_users() if uid.isdigit()}
    inactive = sorted(inactive | (mirrored - set(users.filter(pk__in=mirrored).values_list("pk", flat=True))))
    digest = hashlib.sha1(json.dumps([entries, inactive]).encode()).hexdigest()
    if store.blacklist_version()[0] == digest:
        return False
    store.blacklist_replace(entries=entries, inactive_user_ids=inactive, version=digest)
    return True


def user_activity_publish(*, user_id: int, active: bool) -> None:
    """Tell every web process that a user may (no longer) buy: called when a user is saved or deleted."""
    try:
        store.user_set_inactive(user_id=user_id, inactive=not active)
    except redis.RedisError:
        logger.error("could not publish user %s active=%s to Redis", user_id, active, exc_info=True)
