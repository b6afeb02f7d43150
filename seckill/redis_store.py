"""The one module that knows Redis key names and runs the Lua scripts.

Redis is the gate, the database is the ledger. Per product (the braces keep one product's keys in one cluster slot):
    seckill:{<product_id>}:stock   units the gate may still sell
    seckill:{<product_id>}:buyers  hash user_id -> request_id of that buyer's sale
    seckill:{<product_id>}:meta    hash enabled, start, end (epoch ms), limit
    seckill:{<product_id>}:decision:<request_id>  S sold | the code it was refused with; final (a sale the
                                   ledger then refuses is undone: refuse.lua)
Per purchase request:
    seckill:request:<request_id>   hash user_id, product_id, quantity, created, outcome (JSON once decided)
    seckill:pending                sorted set of request ids without an outcome yet, scored by creation time:
                                   what the sweeper re-enqueues when a broker message was lost

Access layer:
    seckill:{<product_id>}:admitted  sorted set request_id -> admission time: requests in flight (admit.lua)
    seckill:blacklist:user|ip      hash value -> expiry in epoch ms (0: none); ip values may be CIDR ranges
    seckill:users:inactive         set of user ids that may not buy (deactivated or deleted)
    seckill:blacklist:version      digest of the database's blacklist, or a random value after a change
    seckill:bans:user|ip, seckill:bans:version   temporary bans from rate limits (Redis only)
    seckill:rl:<scope>:<id>:<window s>   rate-limit counters; a window starts with its first request (limits.lua)
    seckill:rl:breach:<scope>:<id> refusals in the last minute (for temporary bans)
    seckill:idem:<user_id>:<key>   Idempotency-Key -> the request id it first made

One Redis server, not a cluster: admit.lua and outcome.lua touch a product's keys together with the request's
record and the pending set, admit.lua the buyer's rate-limit counters too (one round trip each on the hot path),
and the rate-limit script spans users and addresses; those keys are in different cluster slots.

Scripts are registered through redis-py's `register_script`, which falls back to EVAL on NOSCRIPT, so a
restarted Redis (empty script cache) costs one reload, never an error (TRAPS.md).
"""
from __future__ import annotations

import enum
import json
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable

import redis
from django.conf import settings

_LUA_DIR = Path(__file__).resolve().parent / "lua"
_lock = threading.RLock()  # re-entrant: _script() takes it and calls get_client()
_client: redis.Redis | None = None
_scripts: dict[str, "redis.commands.core.Script"] = {}


class Sell(str, enum.Enum):
    """What sell.lua says besides a refusal (a refusal is the outcome code it was refused with)."""

    SOLD = "sold"
    AGAIN = "again"  # this request id is sold already: a redelivery, or its commit failed; sell nothing more
    NOT_LOADED = "not_loaded"


SOLD = "S"  # a sold request's decision (refuse.lua returns it: the sale stands)


class AdjustResult(enum.IntEnum):
    APPLIED = 1
    INSUFFICIENT = 0
    NOT_LOADED = -9


RateRules = list[tuple[str, str, int, int]]  # (scope, id, limit, window seconds)


def stock_key(product_id: int) -> str:
    return f"seckill:{{{product_id}}}:stock"


def buyers_key(product_id: int) -> str:
    return f"seckill:{{{product_id}}}:buyers"


def meta_key(product_id: int) -> str:
    return f"seckill:{{{product_id}}}:meta"


def decision_key(product_id: int, request_id: str) -> str:
    return f"seckill:{{{product_id}}}:decision:{request_id}"


def request_key(request_id: str) -> str:
    return f"seckill:request:{request_id}"


PENDING_KEY = "seckill:pending"


def get_client() -> redis.Redis:
    """One connection pool per process (redis-py resets it after a fork)."""
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                # A blocking pool: in a burst, a thread waits (up to `timeout`) for a free connection
                # instead of failing with "Too many connections".
                pool = redis.BlockingConnectionPool.from_url(
                    settings.REDIS_URL,
                    max_connections=settings.SECKILL_REDIS_MAX_CONNECTIONS,
                    timeout=2,
                    decode_responses=True,
                    socket_timeout=2,
                    socket_connect_timeout=1,
                    health_check_interval=30,
                )
                _client = redis.Redis(connection_pool=pool)
    return _client


