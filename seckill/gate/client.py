"""The gate's Redis connection pool and the Lua scripts of the sale.

The gate is one Redis server (SECKILL_GATE_URL, REDIS_URL by default) or a Redis Cluster (SECKILL_GATE_CLUSTER:
SECKILL_GATE_URL lists startup nodes, comma-separated; redis-py has no cluster URL scheme). On a cluster a script
runs on the node of its keys' slot, so every script's keys are in one slot (keys.py's table).
Scripts are registered through redis-py's `register_script`, which falls back to EVAL on NOSCRIPT, so a
restarted Redis (empty script cache) costs one reload, never an error (docs/traps.md).
"""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import urlsplit

import redis
from django.conf import settings
from redis.cluster import ClusterNode

_LUA_DIR = Path(__file__).resolve().parent / "lua"
_lock = threading.RLock()  # re-entrant: script() takes it and calls get_client()
_client: redis.Redis | redis.RedisCluster | None = None
_scripts: dict[str, redis.commands.core.Script] = {}

# Scripts that run a step shared with another, and the files of those steps, put in front of the script's own
# (Redis has no include): the rate limit is one rule whether counted alone or with the admission.
_PRELUDES = {"ratelimit": ("limits",), "admit": ("limits",), "enter": ("limits",)}


def get_client() -> redis.Redis | redis.RedisCluster:
    """One connection pool per process (redis-py resets it after a fork)."""
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                _client = _cluster_client() if settings.SECKILL_GATE_CLUSTER else _server_client()
    return _client


def is_cluster() -> bool:
    """Whether the gate is a Redis Cluster: then no script or MULTI may touch keys of two slots."""
    return bool(settings.SECKILL_GATE_CLUSTER)


def client_reset() -> None:
    """Forget this process' connections and scripts (the gate's settings changed: tests, a reconfigured shell)."""
    global _client
    with _lock:
        if _client is not None:
            _client.close()
        _client = None
        _scripts.clear()


def _server_client() -> redis.Redis:
    # A blocking pool: in a burst, a thread waits (up to `timeout`) for a free connection instead of failing
    # with "Too many connections".
    pool = redis.BlockingConnectionPool.from_url(
        settings.SECKILL_GATE_URL,
        max_connections=settings.SECKILL_REDIS_MAX_CONNECTIONS,
        timeout=2,
        decode_responses=True,
        socket_timeout=2,
        socket_connect_timeout=1,
        health_check_interval=30,
    )
    return redis.Redis(connection_pool=pool)


def _cluster_client() -> redis.RedisCluster:
    nodes = []
    for url in settings.SECKILL_GATE_URL.split(","):
        parts = urlsplit(url.strip())
        nodes.append(ClusterNode(parts.hostname or "127.0.0.1", parts.port or 6379))
    first = urlsplit(settings.SECKILL_GATE_URL.split(",")[0].strip())
    return redis.RedisCluster(
        startup_nodes=nodes,
        username=first.username,
        password=first.password,
        decode_responses=True,
        socket_timeout=2,
        socket_connect_timeout=1,
        health_check_interval=30,
        max_connections=settings.SECKILL_REDIS_MAX_CONNECTIONS,
    )


def script(name: str) -> redis.commands.core.Script:
    """The script seckill/gate/lua/<name>.lua, with its preludes, registered once per process."""
    registered = _scripts.get(name)
    if registered is None:
        with _lock:
            registered = _scripts.get(name)
            if registered is None:
                parts = (*_PRELUDES.get(name, ()), name)
                text = "\n".join((_LUA_DIR / f"{part}.lua").read_text() for part in parts)
                registered = get_client().register_script(text)
                _scripts[name] = registered
    return registered


def request_ttl_ms() -> int:
    """How long a request's decision and record are kept."""
    return settings.SECKILL_REQUEST_TTL * 1000
