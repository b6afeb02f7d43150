"""The access layer's shared state: blacklists and inactive users (mirrored from the database), temporary bans
and rate-limit counters (Redis only).

A web process keeps a snapshot of the blacklists and reloads it when either version changes:
seckill:blacklist:version is a digest of what was mirrored (beat rebuilds the mirror when the database's digest
differs) or a random value after a change; seckill:bans:version changes with every ban.
"""

from __future__ import annotations

import time
import uuid

from seckill.gate import keys
from seckill.gate.client import get_client, is_cluster, script

RateRules = list[tuple[str, str, int, int]]  # (scope, id, limit, window seconds)


def _new_version() -> str:
    # Random, not a counter: a counter restarting at 1 after Redis lost it would look unchanged to a process.
    return uuid.uuid4().hex


# --- blacklists and inactive users ----------------------------------------------------------------------------
def blacklist_version() -> tuple[str | None, str | None]:
    """(the mirror's version, the bans' version); a process reloads its snapshot when either changes."""
    mirror, bans = get_client().mget(keys.BLACKLIST_VERSION, keys.BANS_VERSION)
    return mirror, bans


def blacklist_read(*, now_ms: int | None = None) -> tuple[dict[str, int], dict[str, int], set[str]]:
    """(users, ips, inactive user ids), bans included; users and ips map a value to its expiry in epoch ms
    (0: none), the longer of entry and ban. What has lapsed by `now_ms` (default: now) is left out."""
    pipe = get_client().pipeline(transaction=True)
    for key in (keys.blacklist("user"), keys.blacklist("ip"), keys.bans("user"), keys.bans("ip")):
        pipe.hgetall(key)
    pipe.smembers(keys.INACTIVE_USERS)
    users, ips, banned_users, banned_ips, inactive = pipe.execute()
    if now_ms is None:
        now_ms = int(time.time() * 1000)

    def merged(*sources):
        out: dict[str, int] = {}
        for source in sources:
            for value, expires in source.items():
                expires = int(expires)
                if expires and expires <= now_ms:
                    continue
                known = out.get(value)
                out[value] = 0 if known == 0 or expires == 0 else max(known or 0, expires)
        return out

    return merged(users, banned_users), merged(ips, banned_ips), set(inactive)


def blacklist_set(*, kind: str, value: str, expires_ms: int) -> None:
    pipe = get_client().pipeline(transaction=True)
    pipe.hset(keys.blacklist(kind), value, expires_ms)
    pipe.set(keys.BLACKLIST_VERSION, _new_version())
    pipe.execute()


def blacklist_unset(*, kind: str, value: str) -> None:
    pipe = get_client().pipeline(transaction=True)
    pipe.hdel(keys.blacklist(kind), value)
    pipe.set(keys.BLACKLIST_VERSION, _new_version())
    pipe.execute()


def blacklist_replace(*, entries: list[tuple[str, str, int]], inactive_user_ids: list[int], version: str) -> None:
    pipe = get_client().pipeline(transaction=True)
    pipe.delete(keys.blacklist("user"), keys.blacklist("ip"), keys.INACTIVE_USERS)
    for kind, value, expires_ms in entries:
        pipe.hset(keys.blacklist(kind), value, expires_ms)
    if inactive_user_ids:
        pipe.sadd(keys.INACTIVE_USERS, *inactive_user_ids)
    pipe.set(keys.BLACKLIST_VERSION, version)
    pipe.execute()


def inactive_users() -> set[str]:
    return get_client().smembers(keys.INACTIVE_USERS)


def user_set_inactive(*, user_id: int, inactive: bool) -> None:
    client = get_client()
    changed = client.sadd(keys.INACTIVE_USERS, user_id) if inactive else client.srem(keys.INACTIVE_USERS, user_id)
    if changed:
        client.set(keys.BLACKLIST_VERSION, _new_version())


# --- temporary bans ---------------------------------------------------------------------------------------------
def ban_set(*, kind: str, value: str, expires_ms: int) -> None:
    """A temporary ban (Redis only; never shortens an entry of the database's blacklist)."""
    pipe = get_client().pipeline(transaction=True)
    pipe.hset(keys.bans(kind), value, expires_ms)
    pipe.set(keys.BANS_VERSION, _new_version())
    pipe.execute()


