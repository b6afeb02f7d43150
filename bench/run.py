#!/usr/bin/env python
"""The flash-sale benchmark: one command that starts the system as production runs it, loads it, and audits.

    .venv/bin/python bench/run.py            # the full run (20,000 buyers, stock 500)
    .venv/bin/python bench/run.py --quick    # a small run (2,000 buyers, stock 100, short floods)

Starts the web server and a Celery worker from the Procfile's own command lines, with settings from the environment
(SQLite in bench/.bench.sqlite3 unless DATABASE_URL is set; Redis database BENCH_REDIS_DB, default 13; the log
levels and access log users get, or --quiet-logs), creates the buyers (create_buyers) and the products, and
measures, each against its comparator in the same run:
  1. burst:     every buyer fires at once, losers retry once; versus the naive synchronous comparator
  2. sold-out:  POST /api/seckill/ on a sold-out product versus GET /api/time/ (wrk); naive sold-out too
  3. accepted:  purchases that all succeed versus a Celery no-op round trip (wrk)
  4. product page: GET /api/products/<id>/ of a sale about to open, with the buyer's token, versus GET /api/time/
  5. anti-bot:  a path issued for a solved challenge versus GET /api/time/; purchases with a path versus the no-op;
                the sold-out answer of a product sold through paths versus GET /api/time/ (bench/scenarios/anti_bot.py)
  6. draw:      a draw's entries (POST /api/seckill/, 202 `entered`) versus GET /api/time/ (bench/scenarios/draw.py)
then audits every product (orders == units sold == stock taken, in the database and in Redis; no buyer with two
orders; no 5xx; nothing left pending). Writes bench/results/<time>.json and the table in BENCHMARKS.md.

    --servers granian,gunicorn     # each scenario on both web servers, side by side, slices alternated
    --servers granian,granian:quiet  # the same server with and without its access log and INFO lines

With several servers (`seckill_site/web_server.py`; `:quiet` = no access log, WARNING level), each runs on its own
port beside one worker; the first is the one the table row and the targets are about, the others are compared
with it (`server_ratios` in the JSON).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import report as bench_report  # noqa: E402
from bench.audit import audit, wait_until_released, wait_until_settled  # noqa: E402
from bench.redis_layout import RedisLayout  # noqa: E402
from bench.scenarios.accepted import accepted_scenario  # noqa: E402
from bench.scenarios.anti_bot import anti_bot_scenario  # noqa: E402
from bench.scenarios.burst import burst_scenario  # noqa: E402
from bench.scenarios.draw import draw_scenario  # noqa: E402
from bench.scenarios.expiring import due_orders  # noqa: E402
from bench.scenarios.product_page import product_page_scenario  # noqa: E402
from bench.scenarios.sold_out import sold_out_scenario  # noqa: E402
from bench.summary import ratios, server_ratios, targets, update_markdown  # noqa: E402
from bench.system import (  # noqa: E402
    RESULTS,
    RssSampler,
    System,
    bench_env,
    ensure_bench_requirements,
    ensure_wrk,
    meta,
    reset_state,
)

SCENARIOS = ("burst", "sold_out", "accepted", "product_page", "anti_bot", "draw")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small run: 2,000 buyers, stock 100, 5 s floods")
    p.add_argument("--buyers", type=int, default=20_000)
    p.add_argument(
        "--expiring",
        type=int,
        default=0,
        help="unpaid orders that come due as each flood starts, expired meanwhile by beat (which then runs too)",
    )
    p.add_argument("--stock", type=int, default=500)
    p.add_argument("--duration", type=int, default=32, help="seconds of each wrk flood, over all its slices")
    p.add_argument("--rounds", type=int, default=16, help="interleaved slices of each wrk flood")
    p.add_argument("--connections", type=int, default=50, help="wrk connections")
    p.add_argument("--burst-processes", type=int, default=2, help="Locust processes of the burst")
    p.add_argument("--burst-users", type=int, default=100, help="Locust users (connections) per burst process")
    p.add_argument("--burst-timeout", type=int, default=300, help="seconds after which a burst process gives up")
    p.add_argument(
        "--burst-rounds", type=int, default=1, help="bursts per web server (alternated; each on a new product)"
    )
    p.add_argument(
        "--burst-warmup",
        type=int,
        default=-1,
        help="buyers of an unmeasured burst on each path (ours on each server, then the naive one) before the "
        "measured ones, as the crowd's page views warm a real sale's processes; default a tenth of --buyers, 0: none",
    )
    p.add_argument("--web-workers", type=int, default=2)
    p.add_argument("--web-threads", type=int, default=32)
    p.add_argument("--worker-concurrency", type=int, default=2)
    p.add_argument("--worker-pool", default="prefork", choices=("prefork", "threads", "solo"))
    p.add_argument("--prefetch", type=int, default=16, help="Celery worker prefetch multiplier (as settings)")
    p.add_argument("--port", type=int, default=8765, help="the first web server's port (the next ones: +1, +2...)")
    p.add_argument(
        "--servers",
        default="",
        help="comma-separated web servers to run side by side (granian, gunicorn; ':quiet' after a name: no access "
        "log, WARNING level); default WEB_SERVER or the Procfile's default",
    )
    p.add_argument(
        "--quiet-logs",
        action="store_true",
        help="the worker (and every web server) at WARNING level, no access log (how the bench ran before it "
        "logged as the Procfile does)",
    )
    p.add_argument(
        "--redis",
        choices=("one", "cluster"),
        default="one",
        help="one Redis for every role (default), or the gate on a local 3-master Redis Cluster and the broker and "
        "results on a Sentinel set, started for the run (bench/redis_layout.py; implies --no-markdown)",
    )
    p.add_argument(
        "--buckets",
        type=int,
        default=1,
        help="the burst's product in this many gate buckets (Product.gate_buckets; with --redis cluster, the "
        "split of its calls over the nodes; implies --no-markdown unless 1)",
    )
    p.add_argument("--no-markdown", action="store_true", help="do not update BENCHMARKS.md")
    p.add_argument(
        "--only",
        choices=SCENARIOS,
        action="append",
        help="run only this scenario group (repeatable; implies --no-markdown)",
    )
    args = p.parse_args()
    if args.only or args.redis != "one" or args.buckets != 1:
        args.no_markdown = True
    args.only = set(args.only or SCENARIOS)
    from seckill_site.web_server import DEFAULT_SERVER, SERVERS

    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()] or [
        os.environ.get("WEB_SERVER") or DEFAULT_SERVER
    ]
    for spec in args.servers:
        if spec.split(":")[0] not in SERVERS or spec.split(":")[1:] not in ([], ["quiet"]):
            p.error(f"--servers: {spec!r} is not one of {', '.join(SERVERS)} (optionally with ':quiet')")
    if len(set(args.servers)) != len(args.servers):
        p.error("--servers: each at most once")
    if args.quick:
        args.buyers, args.stock, args.duration, args.rounds = 2_000, 100, 6, 3
    if args.burst_warmup < 0:
        args.burst_warmup = args.buyers // 10
    return args


# --- main -------------------------------------------------------------------------------------------------
def main() -> int:
    args = parse_args()
    # Stopped with SIGTERM: stop what it started too (the finally blocks and atexit run on SystemExit only).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    RESULTS.mkdir(parents=True, exist_ok=True)
    env = bench_env(args)
    redis_layout = RedisLayout(args.redis, RESULTS / "redis-layout.tmp")
    atexit.register(redis_layout.stop)  # (after the audit, which reads the gate)
    env.update(redis_layout.start(env["REDIS_URL"]))
    os.environ.update(env)
    ensure_bench_requirements()
    ensure_wrk()
    reset_state(env)

    import django

    django.setup()
    from django.core.management import call_command

    tokens_csv = RESULTS / "buyers.csv"
    call_command("create_buyers", str(args.buyers), "--output", str(tokens_csv))
    tokens = [line.split(",", 2)[2].strip() for line in tokens_csv.read_text().splitlines()[1:]]
    product_ids = {}

    system = System(args, env, redis_layout)
    system.start()
    report = {"scenarios": {}, "audits": {}}
    sampler = RssSampler(system)  # the whole run's peak, per server
    sampler.start()
    try:
        if "burst" in args.only:
            burst_scenario(args, system, tokens, report, product_ids)
        if "sold_out" in args.only:
            due_orders(args, report, product_ids)
            sold_out_scenario(args, system, tokens_csv, report)
        if "accepted" in args.only:
            due_orders(args, report, product_ids)
            accepted_scenario(args, system, report, product_ids)
        if "product_page" in args.only:
            product_page_scenario(args, system, tokens_csv, report)
        if "anti_bot" in args.only:
            anti_bot_scenario(args, system, tokens_csv, report, product_ids)
        if "draw" in args.only:
            draw_scenario(args, system, tokens_csv, report, product_ids)
        wait_until_settled()
        for entry in report.get("expiring", []):
            entry["seconds_after_the_floods_until_all_released"] = wait_until_released(entry["product_id"])
        report["idle_rss_mb"] = system.rss_mb()
        report["peak_rss_mb"] = dict(sampler.peak)
    finally:
        sampler.stop_event.set()
        system.stop()

    for name, pid in product_ids.items():
        report["audits"][name] = audit(pid, gate=not name.endswith("naive"))
    report["ratios"] = ratios(report["scenarios"])
    report["server_ratios"] = server_ratios(args, report["scenarios"])
    report["meta"] = meta(args, env)
    report["targets"] = targets(report)
    # The last full run's JSON is kept in git (latest.json); a partial run's, or one on the cluster layout, only until
    # the next (last.json).
    full = set(args.only) == set(SCENARIOS) and args.redis == "one" and args.buckets == 1
    out = RESULTS / ("latest.json" if full else "last.json")
    out.write_text(json.dumps(report, indent=2))
    bench_report.history_append(report)
    print(
        json.dumps(
            {
                "ratios": report["ratios"],
                "server_ratios": report["server_ratios"],
                "peak_rss_mb": report["peak_rss_mb"],
                "targets": report["targets"],
                "audit_errors": {k: v["errors"] for k, v in report["audits"].items()},
            },
            indent=2,
        )
    )
    if not args.no_markdown:
        update_markdown(report)
        for path in bench_report.plots(report):
            print(f"plot: {path}")
    print(f"results: {out}, a line in {bench_report.HISTORY}")
    return 0 if all(not a["errors"] for a in report["audits"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
