#!/usr/bin/env python
"""A gate node's CPU per call of each step of a purchase, by outcome: what one Redis node (a cluster master, which
runs one thread) spends, so that docs/capacity.md can say how many calls a node serves per second.

    .venv/bin/python bench/gate_cost.py [calls]

Runs a private redis-server 7 on a free port (nothing else on it: its CPU is this script's calls alone), and
calls the gate's own functions (seckill/gate/admissions.py, stock.py: admit with a buyer's record and two
rate-limit rules, as a purchase does on one server; sell; the outcome's record; and as on a cluster, the admission
alone and the limits alone), one call per round trip as the web and worker processes make them. For each: the server
process' CPU per call (from /proc: the command, its Lua and the socket's reads and writes) and Redis' own time
in the call (INFO commandstats).
"""

import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def server_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    from seckill_site.local_redis_sets import free_ports, redis_binaries

    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    (port,) = free_ports(1)
    directory = tempfile.mkdtemp(prefix="gate-cost-")
    server = subprocess.Popen(
        [redis_binaries()[0], "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory],
        stdout=subprocess.DEVNULL,
    )
    os.environ.update(
        DJANGO_SETTINGS_MODULE="seckill_site.settings",
        DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
        SECKILL_GATE_URL=f"redis://127.0.0.1:{port}/0",
    )
    try:
        import django

        django.setup()
        from django.utils import timezone

        from seckill.gate import access_state, admissions, records
        from seckill.gate import stock as gate
        from seckill.gate.client import get_client

        client = get_client()
        while True:
            try:
                client.ping()
                break
            except Exception:
                time.sleep(0.05)
        now = timezone.now()
        window = dict(enabled=True, start_time=now - timedelta(hours=1), end_time=now + timedelta(hours=1))

        def product(pid: int, stock: int) -> int:
            gate.load_product(product_id=pid, stock_left=stock, per_user_limit=1, **window)
            return pid

        def measure(label: str, call) -> None:
            client.config_resetstat()
            cpu, wall = server_cpu_s(server.pid), time.perf_counter()
            for i in range(calls):
                call(i)
            spent = server_cpu_s(server.pid) - cpu
            # Redis' own time in the calls: a script's (EVALSHA's, which holds the commands it runs) or else every
            # command's (those a script runs are counted again under their own names: left out then)
            stats = client.info("commandstats")
            top = [stats["cmdstat_evalsha"]] if "cmdstat_evalsha" in stats else list(stats.values())
            in_calls = sum(v["usec"] for v in top) - stats.get("cmdstat_config", {}).get("usec", 0) * (len(top) > 1)
            print(
                f"{label:>34}: server CPU {spent / calls * 1e6:5.1f} us per call, in the call itself "
                f"{in_calls / calls:5.1f} us, wall {(time.perf_counter() - wall) / calls * 1e6:5.0f} us"
            )

        rules = lambda i: [("user", str(i), 5, 1), ("user", str(i), 60, 60)]  # the default buyer limits
        admit = dict(factor=1.5, slot_ms=300_000, quantity=1, created=time.time())
        big = product(1, 10**9)
        measure(
            "admit: admitted (record, limits)",
            lambda i: admissions.admit(product_id=big, request_id=f"1-{i}", user_id=i, rate_limits=rules(i), **admit),
        )
        measure(
            "sell: sold",
            lambda i: gate.sell(product_id=big, request_id=f"1-{i}", user_id=i, quantity=1),
        )
        measure(
            "outcome recorded, slot freed",
            lambda i: records.request_set_outcome(
                product_id=big, request_id=f"1-{i}", outcome={"code": "success", "order_id": i}, free_slot=True
            ),
        )
        busy = product(2, 1)  # one unit, its slots (ceil(1 x 1.5) = 2) taken
        for i in range(2):
            admissions.admit(product_id=busy, request_id=f"2-x{i}", user_id=10**8 + i, **admit)
        measure(
            "admit: busy (limits counted)",
            lambda i: admissions.admit(product_id=busy, request_id=f"2-{i}", user_id=i, rate_limits=rules(i), **admit),
        )
        gone = product(3, 0)
        measure(
            "admit: sold_out (limits counted)",
            lambda i: admissions.admit(product_id=gone, request_id=f"3-{i}", user_id=i, rate_limits=rules(i), **admit),
        )
        measure(
            "admit: rate_limited (one buyer)",
            lambda i: admissions.admit(product_id=big, request_id=f"4-{i}", user_id=7, rate_limits=rules(7), **admit),
        )
        # On a cluster the limits are counted on their subject's node, the admission alone on the product's:
        measure(
            "cluster, product's node: admit busy",
            lambda i: admissions.admit(product_id=busy, request_id=f"2-c{i}", user_id=i, **admit),
        )
        measure(
            "cluster, product's node: sold_out",
            lambda i: admissions.admit(product_id=gone, request_id=f"3-c{i}", user_id=i, **admit),
        )
        measure("cluster, subject's node: limits", lambda i: access_state.rate_limit_hit(rules(10**6 + i)))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
