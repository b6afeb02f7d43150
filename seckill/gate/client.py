"""The Redis connection pool and the Lua scripts of the sale.

Scripts are registered through redis-py's `register_script`, which falls back to EVAL on NOSCRIPT, so a
restarted Redis (empty script cache) costs one reload, never an error (docs/traps.md).
"""

from __future__ import annotations

import threading
from pathlib import Path

import redis
from django.conf import settings

_LUA_DIR = Path(__file__).resolve().parent / "lua"
_lock = threading.RLock()  # re-entrant: script() takes it and calls get_client()
_client: redis.Redis | None = None
_scripts: dict[str, redis.commands.core.Script] = {}

# Scripts that run a step shared with another, and the files of those steps, put in front of the script's own
# (Redis has no include): the rate limit is one rule whether counted alone or with the admission.
_PRELUDES = {"ratelimit": ("limits",), "admit": ("limits",)}


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
