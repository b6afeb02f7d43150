"""A local Redis Cluster (the gate) and Redis Sentinel set (the broker and results) for trying the scale-out layout
(docs/deploy.md): `make cluster` starts both in the foreground, prints the settings that point `make run` at them
(and writes them to .run/cluster/env), and stops every process it started on Ctrl-C.

Ports: the cluster's masters SECKILL_LOCAL_CLUSTER_PORTS (7001,7002,7003; their bus ports +10000), the Sentinel
set's master, replica and three sentinels SECKILL_LOCAL_SENTINEL_PORTS (6380,6381,26379,26380,26381)."""

import os
import shutil
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seckill_site.local_redis_sets import MASTER_NAME, RedisClusterProcesses, RedisSentinelSet  # noqa: E402


def ports(name: str, default: str) -> list[int]:
    return [int(port) for port in os.environ.get(name, default).split(",")]


def main() -> int:
    directory = ROOT / ".run" / "cluster"
    shutil.rmtree(directory, ignore_errors=True)  # each start is a fresh, empty cluster
    cluster = RedisClusterProcesses(directory / "gate", ports=ports("SECKILL_LOCAL_CLUSTER_PORTS", "7001,7002,7003"))
    sentinels = RedisSentinelSet(
        directory / "sentinel",
        replicas=1,
        sentinels=3,
        ports=ports("SECKILL_LOCAL_SENTINEL_PORTS", "6380,6381,26379,26380,26381"),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        cluster.start()
        sentinels.start()
        settings = {
            "SECKILL_GATE_URL": cluster.url,
            "SECKILL_GATE_CLUSTER": "1",
            "CELERY_BROKER_URL": sentinels.url,
            "CELERY_RESULT_BACKEND": sentinels.url,
            "SECKILL_SENTINEL_MASTER": MASTER_NAME,
        }
        lines = [f"{name}='{value}'" for name, value in settings.items()]
        (directory / "env").write_text("".join(f"export {line}\n" for line in lines))
        print("A 3-node Redis Cluster (the gate) and a Sentinel set (master, replica, 3 sentinels) are up.")
        print("In another shell, run the system on them:\n")
        print(f"  {' '.join(lines)} make run\n")
        print(f"(or: . {directory.relative_to(ROOT)}/env && make run). Ctrl-C here stops them.", flush=True)
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sentinels.stop()
        cluster.stop()
        print("stopped the cluster and the Sentinel set")
    return 0


if __name__ == "__main__":
    sys.exit(main())
