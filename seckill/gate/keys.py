"""Every Redis key the sale uses; no other module spells one. This docstring is the slot table.

The gate may run on a Redis Cluster (SECKILL_GATE_CLUSTER), where a script or a MULTI may only touch keys of one
hash slot: the part of a key between its first `{` and `}` picks the slot. Each family below says which slot
its keys are in, and why; a key added later goes here and into tests/integration/test_gate_cluster.py.

The product's slot, `{<product_id>}`: everything one purchase touches in one script (admit.lua, sell.lua,
outcome.lua, refuse.lua): one round trip each on the hot path, on one node. A product may hold its stock in N
buckets (`buckets` in its meta, default 1): bucket 0 is the slot above, bucket b > 0 the slot
`{<product_id>.<b>}`, on another node as the cluster hashes it, each with every key below but the meta's
`buckets` (the stock split between them, each bucket's own buyers, admissions, decisions, records and pending
set): a purchase is decided in one bucket, which its request id names, so that one hot product's calls spread
over N nodes.
    seckill:{<product_id>}:stock     units the gate may still sell
    seckill:{<product_id>}:buyers    hash user_id -> request_id of that buyer's sale
    seckill:{<product_id>}:meta      hash enabled, start, end (epoch ms), limit, antibot, pace, mode; buckets
                                     (bucket 0's: N > 1); closed (a draw's: its entries taken)
    seckill:{<product_id>}:decision:<request_id>   S sold | the code it was refused with; final (a sale the
                                     ledger then refuses is undone: refuse.lua)
    seckill:{<product_id>}:admitted  sorted set request_id -> admission time: requests in flight (admit.lua)
    seckill:{<product_id>}:request:<request_id>    hash user_id, product_id, quantity, created, outcome (JSON
                                     once decided): written by the admission, so in the product's slot. A request
                                     id starts with its product's id and bucket (`request_id_new`: `<id>-...`,
                                     `<id>.<b>-...`), so the result endpoint finds the record from the id alone.
    seckill:{<product_id>}:pending   sorted set of the product's request ids without an outcome, scored by
                                     creation time: what the sweeper re-enqueues when a broker message was lost
                                     (it reads the sets of the products whose sale is recent: records.py)
    seckill:{<product_id>}:pace      hash s (a second of Redis' clock), n (admissions in it): the product's
                                     max_admissions_per_second, counted by admit.lua (each bucket its share)
    seckill:{<product_id>}:path:<nonce>  a one-time purchase path, spent: the request it admitted, until the
                                     path expires (admit.lua; a bucketed product's paths in the buyer's home bucket)
    seckill:{<product_id>}:solution:<salt>   a challenge's solution, accepted once: until the challenge expires
                                     (one SET NX, bucket 0's slot: seckill/antibot/)
    seckill:{<product_id>}:entries   hash user_id -> entry code: a draw's entries (enter.lua), until the draw
                                     has written them to the ledger (seckill/draws/; a draw has one bucket)
A key of its own, one command each (any slot):
    seckill:idem:<user_id>:<key>     Idempotency-Key -> the request id it first made (SET NX GET, its own call
                                     before the admission: a key may name a request of any product)
    seckill:rl:breach:<scope>:<id>   refusals in the last minute (for temporary bans)
A rate-limit subject's slot, `{<scope>:<id>}` (a buyer, an address, a login name and address pair): its
counters, one per window, counted together by limits.lua.
    seckill:rl:{<scope>:<id>}:<window s>   a window starts with its first request
A buyer's and an address' budgets cross products, so a purchase's counters are not in the product's slot. On
one Redis server the admission counts them in its own script (admit.lua: one round trip for both, as the
slots do not matter there); on a cluster each subject's rules are counted in a call of their own before the
admission, and given back if a later one refuses (access_state.py): one more round trip, only there.
The guards' slot, `{guards}`: the blacklist snapshot a web process reads in one MULTI, apart from any purchase
(it reloads it only when a version changes), and the writes that change it with its version:
    seckill:{guards}:blacklist:user|ip   hash value -> expiry in epoch ms (0: none); ip values may be CIDR ranges
    seckill:{guards}:users:inactive  set of user ids that may not buy (deactivated or deleted)
    seckill:{guards}:blacklist:version   digest of the database's blacklist, or a random value after a change
    seckill:{guards}:bans:user|ip, seckill:{guards}:bans:version   temporary bans from rate limits (Redis only)
Operations (one command each, any slot):
    seckill:reconcile                hash product_id -> the last reconciliation's report (JSON)
    seckill:workers                  sorted set worker hostname -> its last heartbeat (epoch s), for /readyz
    seckill:beat                     celery beat's last tick (epoch s): a dead beat means no expiry, no reconciliation
    seckill:beat:lease               the id of the beat that runs the schedule (beat_lease.lua), for a few seconds
    seckill:sweep:stand-in           held for a sweep interval by the worker that sent the sweep while beat is silent

The task's Celery result (celery-task-meta-<request_id>) lives with the result backend, which may be another
server: outcome.lua writes it with the record only when the backend uses the gate's own Redis database and the
gate is not a cluster (seckill/worker/outcome_record.py).
"""

