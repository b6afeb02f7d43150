#!/usr/bin/env python
"""How cost grows with the work: the burst at 2,000, 20,000 and 200,000 buyers (stock 1/20 of them), then a
sold-out flood of 10 minutes, on one system started as bench/run.py starts it.

    .venv/bin/python bench/curve.py                               # the whole curve (about 25 minutes)
    .venv/bin/python bench/curve.py --sizes 2000,20000 --flood-minutes 2   # a shorter one

For each burst: requests/s, p99, peak RSS of the web and worker processes, every buyer answered, the audit, the
CPU each part of the system spent (where the time goes), and Redis' memory: its growth over the burst per
request, and the keys a request leaves (each with its TTL, so the memory a sale holds is bounded by the
request rate times the TTL). For the flood: requests/s, p99 and RSS minute by minute. Writes
bench/results/curve.json, a line per burst in bench/history.csv and docs/img/bench-curve.png.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import audit as bench_audit  # noqa: E402
from bench import load, run  # noqa: E402
from bench import report as bench_report  # noqa: E402
from bench import system as bench_system  # noqa: E402
from bench.redis_layout import RedisLayout  # noqa: E402


def parse_args():
    import argparse

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="2000,20000,200000", help="buyers of each burst, comma-separated")
    p.add_argument("--stock-share", type=int, default=20, help="stock = buyers / this")
    p.add_argument("--flood-minutes", type=int, default=10, help="minutes of the sold-out flood (0: none)")
    p.add_argument("--port", type=int, default=8766)
    own, rest = p.parse_known_args()
    command = " ".join(["python", "bench/curve.py", *sys.argv[1:]])
    sys.argv = [sys.argv[0], "--no-markdown", "--port", str(own.port), *rest]  # the rest: bench/run.py's options
    args = run.parse_args()
    args.command = command
    args.sizes = [int(n) for n in own.sizes.split(",")]
    args.buyers = max(args.sizes)
    args.stock_share, args.flood_minutes = own.stock_share, own.flood_minutes
    args.burst_timeout = max(args.burst_timeout, 1200)
    if args.redis != "one":
        p.error("--redis: the curve reads its Redis figures from one server")
    return args


def key_kind(key: str) -> str:
    """seckill:{<product>}:request:<id> -> "request", seckill:rl:{<subject>}:<window> -> "rl", Celery's result
    celery-task-meta-<id> -> "celery-task-meta", a broker's key as it is."""
    parts = key.split(":")
    if parts[0] == "seckill" and len(parts) > 2:
        return parts[2] if parts[1].startswith("{") else parts[1]
    if key.startswith("celery-task-meta-"):
        return "celery-task-meta"
    return key


