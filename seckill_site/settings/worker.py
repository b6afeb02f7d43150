"""Celery: the logic layer's broker, results, acknowledgements and schedule."""

from kombu import Exchange, Queue

from seckill_site.settings.env import env, env_bool
from seckill_site.settings.sale import (
    REDIS_URL,
    SECKILL_BLACKLIST_RECONCILE_INTERVAL,
    SECKILL_DRAW_INTERVAL,
    SECKILL_EXPIRE_INTERVAL,
    SECKILL_RECONCILE_INTERVAL,
    SECKILL_REDIS_MAX_CONNECTIONS,
    SECKILL_SWEEP_INTERVAL,
)

# --- Celery (logic layer) -------------------------------------------------------------------------------
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
# Library patches (seckill_site/integrations/): each on only with the library versions it was tested with; 0: all off
# (the system sells the same, with each library's own behaviour: slower, or with its bug back).
SECKILL_LIBRARY_PATCHES = env_bool("SECKILL_LIBRARY_PATCHES", True)
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# At-least-once delivery: ack after the task ran, and give the message back if the child process dies.
# The task is idempotent per request id, so a redelivery never sells twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A worker holds up to this many unacknowledged messages per pool process, those running included. More than 1
# lets it hand a process several waiting purchases as one job (seckill_site/integrations/celery_batches.py); a
# worker killed outright gives them back after the visibility timeout, or the sweeper re-enqueues them sooner.
CELERY_WORKER_PREFETCH_MULTIPLIER = int(env("CELERY_WORKER_PREFETCH_MULTIPLIER", "16"))
# At most this many purchase requests in one pool job (1: each on its own, as Celery does).
SECKILL_WORKER_BATCH_MAX = int(env("SECKILL_WORKER_BATCH_MAX", "16"))
# Such a job's sales are written in one database transaction (seckill.worker.decisions.purchases_decide_together);
# 0: each in its own, as a request alone is.
SECKILL_WORKER_BATCH_TRANSACTION = env_bool("SECKILL_WORKER_BATCH_TRANSACTION", True)
# Celery's Django fixup closes the database connection around every task unless this is set; with it, every
# 1000 tasks, and seckill_site/celery.py recycles connections per task as Django does per request. After a
# database restart the first task of each worker process fails once on the dead connection (a purchase retries).
CELERY_DB_REUSE_MAX = int(env("CELERY_DB_REUSE_MAX", "1000"))
# Results are read by the waiting view within seconds; our own request record keeps the outcome longer.
CELERY_RESULT_EXPIRES = int(env("CELERY_RESULT_EXPIRES", "3600"))
# Unacked messages come back after this many seconds. Tasks take milliseconds; no countdown may exceed it.
# https://docs.celeryq.dev/projects/kombu/en/stable/reference/kombu.transport.redis.html
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(env("CELERY_VISIBILITY_TIMEOUT", "300")),
    # kombu looks for a dead worker's unacknowledged messages every interval × throttle seconds (10 × 10 by
    # default): they came back up to 100 s after the visibility timeout. Every second instead: three cheap
    # commands per worker and second.
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
    # A worker killed while it held the lock of that search stopped every worker's for this long (300 s).
    "unacked_mutex_expire": 10,
    "socket_timeout": 5,
    "socket_connect_timeout": 2,
    # kombu's Redis pool raises "Too many connections" (it does not wait) past this: every web thread that
    # publishes at the same moment needs one. Keep it above the web process's thread count.
    "max_connections": SECKILL_REDIS_MAX_CONNECTIONS,
}
CELERY_BROKER_POOL_LIMIT = int(env("CELERY_BROKER_POOL_LIMIT", "100"))
CELERY_REDIS_MAX_CONNECTIONS = SECKILL_REDIS_MAX_CONNECTIONS
# Fail fast when the broker is down: the view answers 503 instead of hanging (docs/traps.md).
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
# The result backend's pub/sub reconnect retries 20 times by default: a view waiting across a Redis outage hung
# ~19 s and then failed. A short policy lets the wait end near its timeout (docs/traps.md).
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
    "retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
}
# The broker and the results on a Redis Sentinel set (sentinel://h1:26379;sentinel://h2:26379, each role on its
# own): the name of the master its sentinels watch, which Celery reads from each role's transport options.
SECKILL_SENTINEL_MASTER = env("SECKILL_SENTINEL_MASTER", "seckill")
if CELERY_BROKER_URL.startswith("sentinel://"):
    CELERY_BROKER_TRANSPORT_OPTIONS["master_name"] = SECKILL_SENTINEL_MASTER
    # A failover can surface as a channel error (a demoted master answering READONLY): the worker reconnects.
    CELERY_BROKER_CHANNEL_ERROR_RETRY = True
if CELERY_RESULT_BACKEND.startswith("sentinel://"):
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS["master_name"] = SECKILL_SENTINEL_MASTER
CELERY_REDIS_SOCKET_TIMEOUT = 5
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Maintenance runs on its own queue, so that it never waits behind a burst of purchases; a sweep not run within
# one interval is dropped, the next one does its work. Both queues are declared, so a worker started as Celery
# documents it (`celery -A seckill_site worker`, no -Q) consumes both; `-Q maintenance` or `-Q celery` makes a
# dedicated one (docs/deploy.md). A queue routed to but not declared here would be read by no plain worker.
# https://docs.celeryq.dev/en/stable/userguide/routing.html#manual-routing
CELERY_IMPORTS: list[str] = []
CELERY_TASK_DEFAULT_QUEUE = "celery"
# Each bound to an exchange of its own name by its own name, as Celery makes a queue it has to create.
CELERY_TASK_QUEUES = tuple(Queue(name, Exchange(name), routing_key=name) for name in ("celery", "maintenance"))
CELERY_TASK_ROUTES = {
    "seckill.sweep_pending": {"queue": "maintenance"},
    "seckill.reconcile_blacklist": {"queue": "maintenance"},
    "seckill.expire_orders": {"queue": "maintenance"},
    "seckill.reconcile": {"queue": "maintenance"},
    "seckill.draw_tick": {"queue": "maintenance"},
}
# Celery's default scheduler (a schedule file), which also writes beat's heartbeat for /readyz and /metrics.
CELERY_BEAT_SCHEDULER = "seckill.ops.heartbeat:HeartbeatScheduler"
CELERY_BEAT_SCHEDULE = {
    "sweep-pending-purchases": {
        "task": "seckill.sweep_pending",
        "schedule": SECKILL_SWEEP_INTERVAL,
        "options": {"expires": SECKILL_SWEEP_INTERVAL},
    },
    "reconcile-blacklist": {
        "task": "seckill.reconcile_blacklist",
        "schedule": SECKILL_BLACKLIST_RECONCILE_INTERVAL,
        "options": {"expires": SECKILL_BLACKLIST_RECONCILE_INTERVAL},
    },
    "expire-orders": {
        "task": "seckill.expire_orders",
        "schedule": SECKILL_EXPIRE_INTERVAL,
        "options": {"expires": SECKILL_EXPIRE_INTERVAL},
    },
    "draw-tick": {
        "task": "seckill.draw_tick",
        "schedule": SECKILL_DRAW_INTERVAL,
        "options": {"expires": SECKILL_DRAW_INTERVAL},
    },
    "reconcile": {
        "task": "seckill.reconcile",
        "schedule": SECKILL_RECONCILE_INTERVAL,
        "options": {"expires": SECKILL_RECONCILE_INTERVAL},
    },
}
