"""Every Redis key the sale uses; no other module spells one.

Per product (the braces keep one product's keys in one cluster slot):
    seckill:{<product_id>}:stock     units the gate may still sell
    seckill:{<product_id>}:buyers    hash user_id -> request_id of that buyer's sale
    seckill:{<product_id>}:meta      hash enabled, start, end (epoch ms), limit
    seckill:{<product_id>}:decision:<request_id>   S sold | the code it was refused with; final (a sale the
                                     ledger then refuses is undone: refuse.lua)
    seckill:{<product_id>}:admitted  sorted set request_id -> admission time: requests in flight (admit.lua)
Per purchase request:
    seckill:request:<request_id>     hash user_id, product_id, quantity, created, outcome (JSON once decided)
    seckill:pending                  sorted set of request ids without an outcome, scored by creation time: what
                                     the sweeper re-enqueues when a broker message was lost
    seckill:idem:<user_id>:<key>     Idempotency-Key -> the request id it first made
Guards:
    seckill:blacklist:user|ip        hash value -> expiry in epoch ms (0: none); ip values may be CIDR ranges
    seckill:users:inactive           set of user ids that may not buy (deactivated or deleted)
    seckill:blacklist:version        digest of the database's blacklist, or a random value after a change
    seckill:bans:user|ip, seckill:bans:version   temporary bans from rate limits (Redis only)
    seckill:rl:<scope>:<id>:<window s>   rate-limit counters; a window starts with its first request
    seckill:rl:breach:<scope>:<id>   refusals in the last minute (for temporary bans)
Operations:
    seckill:reconcile                hash product_id -> the last reconciliation's report (JSON)
    seckill:workers                  sorted set worker hostname -> its last heartbeat (epoch s), for /readyz
    seckill:beat                     celery beat's last tick (epoch s): a dead beat means no expiry, no reconciliation
    seckill:sweep:stand-in           held for a sweep interval by the worker that sent the sweep while beat is silent

One Redis server, not a cluster: admit.lua and outcome.lua touch a product's keys together with the request's
record and the pending set, admit.lua the buyer's rate-limit counters too (one round trip each on the hot path);
those keys are in different cluster slots.
"""

PENDING = "seckill:pending"
INACTIVE_USERS = "seckill:users:inactive"
BLACKLIST_VERSION = "seckill:blacklist:version"
BANS_VERSION = "seckill:bans:version"
RECONCILE_REPORT = "seckill:reconcile"  # hash product_id -> the last reconciliation's report (JSON)
WORKERS = "seckill:workers"  # sorted set worker hostname -> its last heartbeat (epoch s)
BEAT = "seckill:beat"  # celery beat's last tick (epoch s)
SWEEP_STAND_IN = "seckill:sweep:stand-in"  # the worker that sent the sweep while beat is silent, for an interval


def stock(product_id: int) -> str:
    return f"seckill:{{{product_id}}}:stock"


def buyers(product_id: int) -> str:
    return f"seckill:{{{product_id}}}:buyers"


def meta(product_id: int) -> str:
    return f"seckill:{{{product_id}}}:meta"


def decision(product_id: int, request_id: str) -> str:
    return f"seckill:{{{product_id}}}:decision:{request_id}"


def admitted(product_id: int) -> str:
    return f"seckill:{{{product_id}}}:admitted"


def request(request_id: str) -> str:
    return f"seckill:request:{request_id}"


def idempotency(user_id: int, key: str) -> str:
    return f"seckill:idem:{user_id}:{key}"


def blacklist(kind: str) -> str:
    return f"seckill:blacklist:{kind}"


def bans(kind: str) -> str:
    return f"seckill:bans:{kind}"


def rate_limit(scope: str, ident: str, window_s: int) -> str:
    return f"seckill:rl:{scope}:{ident}:{window_s}"


def rate_limit_breach(scope: str, ident: str) -> str:
    return f"seckill:rl:breach:{scope}:{ident}"