# Scripts that run a step shared with another, and the files of those steps, put in front of the script's own
# (Redis has no include): the rate limit is one rule whether counted alone or with the admission.
_PRELUDES = {"ratelimit": ("limits",), "admit": ("limits",)}


def _script(name: str):
    script = _scripts.get(name)
    if script is None:
        with _lock:
            script = _scripts.get(name)
            if script is None:
                parts = (*_PRELUDES.get(name, ()), name)
                text = "\n".join((_LUA_DIR / f"{part}.lua").read_text() for part in parts)
                script = get_client().register_script(text)
                _scripts[name] = script
    return script


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# --- product stock ----------------------------------------------------------------------------------------
def _ttl_ms() -> int:
    return settings.SECKILL_REQUEST_TTL * 1000


def sell(*, product_id: int, user_id: int, request_id: str, quantity: int) -> tuple[Sell | str, int]:
    """Decide the request in Redis: sell it (take its units, record the buyer) or refuse it, for good (sell.lua).
    The last step of the transaction that writes its order. Returns (Sell.SOLD | Sell.AGAIN | Sell.NOT_LOADED |
    the refusal's outcome code, stock left)."""
    result, stock = _script("sell")(
        keys=[
            stock_key(product_id), buyers_key(product_id), meta_key(product_id), decision_key(product_id, request_id),
        ],
        args=[request_id, user_id, quantity, _ttl_ms()],
    )
    try:
        result = Sell(result)
    except ValueError:
        pass  # a refusal: the outcome code
    return result, int(stock)


def refuse(*, product_id: int, request_id: str, user_id: int, quantity: int, code: str,
           ledger_refused: bool = False) -> str:
    """Refuse the request for good with `code`, unless it is decided already (refuse.lua). Returns the decision
    in force: SOLD (the sale stands) or the code it is refused with, `code` or an earlier refusal's.
    `ledger_refused`: the ledger refused this request, so a sale Redis decided for it was never written (its
    commit failed, then the ledger changed): it is undone (refused, its units and buyer entry given back)."""
    return _script("refuse")(
        keys=[decision_key(product_id, request_id), stock_key(product_id), buyers_key(product_id)],
        args=[code, _ttl_ms(), request_id, user_id, quantity, "1" if ledger_refused else "0"],
    )


def decision_get(*, product_id: int, request_id: str) -> str | None:
    """SOLD, the refusal's code, or None: no task has decided this request yet."""
    return get_client().get(decision_key(product_id, request_id))


def buyer_remember(*, product_id: int, user_id: int, request_id: str) -> None:
    """Record that the buyer holds a live order (made by `request_id`), unless the gate already knows one."""
    get_client().hsetnx(buyers_key(product_id), user_id, request_id)


def load_product(
    *,
    product_id: int,
    stock_left: int,
    enabled: bool,
    start_time: datetime,
    end_time: datetime,
    per_user_limit: int,
    live_buyers: Iterable[tuple[int, str]] = (),
) -> bool:
    """Write the product's meta; load stock and buyers only if Redis holds no live counter. True if loaded."""
    args: list = [stock_left, int(enabled), _epoch_ms(start_time), _epoch_ms(end_time), per_user_limit]
    for user_id, request_id in live_buyers:
        args.extend((user_id, request_id))
    loaded = _script("load")(
        keys=[stock_key(product_id), buyers_key(product_id), meta_key(product_id)], args=args
    )
    return bool(loaded)


def adjust_stock(*, product_id: int, delta: int) -> tuple[AdjustResult, int]:
    result, stock = _script("adjust")(keys=[stock_key(product_id)], args=[delta])
    return AdjustResult(int(result)), int(stock)


def live_stock(product_ids: list[int]) -> dict[int, int | None]:
    """The gate's stock for each product; None where the product is not loaded."""
    if not product_ids:
        return {}
    values = get_client().mget([stock_key(pid) for pid in product_ids])
    return {pid: (int(v) if v is not None else None) for pid, v in zip(product_ids, values)}