def bans_prune() -> int:
    """Drop lapsed bans; returns how many."""
    client, now_ms, dropped = get_client(), int(time.time() * 1000), 0
    for kind in ("user", "ip"):
        lapsed = [v for v, exp in client.hgetall(keys.bans(kind)).items() if 0 < int(exp) <= now_ms]
        if lapsed:
            dropped += client.hdel(keys.bans(kind), *lapsed)
    return dropped


# --- rate limits ------------------------------------------------------------------------------------------------
def rate_limit_keys_args(rules: RateRules) -> tuple[list[str], list[int]]:
    """The counters' keys and the (limit, window ms) arguments of limits.lua for these rules."""
    rule_keys, args = [], []
    for scope, ident, limit, window_s in rules:
        rule_keys.append(keys.rate_limit(scope, ident, window_s))
        args.extend((limit, window_s * 1000))
    return rule_keys, args


def rate_limit_hit(rules: RateRules) -> tuple[bool, int, int]:
    """Count one request against (scope, id, limit, window seconds) rules, if none is full. A window starts with
    its first request and is timed by Redis (limits.lua), not by this process' clock. Atomic on one Redis server;
    on a cluster each subject's rules are (their slot), and a subject counted before a later one refused is
    given its count back. Returns (allowed, retry_after_ms, index of the first full rule)."""
    if not is_cluster():
        return _rate_limit_hit(rules)
    counted: RateRules = []
    for subject in _by_subject(rules):
        allowed, retry_after_ms, first_full = _rate_limit_hit(subject)
        if not allowed:
            rate_limit_refund(counted)
            return False, retry_after_ms, rules.index(subject[first_full])
        counted += subject
    return True, 0, -1


def _rate_limit_hit(rules: RateRules) -> tuple[bool, int, int]:
    rule_keys, args = rate_limit_keys_args(rules)
    allowed, retry_after_ms, first_full = script("ratelimit")(keys=rule_keys, args=args)
    return bool(allowed), int(retry_after_ms), int(first_full) - 1


def rate_limit_refund(rules: RateRules) -> None:
    """Give back one count of each rule that rate_limit_hit counted (ratelimit_refund.lua)."""
    for subject in _by_subject(rules) if is_cluster() else [rules]:
        rule_keys, _ = rate_limit_keys_args(subject)
        if rule_keys:
            script("ratelimit_refund")(keys=rule_keys, args=[])


def _by_subject(rules: RateRules) -> list[RateRules]:
    """The rules grouped by subject (scope, id): one key slot each (keys.rate_limit), in the order first met."""
    groups: dict[tuple[str, str], RateRules] = {}
    for rule in rules:
        groups.setdefault((rule[0], rule[1]), []).append(rule)
    return list(groups.values())


def rate_limit_breach(*, scope: str, ident: str) -> int:
    """Count a refusal; returns the refusals in the last minute."""
    key = keys.rate_limit_breach(scope, ident)
    pipe = get_client().pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, 60, nx=True)
    return pipe.execute()[0]


# --- failed logins ----------------------------------------------------------------------------------------------
def failures_full(rules: RateRules) -> tuple[bool, int]:
    """Whether any of the (scope, id, limit, window seconds) rules has reached its limit of failures, and the
    milliseconds until the last such window ends. Reads only: failures are counted by failures_count."""
    if not rules:
        return False, 0
    pipe = get_client().pipeline(transaction=False)
    for scope, ident, _, window_s in rules:
        key = keys.rate_limit(scope, ident, window_s)
        pipe.get(key)
        pipe.pttl(key)
    replies = pipe.execute()
    full, retry_after_ms = False, 0
    for (_, _, limit, window_s), count, ttl_ms in zip(rules, replies[::2], replies[1::2]):
        if count is not None and int(count) >= limit:
            full = True
            retry_after_ms = max(retry_after_ms, ttl_ms if ttl_ms > 0 else window_s * 1000)
    return full, retry_after_ms


def failures_count(rules: RateRules) -> None:
    """Count one failure against each rule; a window starts with its first failure and ends on its own."""
    pipe = get_client().pipeline(transaction=False)
    for scope, ident, _, window_s in rules:
        key = keys.rate_limit(scope, ident, window_s)
        pipe.incr(key)
        pipe.expire(key, window_s, nx=True)
    pipe.execute()
