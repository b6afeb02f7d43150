"""kombu's Sentinel channel, closing without a crash after a failover.

Changes: `kombu.transport.redis.SentinelChannel._connparams` (private) in a subclass, made the transport of sentinel://
brokers through `kombu.transport.TRANSPORT_ALIASES` and its private `_transport_cache`.
Why: when the broker's master died, the worker's consumer closed its connection to reconnect; closing the channel
gives its unacknowledged messages back, which asks for a new connection pool, whose parameters kombu reads from a
transport whose client that close had already dropped: an AttributeError, which the worker does not count as a
connection error, so it stopped ("Unrecoverable error"), one failover in three here
(tests/integration/test_failover.py). Raised as a connection error instead, the close goes on and the worker
reconnects to the new master; the messages come back by the unacknowledged scan, or the sweeper.
Off: kombu's own channel, and the worker may exit on a failover (a process manager restarts it).
"""

from __future__ import annotations

import kombu.transport
import redis
from kombu.transport import redis as kombu_redis

from seckill_site import integrations

TESTED = {"kombu": ("5.7.0",)}


class SentinelChannel(kombu_redis.SentinelChannel):
    def _connparams(self, asynchronous=False):
        if self.connection.client is None:  # the transport was closed under this channel
            raise redis.exceptions.ConnectionError("the broker connection is closed")
        return super()._connparams(asynchronous=asynchronous)


class SentinelTransport(kombu_redis.SentinelTransport):
    Channel = SentinelChannel


def apply() -> bool:
    """Make SentinelTransport the transport of sentinel:// brokers; True if it is."""
    if not integrations.allowed(__name__, TESTED):
        return False
    kombu.transport.TRANSPORT_ALIASES["sentinel"] = f"{__name__}:SentinelTransport"
    kombu.transport._transport_cache.pop("sentinel", None)
    return True