@dataclass(frozen=True)
class SaleState:
    """What the access layer needs to turn a request away without the logic layer (one round trip)."""

    enabled: bool
    start_ms: int
    end_ms: int
    per_user_limit: int
    stock: int | None  # None: the counter is not loaded


def sale_state(product_id: int) -> SaleState | None:
    """The product's window, limit and live stock from Redis; None if the product is not loaded."""
    pipe = get_client().pipeline(transaction=False)
    pipe.hmget(meta_key(product_id), "enabled", "start", "end", "limit")
    pipe.get(stock_key(product_id))
    (enabled, start, end, limit), stock = pipe.execute()
    if enabled is None or start is None or end is None or limit is None:
        return None
    return SaleState(
        enabled=enabled == "1",
        start_ms=int(start),
        end_ms=int(end),
        per_user_limit=int(limit),
        stock=int(stock) if stock is not None else None,
    )


def forget_product(product_id: int) -> None:
    get_client().delete(stock_key(product_id), buyers_key(product_id), meta_key(product_id))


# --- purchase requests -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RequestRecord:
    request_id: str
    user_id: int
    product_id: int
    quantity: int
    created: float
    outcome: dict | None


def request_create_decided(*, request_id: str, user_id: int, product_id: int, quantity: int, created: float,
                           outcome: dict) -> None:
    """The record of a request refused before the broker: created with its outcome, never pending."""
    key = request_key(request_id)
    pipe = get_client().pipeline(transaction=True)
    pipe.hset(key, mapping={"user_id": user_id, "product_id": product_id, "quantity": quantity, "created": created,
                            "outcome": json.dumps(outcome)})
    pipe.expire(key, settings.SECKILL_REQUEST_TTL)
    pipe.execute()


def request_set_outcome(*, request_id: str, outcome: dict, admitted_for: int | None = None,
                        task_result: tuple[bytes | str, bytes | str, int] | None = None) -> None:
    """Record the outcome (no longer pending); with `admitted_for` (a product id), free its admission slot too,
    in the same step (outcome.lua). `task_result` = (key, encoded meta, ttl s) is the Celery result to store in
    the same step (seckill_site.result_backend, when its Redis database is this one); needs `admitted_for`."""
    keys = [request_key(request_id), PENDING_KEY]
    args = [request_id, json.dumps(outcome), settings.SECKILL_REQUEST_TTL]
    if admitted_for is not None:
        keys.append(admitted_key(admitted_for))
        if task_result is not None:
            keys.append(task_result[0])
            args += [task_result[1], task_result[2]]
    elif task_result is not None:
        raise ValueError("task_result needs admitted_for")
    _script("outcome")(keys=keys, args=args)


def requests_pending_since(created_before: float, limit: int) -> list[tuple[str, float]]:
    """Up to `limit` (request_id, created) without an outcome, created before the given time, oldest first."""
    return get_client().zrangebyscore(PENDING_KEY, "-inf", created_before, start=0, num=limit, withscores=True)


def request_touch_pending(request_id: str, at: float) -> None:
    """Score a pending request as if created `at`, so that one sweep does not enqueue it again at once; and keep
    its record for another SECKILL_REQUEST_TTL (a request still being run again must not lose it)."""
    pipe = get_client().pipeline(transaction=False)
    pipe.zadd(PENDING_KEY, {request_id: at}, xx=True)
    pipe.expire(request_key(request_id), settings.SECKILL_REQUEST_TTL)
    pipe.execute()


def request_forget_pending(request_id: str) -> None:
    get_client().zrem(PENDING_KEY, request_id)


def request_get(request_id: str) -> RequestRecord | None:
    data = get_client().hgetall(request_key(request_id))
    if not data or "user_id" not in data:
        return None
    return RequestRecord(
        request_id=request_id,
        user_id=int(data["user_id"]),
        product_id=int(data["product_id"]),
        quantity=int(data["quantity"]),
        created=float(data.get("created", 0)),
        outcome=json.loads(data["outcome"]) if "outcome" in data else None,
    )


