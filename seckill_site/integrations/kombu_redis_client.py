"""kombu's Redis channel, reusing one client for publishes and acks.

Changes: `kombu.transport.redis.Channel._create_client` (private) in a subclass, made the transport of redis:// and
rediss:// brokers through `kombu.transport.TRANSPORT_ALIASES` and its private `_transport_cache`.
Why: the channel built a new redis.Redis client for every publish and ack, a large share of a publish's CPU (measured:
docs/benchmark-log.md, "History", first round). A redis-py client is thread-safe and only borrows connections from the
pool, so one per channel and pool serves them all; the asynchronous (consumer) client is unchanged.
Off: kombu's own channel, a client per publish.
"""

from __future__ import annotations

import kombu.transport
from kombu.transport import redis as kombu_redis

from seckill_site import integrations

TESTED = {"kombu": ("5.7.0",)}


class RedisChannel(kombu_redis.Channel):
    _sync_client = None

    def _create_client(self, asynchronous=False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        pool, client = self.pool, self._sync_client
        if client is None or client.connection_pool is not pool:  # a reconnect replaces the pool
            client = self._sync_client = super()._create_client()
        return client


class RedisTransport(kombu_redis.Transport):
    Channel = RedisChannel


def apply() -> bool:
    """Make RedisTransport the transport of redis:// and rediss:// brokers (the URL's scheme still decides TLS);
    True if it is."""
    if not integrations.allowed(__name__, TESTED):
        return False
    for scheme in ("redis", "rediss"):
        kombu.transport.TRANSPORT_ALIASES[scheme] = f"{__name__}:RedisTransport"
        kombu.transport._transport_cache.pop(scheme, None)
    return True
