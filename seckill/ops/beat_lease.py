"""Which celery beat runs the schedule, when beat runs on several hosts: the one holding a lease in Redis
(beat_lease.lua), renewed at each of its ticks; the others stand by and take the lease once it lapses.

A holder stops running the schedule by itself when it can no longer show that it holds the lease: Redis
unreachable past the lease's end (another beat may hold it by then), or its own sends to the broker failing (it
lets the lease lapse, so that a beat that can reach the broker takes over, and writes no heartbeat, so that
the workers' stand-in sweep starts if none can).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid

import redis

from seckill.gate import operations

logger = logging.getLogger(__name__)


class BeatLease:
    def __init__(self, ttl_s: float, clock=time.monotonic):
        self.ttl_s, self.clock = ttl_s, clock
        self.beat_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held_until = float("-inf")  # (clock) the end of the lease this beat last took or renewed
        self.sends_failing = False  # set by the scheduler when a send to the broker fails, cleared when one works
        self._compete_after = float("-inf")

    def renew(self) -> bool:
        """Take or renew the lease; True while this beat holds it. Not while its sends are failing: once its
        lease has lapsed that way, it leaves the others one lease's time to take it before it competes again."""
        was_held, started = self.held(), self.clock()
        if self.sends_failing and started >= self.held_until:
            self.sends_failing = False
            self._compete_after = started + self.ttl_s
        if not self.sends_failing and started >= self._compete_after:
            try:
                if operations.beat_lease_hold(beat_id=self.beat_id, ttl_ms=int(self.ttl_s * 1000)):
                    self.held_until = started + self.ttl_s  # (Redis' lease, set after `started`, ends later)
                else:
                    self.held_until = float("-inf")
            except redis.RedisError:  # held until its end at most: another beat may take it then
                logger.warning("beat %s: the lease could not be renewed", self.beat_id, exc_info=True)
        held = self.held()
        if held != was_held:
            logger.info("beat %s %s", self.beat_id, "runs the schedule" if held else "stands by")
        return held

    def held(self) -> bool:
        return self.clock() < self.held_until

    def release(self) -> None:
        """Give the lease up at once (a clean shutdown), if this beat holds it."""
        if self.held():
            operations.beat_lease_release(beat_id=self.beat_id)
            self.held_until = float("-inf")
