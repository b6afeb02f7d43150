"""Where the system's Redis roles live during a run (`--redis`): `one` server for everything (the default: the
test Redis, BENCH_REDIS_DB), or `cluster`: the gate on a local Redis Cluster of 3 masters and the broker and
results on a Sentinel set (a master, a replica, a sentinel), private redis-server processes started for the run
(seckill_site/local_redis_sets.py, as `make cluster` starts them). Each Redis node is named by its role, so that
the run reports the CPU and the commands each one served per request."""

from __future__ import annotations

import shutil
from pathlib import Path

import redis


class RedisLayout:
    def __init__(self, kind: str, directory: Path):
        self.kind, self.directory = kind, directory
        self.cluster = self.sentinels = None
        self.nodes: dict[str, tuple[int, int | None]] = {}  # role name -> (port, pid of its process or None)

    def start(self, redis_url: str) -> dict:
        """Starts the layout's processes; returns the settings that point the system at them."""
        if self.kind == "one":
            port = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs.get("port", 6379)
            self.nodes = {"redis": (port, None)}
            return {}
        from seckill_site.local_redis_sets import MASTER_NAME, RedisClusterProcesses, RedisSentinelSet

        shutil.rmtree(self.directory, ignore_errors=True)
        self.cluster = RedisClusterProcesses(self.directory / "gate", masters=3)
        self.sentinels = RedisSentinelSet(self.directory / "sentinel", replicas=1, sentinels=1)
        self.cluster.start()
        self.sentinels.start()
        for port in self.cluster.ports:
            self.nodes[f"gate:{port}"] = (port, self.cluster.procs[port].pid)
        master = self.sentinels.master_port
        self.nodes[f"broker:{master}"] = (master, self.sentinels.procs[master].pid)
        for port in self.sentinels.replica_ports:
            self.nodes[f"broker-replica:{port}"] = (port, self.sentinels.procs[port].pid)
        return {
            "SECKILL_GATE_URL": self.cluster.url,
            "SECKILL_GATE_CLUSTER": "1",
            "CELERY_BROKER_URL": self.sentinels.url,
            "CELERY_RESULT_BACKEND": self.sentinels.url,
            "SECKILL_SENTINEL_MASTER": MASTER_NAME,
        }

    def broker_port(self) -> int:
        return self.sentinels.master_port if self.sentinels else self.nodes["redis"][0]

    def calls(self) -> dict[str, int]:
        """Commands each node has run so far (INFO commandstats, which counts those a script runs too; with one
        server, every database's), the scripts among its calls, and the broker's LPUSHes (messages published)."""
        out = {}
        for role, (port, _) in self.nodes.items():
            stats = redis.Redis(port=port, socket_timeout=5).info("commandstats")
            out[role] = sum(entry["calls"] for entry in stats.values())
            out[f"{role} scripts"] = sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("evalsha", "eval"))
            if port == self.broker_port():
                out["broker lpush"] = stats.get("cmdstat_lpush", {}).get("calls", 0)
        return out

    def stop(self) -> None:
        for processes in (self.sentinels, self.cluster):
            if processes is not None:
                processes.stop()