# --- admission gate -----------------------------------------------------------------------------------------
def admitted_key(product_id: int) -> str:
    return f"seckill:{{{product_id}}}:admitted"


def admit(*, product_id: int, request_id: str, quantity: int, factor: float, slot_ms: int,
          user_id: int | None = None, created: float | None = None) -> str:
    """'admitted', 'sold_out', 'busy' or 'not_loaded' (admit.lua). With `user_id` and `created`:
    'already_purchased' for a buyer the gate knows bought the product, and an admitted request's record (hash
    user_id, product_id, quantity, created) and its pending entry are written in the same step."""
    keys, args = _admit_call(product_id, request_id, quantity, factor, slot_ms, user_id, created)
    return _script("admit")(keys=keys, args=args)[0]


def admit_rate_limited(*, product_id: int, request_id: str, quantity: int, factor: float, slot_ms: int,
                       user_id: int, created: float, rate_limits: RateRules) -> tuple[str, int, int]:
    """`admit` (the record written too) with the request's rate limits (if any) counted first, in the same step:
    one round trip for both. Returns (answer, retry_after_ms, index of the first full rule); answer 'rate_limited'
    when a rule is full (nothing else done), 'not_loaded' (nothing counted), or one of `admit`'s."""
    keys, args = _admit_call(product_id, request_id, quantity, factor, slot_ms, user_id, created)
    limit_keys, limit_args = _rate_limit_keys_args(rate_limits)
    answer, retry_after_ms, first_full = _script("admit")(
        keys=keys + limit_keys, args=args + [len(rate_limits)] + limit_args
    )
    return answer, int(retry_after_ms), int(first_full) - 1


def _admit_call(product_id, request_id, quantity, factor, slot_ms, user_id, created) -> tuple[list, list]:
    keys = [stock_key(product_id), admitted_key(product_id)]
    args = [request_id, factor, slot_ms, quantity]
    if user_id is not None:
        keys += [buyers_key(product_id), request_key(request_id), PENDING_KEY]
        args += [user_id, product_id, created, settings.SECKILL_REQUEST_TTL]
    return keys, args


def admission_release(*, product_id: int, request_id: str) -> None:
    get_client().zrem(admitted_key(product_id), request_id)


def admitted_count(product_id: int) -> int:
    return get_client().zcard(admitted_key(product_id))


# --- blacklists ---------------------------------------------------------------------------------------------
# The database's entries and inactive users are mirrored to seckill:blacklist:* and seckill:users:inactive, with
# seckill:blacklist:version = a digest of what was mirrored (beat rebuilds the mirror when the database's digest
# differs). Temporary bans from rate limits live in Redis only: seckill:bans:user|ip, seckill:bans:version.
BLACKLIST_VERSION_KEY = "seckill:blacklist:version"
BANS_VERSION_KEY = "seckill:bans:version"
INACTIVE_USERS_KEY = "seckill:users:inactive"


def blacklist_key(kind: str) -> str:
    return f"seckill:blacklist:{kind}"


def bans_key(kind: str) -> str:
    return f"seckill:bans:{kind}"


def _new_version() -> str:
    # Random, not a counter: a counter restarting at 1 after Redis lost it would look unchanged to a process.
    return uuid.uuid4().hex


def blacklist_version() -> tuple[str | None, str | None]:
    """(the mirror's version, the bans' version); a process reloads its snapshot when either changes."""
    mirror, bans = get_client().mget(BLACKLIST_VERSION_KEY, BANS_VERSION_KEY)
    return mirror, bans


def blacklist_read() -> tuple[dict[str, int], dict[str, int], set[str]]:
    """(users, ips, inactive user ids), bans included; users and ips map a value to its expiry in epoch ms
    (0: none), the longer of entry and ban."""
    pipe = get_client().pipeline(transaction=True)
    for key in (blacklist_key("user"), blacklist_key("ip"), bans_key("user"), bans_key("ip")):
        pipe.hgetall(key)
    pipe.smembers(INACTIVE_USERS_KEY)
    users, ips, banned_users, banned_ips, inactive = pipe.execute()
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
    pipe.hset(blacklist_key(kind), value, expires_ms)
    pipe.set(BLACKLIST_VERSION_KEY, _new_version())
    pipe.execute()