def redis_figures() -> dict:
    """The server's memory, and the bench database's keys by kind with a sample's memory and TTL."""
    from seckill.gate.client import get_client

    client = get_client()
    kinds: dict[str, list[str]] = {}
    for key in client.scan_iter(count=10_000):
        kinds.setdefault(key_kind(key), []).append(key)
    figures = {"used_memory": client.info("memory")["used_memory"], "keys": {}}
    for kind, names in sorted(kinds.items()):
        sample = names[:: max(1, len(names) // 200)][:200]
        sizes = [client.memory_usage(k) or 0 for k in sample]
        ttls = [client.pttl(k) for k in sample]
        figures["keys"][kind] = {
            "count": len(names),
            "bytes_each": round(sum(sizes) / len(sizes)),
            "ttl_s": round(max(ttls) / 1000) if max(ttls) > 0 else None,
        }
    return figures


def one_burst(args, system, tokens: list[str], buyers: int) -> dict:
    stock = max(1, buyers // args.stock_share)
    product = bench_audit.make_product(stock, f"curve-{buyers}")
    before_redis, before_cpu = redis_figures(), system.cpu_seconds()
    result = load.burst(args, system, "/api/seckill/", product.pk, tokens[:buyers])
    bench_audit.wait_until_settled()
    after_redis, after_cpu = redis_figures(), system.cpu_seconds()
    result["stock"] = stock
    result["audit"] = bench_audit.audit(product.pk)
    spent = {k: after_cpu[k] - before_cpu[k] for k in before_cpu}
    result["cpu_s"] = {k: round(v, 1) for k, v in spent.items()}
    result["cpu_ms_per_request"] = {k: round(v / result["requests"] * 1000, 3) for k, v in spent.items()}
    result["redis"] = {
        "memory_growth_bytes_per_request": round(
            (after_redis["used_memory"] - before_redis["used_memory"]) / result["requests"]
        ),
        "keys_after": after_redis["keys"],
    }
    print(
        f"burst {buyers:,}: {result['rps']:,.0f} req/s, p99 {result['p99_ms']:.0f} ms, "
        f"{result['answered']:,}/{buyers:,} answered, RSS {result['peak_rss_mb']}, audit {result['audit']['errors']}",
        flush=True,
    )
    return result


def flood(args, system, tokens_csv: Path) -> dict:
    """The sold-out answer for `args.flood_minutes` minutes, one wrk slice a minute, with RSS sampled."""
    sold_out = bench_audit.make_product(0, "curve-sold-out")
    body = json.dumps({"product_id": sold_out.pk})
    minutes, offset = [], 0
    for minute in range(args.flood_minutes):
        sampler = bench_system.RssSampler(system)
        sampler.start()
        cpu_before = system.cpu_seconds()
        result = load.wrk(args, f"{system.base}/api/seckill/", tokens_csv, "POST", body, duration=60, offset=offset)
        sampler.stop_event.set()
        cpu_after = system.cpu_seconds()
        offset = (offset + result["buyers_used"]) % max(1, load.buyers_in(tokens_csv) - 1)
        minutes.append(
            {
                "rps": round(result["rps"]),
                "p99_ms": result["p99_ms"],
                "errors": result["errors"],
                "statuses": result["statuses"],
                "peak_rss_mb": {k: round(v, 1) for k, v in sampler.peak.items()},
                "web_cpu_ms_per_request": round(
                    (cpu_after["web"] - cpu_before["web"]) / max(1, result["requests"]) * 1000, 3
                ),
                "redis_used_memory": redis_figures()["used_memory"],
            }
        )
        print(f"flood minute {minute + 1}: {minutes[-1]}", flush=True)
    return {
        "minutes": minutes,
        "rps_by_round": [m["rps"] for m in minutes],
        "p99_ms_by_round": [m["p99_ms"] for m in minutes],
    }


def main() -> int:
    args = parse_args()
    bench_system.RESULTS.mkdir(parents=True, exist_ok=True)
    env = bench_system.bench_env(args)
    redis_layout = RedisLayout(args.redis, bench_system.RESULTS / "redis-layout.tmp")
    atexit.register(redis_layout.stop)
    env.update(redis_layout.start(env["REDIS_URL"]))
    os.environ.update(env)
    bench_system.ensure_bench_requirements()
    bench_system.ensure_wrk()
    bench_system.reset_state(env)

    import django

    django.setup()
    from django.core.management import call_command

    tokens_csv = bench_system.RESULTS / "buyers.csv"
    started = time.monotonic()
    call_command("create_buyers", str(args.buyers), "--output", str(tokens_csv))
    print(f"{args.buyers:,} buyers made in {time.monotonic() - started:.0f} s", flush=True)
    tokens = [line.split(",", 2)[2].strip() for line in tokens_csv.read_text().splitlines()[1:]]

    system = bench_system.System(args, env, redis_layout)
    system.start()
    curve = {"bursts": [], "meta": bench_system.meta(args, env)}
    curve["meta"]["command"] = args.command
    try:
        warmup = min(args.sizes) // 10
        if warmup:  # unmeasured, as in bench/run.py: the first burst after start must not pay for process warm-up
            product = bench_audit.make_product(max(1, warmup // args.stock_share), "curve-warmup")
            curve["warmup"] = load.burst(args, system, "/api/seckill/", product.pk, tokens[-warmup:])
            bench_audit.wait_until_settled()
            curve["warmup"]["audit"] = bench_audit.audit(product.pk)
        for buyers in args.sizes:
            curve["bursts"].append(one_burst(args, system, tokens, buyers))
        if args.flood_minutes:
            curve["flood"] = flood(args, system, tokens_csv)
    finally:
        system.stop()

    out = bench_system.RESULTS / "curve.json"
    out.write_text(json.dumps(curve, indent=2))
    for b in curve["bursts"]:
        bench_report.history_append(
            {
                "meta": {**curve["meta"], "command": f"{curve['meta']['command']} (burst of {b['buyers']:,})"},
                "ratios": {},
                "audits": {"burst": b["audit"]},
            }
        )
    print(bench_report.curve_plot(curve))
    print(f"results: {out}")
    errors = [e for b in [*curve["bursts"], curve.get("warmup")] if b for e in b["audit"]["errors"]]
    return 0 if not errors and all(b["answered"] == b["buyers"] for b in curve["bursts"]) else 1


if __name__ == "__main__":
    sys.exit(main())