import uuid

INACTIVE_USERS = "seckill:{guards}:users:inactive"
BLACKLIST_VERSION = "seckill:{guards}:blacklist:version"
BANS_VERSION = "seckill:{guards}:bans:version"
RECONCILE_REPORT = "seckill:reconcile"  # hash product_id -> the last reconciliation's report (JSON)
WORKERS = "seckill:workers"  # sorted set worker hostname -> its last heartbeat (epoch s)
BEAT = "seckill:beat"  # celery beat's last tick (epoch s)
BEAT_LEASE = "seckill:beat:lease"  # the beat that runs the schedule: one at a time across hosts
SWEEP_STAND_IN = "seckill:sweep:stand-in"  # the worker that sent the sweep while beat is silent, for an interval


def _slot(product_id: int, bucket: int) -> str:
    """The hash tag of a product's bucket: `<product_id>` for bucket 0 (every product has it), `<product_id>.<b>`
    for the others."""
    return f"{product_id}" if bucket == 0 else f"{product_id}.{bucket}"


def stock(product_id: int, bucket: int = 0) -> str:
    return f"seckill:{{{_slot(product_id, bucket)}}}:stock"


def buyers(product_id: int, bucket: int = 0) -> str:
    return f"seckill:{{{_slot(product_id, bucket)}}}:buyers"


def meta(product_id: int, bucket: int = 0) -> str:
    return f"seckill:{{{_slot(product_id, bucket)}}}:meta"


def decision(product_id: int, request_id: str) -> str:
    return f"seckill:{{{_slot(product_id, request_bucket(request_id))}}}:decision:{request_id}"


def admitted(product_id: int, bucket: int = 0) -> str:
    return f"seckill:{{{_slot(product_id, bucket)}}}:admitted"


def request(product_id: int, request_id: str) -> str:
    return f"seckill:{{{_slot(product_id, request_bucket(request_id))}}}:request:{request_id}"


def pending(product_id: int, bucket: int = 0) -> str:
    return f"seckill:{{{_slot(product_id, bucket)}}}:pending"


def pace(product_id: int, bucket: int = 0) -> str:
    return f"seckill:{{{_slot(product_id, bucket)}}}:pace"


def path_spent(product_id: int, bucket: int, nonce: str) -> str:
    return f"seckill:{{{_slot(product_id, bucket)}}}:path:{nonce}"


def solution_spent(product_id: int, salt: str) -> str:
    return f"seckill:{{{_slot(product_id, 0)}}}:solution:{salt}"


def entries(product_id: int) -> str:
    return f"seckill:{{{_slot(product_id, 0)}}}:entries"


def request_id_new(product_id: int, bucket: int = 0) -> str:
    """A new purchase request's id: its product's id (and bucket, if not 0), then a random part: the record's
    slot is the bucket's, found from the id alone."""
    return f"{_slot(product_id, bucket)}-{uuid.uuid4().hex}"


def _request_id_head(request_id: str) -> tuple[int, int] | None:
    head, sep, _ = request_id.partition("-")
    product, dot, bucket = head.partition(".")
    if not sep or not product.isdigit() or len(product) >= 19 or (dot and not (bucket.isdigit() and len(bucket) < 4)):
        return None
    return int(product), int(bucket) if dot else 0


def request_id_product(request_id: str) -> int | None:
    """The product a request id names (request_id_new), None if it names none."""
    head = _request_id_head(request_id)
    return head[0] if head else None


def request_bucket(request_id: str) -> int:
    """The bucket of the product whose slot keeps the request (request_id_new); 0 for an id that names none."""
    head = _request_id_head(request_id)
    return head[1] if head else 0


def idempotency(user_id: int, key: str) -> str:
    return f"seckill:idem:{user_id}:{key}"


def blacklist(kind: str) -> str:
    return f"seckill:{{guards}}:blacklist:{kind}"


def bans(kind: str) -> str:
    return f"seckill:{{guards}}:bans:{kind}"


def rate_limit(scope: str, ident: str, window_s: int) -> str:
    return f"seckill:rl:{{{scope}:{ident}}}:{window_s}"


def rate_limit_breach(scope: str, ident: str) -> str:
    return f"seckill:rl:breach:{scope}:{ident}"