def blacklist_unset(*, kind: str, value: str) -> None:
    pipe = get_client().pipeline(transaction=True)
    pipe.hdel(blacklist_key(kind), value)
    pipe.set(BLACKLIST_VERSION_KEY, _new_version())
    pipe.execute()


def blacklist_replace(*, entries: list[tuple[str, str, int]], inactive_user_ids: list[int], version: str) -> None:
    pipe = get_client().pipeline(transaction=True)
    pipe.delete(blacklist_key("user"), blacklist_key("ip"), INACTIVE_USERS_KEY)
    for kind, value, expires_ms in entries:
        pipe.hset(blacklist_key(kind), value, expires_ms)
    if inactive_user_ids:
        pipe.sadd(INACTIVE_USERS_KEY, *inactive_user_ids)
    pipe.set(BLACKLIST_VERSION_KEY, version)
    pipe.execute()


def ban_set(*, kind: str, value: str, expires_ms: int) -> None:
    """A temporary ban (Redis only; never shortens an entry of the database's blacklist)."""
    pipe = get_client().pipeline(transaction=True)
    pipe.hset(bans_key(kind), value, expires_ms)
    pipe.set(BANS_VERSION_KEY, _new_version())
    pipe.execute()


def bans_prune() -> int:
    """Drop lapsed bans; returns how many."""
    client, now_ms, dropped = get_client(), int(time.time() * 1000), 0
    for kind in ("user", "ip"):
        lapsed = [v for v, exp in client.hgetall(bans_key(kind)).items() if 0 < int(exp) <= now_ms]
        if lapsed:
            dropped += client.hdel(bans_key(kind), *lapsed)
    return dropped


def user_set_inactive(*, user_id: int, inactive: bool) -> None:
    client = get_client()
    changed = client.sadd(INACTIVE_USERS_KEY, user_id) if inactive else client.srem(INACTIVE_USERS_KEY, user_id)
    if changed:
        client.set(BLACKLIST_VERSION_KEY, _new_version())


# --- rate limits --------------------------------------------------------------------------------------------
def _rate_limit_keys_args(rules: RateRules) -> tuple[list[str], list[int]]:
    keys, args = [], []
    for scope, ident, limit, window_s in rules:
        keys.append(f"seckill:rl:{scope}:{ident}:{window_s}")
        args.extend((limit, window_s * 1000))
    return keys, args


def rate_limit_hit(rules: RateRules) -> tuple[bool, int, int]:
    """Count one request against (scope, id, limit, window seconds) rules, atomically, if none is full. A window
    starts with its first request and is timed by Redis (limits.lua), not by this process' clock.
    Returns (allowed, retry_after_ms, index of the first full rule)."""
    keys, args = _rate_limit_keys_args(rules)
    allowed, retry_after_ms, first_full = _script("ratelimit")(keys=keys, args=args)
    return bool(allowed), int(retry_after_ms), int(first_full) - 1


def rate_limit_breach(*, scope: str, ident: str) -> int:
    """Count a refusal; returns the refusals in the last minute."""
    key = f"seckill:rl:breach:{scope}:{ident}"
    pipe = get_client().pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, 60, nx=True)
    return pipe.execute()[0]


# --- idempotency keys ---------------------------------------------------------------------------------------
def _idem_key(user_id: int, key: str) -> str:
    return f"seckill:idem:{user_id}:{key}"


def idempotency_release(*, user_id: int, key: str, request_id: str) -> None:
    """Free the key if it still names `request_id`: the request's answer was not one to repeat."""
    _script("idem_release")(keys=[_idem_key(user_id, key)], args=[request_id])


def idempotency_claim(*, user_id: int, key: str, request_id: str, ttl_s: int) -> str | None:
    """Bind the key to `request_id` if it is free: None. Else the request id it is bound to."""
    # One command (SET NX GET, Redis 7): a SET NX then a GET could see the key freed in between and return None
    # to a caller that holds nothing.
    return get_client().set(_idem_key(user_id, key), request_id, nx=True, ex=ttl_s, get=True)
