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
import importlib.util
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from bench import report as bench_report  # noqa: E402

SCENARIOS = ("burst", "sold_out", "accepted", "product_page")


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
        help="the worker (and every web server) at WARNING level, no access log, as the bench ran before session 7",
    )
    p.add_argument("--no-markdown", action="store_true", help="do not update BENCHMARKS.md")
    p.add_argument(
        "--only",
        choices=SCENARIOS,
        action="append",
        help="run only this scenario group (repeatable; implies --no-markdown)",
    )
    args = p.parse_args()
    if args.only:
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


# --- environment ------------------------------------------------------------------------------------------
def bench_env(args) -> dict:
    from seckill_site.local_redis import ensure_redis, with_db

    base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    ensure_redis(base)
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",  # the project's, with the comparators' endpoints and task
        REDIS_URL=with_db(base, int(os.environ.get("BENCH_REDIS_DB", "13"))),
        DATABASE_URL=os.environ.get("DATABASE_URL", f"sqlite:///{ROOT / 'bench' / '.bench.sqlite3'}"),
        # What users run (the Procfile's levels, the access log on) unless --quiet-logs
        LOG_LEVEL="WARNING" if args.quiet_logs else os.environ.get("LOG_LEVEL", "INFO"),
        WEB_ACCESS_LOG="0" if args.quiet_logs else os.environ.get("WEB_ACCESS_LOG", "1"),
        # the Procfile's `python`, `celery`: this interpreter's
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        JWT_ACCESS_LIFETIME="86400",
        DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
        # Metrics as the run command records them (SECKILL_METRICS=0 in the environment turns them off)
        PROMETHEUS_MULTIPROC_DIR=str(RESULTS / "prometheus.tmp"),
    )
    shutil.rmtree(env["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
    Path(env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True)
    return env


def ensure_bench_requirements() -> None:
    """psutil and Locust (bench/requirements.txt), installed into this Python when missing. (Not imported here:
    importing Locust monkey-patches the process for gevent.)"""
    if not all(importlib.util.find_spec(name) for name in ("locust", "psutil", "matplotlib")):
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "-r", str(ROOT / "bench" / "requirements.txt")], check=True
        )


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:  # Debian's package; CI and fresh machines are root here
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, stdout=subprocess.DEVNULL)
        path = shutil.which("wrk")
    return path


def reset_state(env) -> None:
    import redis

    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    if env["DATABASE_URL"].startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(env["DATABASE_URL"][len("sqlite:///") :] + suffix).unlink(missing_ok=True)
    else:
        subprocess.run(
            [sys.executable, "manage.py", "flush", "--noinput"],
            cwd=ROOT,
            env=env,
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)


def procfile() -> dict:
    """The Procfile's command lines by process name."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def server_key(i: int, spec: str) -> str:
    """The name a web server's figures go under: the first server's are the plain names, as before."""
    return "" if i == 0 else f"@{spec}"


class System:
    """The web server(s) and a Celery worker, started from the Procfile's command lines."""

    def __init__(self, args, env):
        self.args, self.env = args, env
        self._postgres_seen: dict[int, float] = {}  # pid -> CPU seconds at its last reading
        self.webs: dict[str, subprocess.Popen] = {}  # "web", "web@gunicorn", ... -> process
        self.worker = None
        self.extra = []
        self.bases = {server_key(i, spec): f"http://127.0.0.1:{args.port + i}" for i, spec in enumerate(args.servers)}
        self.base = self.bases[""]

    def start(self):
        commands = procfile()
        log = open(RESULTS / "system.log", "wb")
        for i, spec in enumerate(self.args.servers):
            name, _, quiet = spec.partition(":")
            env = dict(
                self.env,
                WEB_SERVER=name,
                WEB_BIND=f"127.0.0.1:{self.args.port + i}",
                WEB_WORKERS=str(self.args.web_workers),
                WEB_THREADS=str(self.args.web_threads),
            )
            if quiet:
                env.update(WEB_ACCESS_LOG="0", LOG_LEVEL="WARNING")
            self.webs[f"web{server_key(i, spec)}"] = subprocess.Popen(
                ["sh", "-c", f"exec {commands['web']}"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        worker = commands["worker"]
        if self.args.worker_pool != "prefork":
            worker += f" --pool {self.args.worker_pool}"
        self.worker = subprocess.Popen(
            ["sh", "-c", f"exec {worker}"],
            cwd=ROOT,
            env=dict(
                self.env,
                WORKER_CONCURRENCY=str(self.args.worker_concurrency),
                CELERY_WORKER_PREFETCH_MULTIPLIER=str(self.args.prefetch),
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if self.args.expiring:  # beat, as the Procfile runs it: its expiry sweep runs during the floods
            schedule = RESULTS / "beat-schedule.tmp"
            level = self.env["LOG_LEVEL"]
            self.extra.append(
                subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", "seckill_site", "beat", "-l", level, "-s", str(schedule)],
                    cwd=ROOT,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 60
        for base in self.bases.values():
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(f"{base}/api/time/", timeout=1)
                    break
                except OSError:
                    time.sleep(0.2)
        from seckill_site.celery import app

        while time.monotonic() < deadline and not app.control.ping(timeout=0.5):
            pass

    def _named(self) -> dict:
        return {**self.webs, "worker": self.worker}

    def cpu_seconds(self) -> dict:
        """CPU seconds used so far by each web server's processes, the worker processes, redis-server (every
        redis-server on this machine: the bench's Redis database shares the local server) and, on PostgreSQL, the
        database server."""
        import psutil

        def total(processes) -> float:
            seconds = 0.0
            for process in processes:
                try:
                    seconds += sum(process.cpu_times()[:2])
                except psutil.Error:  # exited meanwhile
                    pass
            return seconds

        out = {}
        for name, proc in self._named().items():
            try:
                parent = psutil.Process(proc.pid)
                out[name] = total([parent, *parent.children(recursive=True)])
                if name == "worker":  # of which the consumer (the main process: broker, acks, pool hand-off)
                    out["worker_consumer"] = total([parent])
            except psutil.Error:
                out[name] = 0.0
        on_postgres = self.env["DATABASE_URL"].startswith("postgres")
        servers: dict[str, list] = {"redis": [], "postgres": []}
        for process in psutil.process_iter(["name"]):
            name = process.info["name"] or ""
            if "redis-server" in name:
                servers["redis"].append(process)
            elif name == "postgres" and on_postgres:
                servers["postgres"].append(process)
        out["redis"] = total(servers["redis"])
        if on_postgres:
            # Every PostgreSQL process on this machine: a backend comes and goes with its connection, so each one's
            # last reading is kept after it exits (what it spent after that reading is missed; the web and the
            # worker keep their connections open).
            for process in servers["postgres"]:
                try:
                    self._postgres_seen[process.pid] = sum(process.cpu_times()[:2])
                except psutil.Error:
                    pass
            out["postgres"] = sum(self._postgres_seen.values())
        return out

    def rss_mb(self) -> dict:
        """The largest RSS among each server's processes (a server's main process and its workers)."""
        import psutil

        out = {}
        for name, proc in self._named().items():
            try:
                parent = psutil.Process(proc.pid)
                out[name] = max([p.memory_info().rss for p in [parent, *parent.children(recursive=True)]]) / 2**20
            except psutil.Error:
                out[name] = None
        return out

    def stop(self):
        procs = [*self.webs.values(), self.worker, *self.extra]
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=35)
            except subprocess.TimeoutExpired:
                proc.kill()


class RssSampler(threading.Thread):
    def __init__(self, system):
        super().__init__(daemon=True)
        self.system, self.peak, self.stop_event = system, {}, threading.Event()

    def run(self):
        while not self.stop_event.wait(0.2):
            for name, mb in self.system.rss_mb().items():
                if mb:
                    self.peak[name] = max(self.peak.get(name, 0.0), mb)


# --- load generators --------------------------------------------------------------------------------------
def wrk(args, url, tokens_csv, method="GET", body="", duration=None, offset=0) -> dict:
    """One wrk load; `offset`: the first buyer of the CSV to use (a later slice must not reuse earlier buyers)."""
    cmd = [
        ensure_wrk(),
        "-t2",
        f"-c{args.connections}",
        f"-d{duration or args.duration}s",
        "--latency",
        "-s",
        str(ROOT / "bench" / "wrk_buyers.lua"),
        url,
        "--",
        str(tokens_csv),
        method,
        body,
        "2",
        str(offset),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read()
    line = next((row for row in out.splitlines() if row.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out}\n{proc.stderr.read()}")
    result = json.loads(line)
    seconds = result["duration_us"] / 1e6
    result["rps"] = result["requests"] / seconds
    result["generator_cpu_s"] = usage.ru_utime + usage.ru_stime
    result["generator_cpu_share"] = result["generator_cpu_s"] / seconds / (os.cpu_count() or 1)
    return result


def buyers_in(csv_path) -> int:
    with open(csv_path) as f:
        return sum(1 for _ in f) - 1  # the header


def wrk_side_by_side(args, system, runs: dict, between=None, groups=None) -> dict:
    """Run each named wrk load (name -> (url, tokens_csv, method, body)) for `args.duration` seconds in all,
    split into `args.rounds` interleaved slices after a short warm-up of each, so that a noisy neighbour on this
    shared machine hits every load alike. Figures are summed over the slices; latency percentiles are the
    median of the slices'. `between` runs after each slice (e.g. to let queued work drain). The CPU the web,
    worker and Redis processes used per request (slice and `between` included) shows where each load's cost is."""
    between = between or (lambda: None)
    # each slice starts with buyers no earlier slice of its group used (`groups`: load name -> group; loads of one
    # group, e.g. the same purchase on two servers, share the CSV's buyers; by default a load is its own group)
    groups = {name: (groups or {}).get(name, name) for name in runs}
    offsets = dict.fromkeys(groups.values(), 0)

    def one(name, duration):
        url, csv, method, body = runs[name]
        cpu_before = system.cpu_seconds()
        group = groups[name]
        result = wrk(args, url, csv, method, body, duration=duration, offset=offsets[group])
        offsets[group] += result["buyers_used"]
        result["buyers_wrapped"] = offsets[group] > buyers_in(csv)  # buyers were used a second time
        between()
        cpu_after = system.cpu_seconds()
        result["server_cpu_s"] = {k: cpu_after[k] - cpu_before[k] for k in cpu_before}
        return result

    for name in runs:  # warm-up: the first requests of a process import modules and fill caches
        one(name, 1)
    slices = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name in runs:
            slices[name].append(one(name, max(1, args.duration // args.rounds)))
    out = {}
    for name, parts in slices.items():
        merged = {
            "rounds": len(parts),
            "requests": sum(p["requests"] for p in parts),
            "duration_us": sum(p["duration_us"] for p in parts),
            "errors": sum(p["errors"] for p in parts),
        }
        for key in ("p50_ms", "p90_ms", "p99_ms"):
            merged[key] = statistics.median(p[key] for p in parts)
        statuses: dict[str, int] = {}
        for p in parts:
            for code, count in p["statuses"].items():
                statuses[code] = statuses.get(code, 0) + count
        merged["statuses"] = statuses
        merged["buyers_wrapped"] = any(p["buyers_wrapped"] for p in parts)
        merged["rps"] = merged["requests"] / (merged["duration_us"] / 1e6)
        merged["rps_by_round"] = [round(p["rps"]) for p in parts]
        merged["server_cpu_ms_per_request"] = {
            k: round(sum(p["server_cpu_s"][k] for p in parts) / max(1, merged["requests"]) * 1000, 3)
            for k in parts[0]["server_cpu_s"]
        }
        merged["generator_cpu_s"] = sum(p["generator_cpu_s"] for p in parts)
        merged["generator_cpu_share"] = (
            merged["generator_cpu_s"] / (merged["duration_us"] / 1e6) / (os.cpu_count() or 1)
        )
        out[name] = merged
    return out


def burst(args, system, path, product_id, tokens, base=None) -> dict:
    """Every buyer at once, from `args.burst_processes` headless Locust processes (bench/locustfile.py) of
    `args.burst_users` FastHttpUsers each; the generator's CPU is measured from its processes."""
    start_at = time.time() + 5.0  # Locust takes a second or two to start; every buyer then fires at once
    procs, outs = [], []
    for i in range(args.burst_processes):
        spec_path, out = RESULTS / f"burst-{i}.spec.tmp", RESULTS / f"burst-{i}.out.tmp"
        out.unlink(missing_ok=True)
        spec_path.write_text(
            json.dumps(
                dict(
                    base=base or system.base,
                    path=path,
                    product_id=product_id,
                    start_at=start_at,
                    tokens=tokens[i :: args.burst_processes],
                    out=str(out),
                )
            )
        )
        cmd = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(ROOT / "bench" / "locustfile.py"),
            "--headless",
            "-u",
            str(args.burst_users),
            "-r",
            str(args.burst_users),
            "--host",
            base or system.base,
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--run-time",
            f"{args.burst_timeout}s",
            "--stop-timeout",
            "5",
        ]
        procs.append(
            subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=dict(os.environ, BENCH_SPEC=str(spec_path)),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        outs.append(out)
    sampler = RssSampler(system)
    sampler.start()
    cpu = 0.0
    results = []
    for proc, out in zip(procs, outs):
        _, _, usage = os.wait4(proc.pid, 0)
        cpu += usage.ru_utime + usage.ru_stime
        results.append(json.loads(out.read_text()) if out.exists() else {"latencies": [], "answers": []})
    sampler.stop_event.set()
    latencies = sorted(latency for r in results for latency in r["latencies"])
    answers = [a for r in results for a in r["answers"]]
    wall = max((a[2] for a in answers), default=float("nan"))
    codes: dict[str, int] = {}
    for _status, code, _ in answers:
        codes[code] = codes.get(code, 0) + 1
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    return {
        "buyers": len(tokens),
        "answered": len(answers),
        "seconds_until_all_answered": wall,
        "requests": len(latencies),
        "rps": len(latencies) / wall,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "latency_ms_quantiles": [round(pct(i / 100), 2) for i in range(101)],  # (the report's distribution plot)
        "sales": codes.get("success", 0),
        "sales_per_s": codes.get("success", 0) / wall,
        "final_codes": codes,
        "server_errors": sum(1 for status, _, _ in answers if status >= 500),
        "generator_cpu_share": cpu / wall / (os.cpu_count() or 1),
        "peak_rss_mb": sampler.peak,
    }


# --- data and audit ---------------------------------------------------------------------------------------
def make_product(stock: int, name: str):
    from seckill.catalogue.services import product_create

    return product_create(name=name, stock_total=stock, price="1.00", per_user_limit=1)


def audit(product_id: int, *, gate: bool = True) -> dict:
    """`gate`: the product sold through the Redis gate (not the naive comparator, which never touches it)."""
    from django.db.models import Count

    from products.models import Product
    from seckill.gate import records, stock
    from seckill.models import Order

    product = Product.objects.get(pk=product_id)
    orders = Order.objects.filter(product_id=product_id, status__in=Order.LIVE)
    units = sum(orders.values_list("quantity", flat=True))
    live = stock.live_stock([product_id])[product_id]
    doubles = orders.values("user_id").annotate(n=Count("id")).filter(n__gt=1).count()
    pending = len(records.requests_pending_since(time.time(), 100_000))
    errors = []
    if units != product.stock_total - product.stock_left:
        errors.append(f"ledger: {units} units in orders, {product.stock_total - product.stock_left} taken")
    if gate and live is not None and units != product.stock_total - live:
        errors.append(f"gate: {units} units in orders, {product.stock_total - live} taken in Redis")
    if doubles:
        errors.append(f"{doubles} buyers with two orders")
    if pending:
        errors.append(f"{pending} requests still pending")
    return {
        "orders": orders.count(),
        "units_sold": units,
        "db_stock_left": product.stock_left,
        "redis_stock_left": live if gate else None,
        "buyers_with_two_orders": doubles,
        "pending": pending,
        "errors": errors,
    }


def wait_until_settled(deadline_s=60):
    from seckill.gate import records

    end = time.monotonic() + deadline_s
    while time.monotonic() < end and records.requests_pending_since(time.time(), 1):
        time.sleep(0.2)


def burst_scenario(args, system, tokens, report, product_ids) -> None:
    """The burst on each web server (rounds alternated, each on a product of its own), then the naive comparator
    on the first server's. A smaller warm-up burst on each path goes first: without it the first burst after start
    paid for every process' first requests (imports, connections, caches) and the comparator after it did not."""
    if args.burst_warmup:
        warm_tokens = tokens[-args.burst_warmup :]  # the measured bursts' last buyers: 4 requests at most each
        warm_stock = max(1, args.stock * args.burst_warmup // len(tokens))
        for key, base in system.bases.items():
            product = make_product(warm_stock, f"warmup{key}")
            product_ids[f"warmup{key}"] = product.pk
            report.setdefault("warmup", {})[f"burst{key}"] = burst(
                args, system, "/api/seckill/", product.pk, warm_tokens, base
            )
            wait_until_settled()
        naive = make_product(warm_stock, "warmup-naive")
        product_ids["warmup-naive"] = naive.pk
        report["warmup"]["burst_naive"] = burst(args, system, "/bench/naive/buy/", naive.pk, warm_tokens)
    for r in range(args.burst_rounds):
        for key, base in system.bases.items():
            name = f"burst{key}" + (f"#{r + 1}" if r else "")
            ours = make_product(args.stock, name)
            product_ids[name] = ours.pk
            report["scenarios"][name] = burst(args, system, "/api/seckill/", ours.pk, tokens, base)
            wait_until_settled()
    naive = make_product(args.stock, "burst-naive")
    product_ids["burst-naive"] = naive.pk
    report["scenarios"]["burst_naive"] = burst(args, system, "/bench/naive/buy/", naive.pk, tokens)


def wait_until_released(product_id: int, deadline_s=300) -> float:
    """Seconds until every order of the product is closed and its units are back in the gate."""
    from django.db.models import Q

    from seckill.models import Order

    started = time.monotonic()
    open_ = Q(status=Order.Status.PENDING_PAYMENT) | Q(gate_released=False)
    while Order.objects.filter(open_, product_id=product_id).exists() and time.monotonic() - started < deadline_s:
        time.sleep(0.5)
    return round(time.monotonic() - started, 1)


def due_orders(args, report, product_ids) -> None:
    """With --expiring N: N unpaid orders of a product of their own come due now, so that beat's expiry sweep
    works through them (each order's units back to the ledger and the gate) while the next flood runs."""
    if not args.expiring:
        return
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from products.models import Product
    from seckill.gate.sync import stock_gate_load
    from seckill.models import Order

    User = get_user_model()
    if User.objects.filter(username__startswith="due").count() < args.expiring:
        User.objects.bulk_create(
            [User(username=f"due{i:07d}", password="!") for i in range(args.expiring)], batch_size=5000
        )
    users = list(User.objects.filter(username__startswith="due").values_list("pk", flat=True)[: args.expiring])
    product = make_product(args.expiring, f"expiring-{len(product_ids)}")
    far = timezone.now() + timedelta(days=1)
    Order.objects.bulk_create(
        [
            Order(
                request_id=f"due-{product.pk}-{uid}", user_id=uid, product=product, quantity=1, unit_price=1, pay_by=far
            )
            for uid in users
        ],
        batch_size=5000,
    )
    Product.objects.filter(pk=product.pk).update(stock_left=0)
    stock_gate_load(product_id=product.pk)  # (a live counter is never overwritten: this one is new)
    Order.objects.filter(product=product).update(pay_by=timezone.now())
    product_ids[f"expiring-{len(product_ids)}"] = product.pk
    report.setdefault("expiring", []).append({"product_id": product.pk, "orders": args.expiring})


def sold_out_scenario(args, system, tokens_csv, report) -> None:
    """The sold-out flood versus the framework's floor, and the naive comparator's sold-out answer."""
    from seckill.gate.client import get_client

    sold_out = make_product(0, "sold-out")
    body = json.dumps({"product_id": sold_out.pk})
    lpush = lambda: get_client().info("commandstats").get("cmdstat_lpush", {}).get("calls", 0)
    before = lpush()
    report["scenarios"].update(
        wrk_side_by_side(
            args,
            system,
            {
                name: load
                for key, base in system.bases.items()
                for name, load in (
                    (f"sold_out{key}", (f"{base}/api/seckill/", tokens_csv, "POST", body)),
                    (f"time_floor{key}", (f"{base}/api/time/", tokens_csv, "GET", "")),
                )
            },
        )
    )
    report["scenarios"]["sold_out"]["broker_messages"] = lpush() - before  # (all servers'; the time floor sends none)
    report["scenarios"]["sold_out_naive"] = wrk(args, f"{system.base}/bench/naive/buy/", tokens_csv, "POST", body)


def accepted_scenario(args, system, report, product_ids) -> None:
    """Accepted purchases versus a Celery no-op round trip, on fresh buyers (each request its own buyer)."""
    from django.core.management import call_command

    accepted = make_product(10_000_000, "accepted")
    product_ids["accepted"] = accepted.pk
    accepted_csv = RESULTS / "buyers-accepted.csv"
    buyers = max(args.buyers, 20_000 * len(system.bases))
    call_command("create_buyers", str(buyers), "--prefix", "acc", "--output", str(accepted_csv))
    body = json.dumps({"product_id": accepted.pk})
    report["scenarios"].update(
        wrk_side_by_side(
            args,
            system,
            {
                name: load
                for key, base in system.bases.items()
                for name, load in (
                    (f"accepted{key}", (f"{base}/api/seckill/", accepted_csv, "POST", body)),
                    (f"noop_round_trip{key}", (f"{base}/bench/noop/", accepted_csv, "POST", "{}")),
                )
            },
            between=wait_until_settled,
            groups={f"accepted{key}": "accepted" for key in system.bases},  # every request a new buyer
        )
    )  # neither may queue behind the other's requests still in flight


def product_page_scenario(args, system, tokens_csv, report) -> None:
    """The page a crowd refreshes before the sale opens (with their tokens) versus the framework's floor."""
    from datetime import timedelta

    from django.utils import timezone

    from products.models import Product

    soon = timezone.now() + timedelta(hours=1)
    upcoming = make_product(args.stock, "upcoming")
    Product.objects.filter(pk=upcoming.pk).update(start_time=soon, end_time=soon + timedelta(hours=1))
    report["scenarios"].update(
        wrk_side_by_side(
            args,
            system,
            {
                name: load
                for key, base in system.bases.items()
                for name, load in (
                    (f"product_page{key}", (f"{base}/api/products/{upcoming.pk}/", tokens_csv, "GET", "")),
                    (f"page_time_floor{key}", (f"{base}/api/time/", tokens_csv, "GET", "")),
                )
            },
        )
    )


# --- main -------------------------------------------------------------------------------------------------
def main() -> int:
    args = parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    env = bench_env(args)
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

    system = System(args, env)
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
    # The last full run's JSON is kept in git (latest.json); a partial run's only until the next (last.json).
    out = RESULTS / ("latest.json" if set(args.only) == set(SCENARIOS) else "last.json")
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


def ratios(s: dict) -> dict:
    r = {}
    if "sold_out" in s:
        r["sold_out_vs_time_rps"] = s["sold_out"]["rps"] / s["time_floor"]["rps"]
        r["sold_out_vs_naive_rps"] = s["sold_out"]["rps"] / s["sold_out_naive"]["rps"]
    if "product_page" in s:
        r["product_page_vs_time_rps"] = s["product_page"]["rps"] / s["page_time_floor"]["rps"]
    if "accepted" in s:
        r["accepted_vs_noop_rps"] = s["accepted"]["rps"] / s["noop_round_trip"]["rps"]
    if "burst" in s:
        r["burst_time_vs_naive"] = (
            s["burst"]["seconds_until_all_answered"] / s["burst_naive"]["seconds_until_all_answered"]
        )
        r["burst_p99_vs_naive"] = s["burst"]["p99_ms"] / s["burst_naive"]["p99_ms"]
    return {k: round(v, 3) for k, v in r.items()}


def server_ratios(args, s: dict) -> dict:
    """The first server's requests/s over each other server's, per load (the burst: median over its rounds), and
    each server's own figures."""
    first = args.servers[0]

    def rps(name: str, key: str):
        if name == "burst":
            runs = [v["rps"] for k, v in s.items() if k == f"burst{key}" or k.startswith(f"burst{key}#")]
            return statistics.median(runs) if runs else None
        return s[f"{name}{key}"]["rps"] if f"{name}{key}" in s else None

    out = {}
    loads = ("burst", "sold_out", "time_floor", "accepted", "noop_round_trip", "product_page", "page_time_floor")
    figures = {spec: {n: rps(n, server_key(i, spec)) for n in loads} for i, spec in enumerate(args.servers)}
    for spec in args.servers[1:]:
        out[f"{first} / {spec}"] = {
            n: round(figures[first][n] / figures[spec][n], 3) for n in loads if figures[spec][n] and figures[first][n]
        }
    out["rps"] = {spec: {n: round(v) for n, v in f.items() if v} for spec, f in figures.items()}
    return out


ACCEPTED_TARGET = {"sqlite": 0.9, "postgres": 0.85}  # x the no-op: PostgreSQL's server shares the cores


def targets(report: dict) -> dict:
    r, s = report["ratios"], report["scenarios"]
    t = {}
    if "sold_out" in s:
        t["sold_out >= 0.9 x time"] = r["sold_out_vs_time_rps"] >= 0.9
        if "expiring" not in report:  # (beat's own messages would count: the check needs a broker to itself)
            t["sold_out sends no broker message"] = s["sold_out"]["broker_messages"] == 0
    if "product_page" in s:
        t["product page >= 0.9 x time"] = r["product_page_vs_time_rps"] >= 0.9
        t["product page answers 200"] = set(s["product_page"]["statuses"]) == {"200"}
    if "accepted" in s:
        floor = ACCEPTED_TARGET[report["meta"]["database"]]
        t[f"accepted >= {floor} x noop"] = r["accepted_vs_noop_rps"] >= floor
        # every accepted request a sale: a reused buyer's cheaper 409 must not count as a purchase
        t["accepted: every answer a sale"] = (
            set(s["accepted"]["statuses"]) == {"200"} and not s["accepted"]["buyers_wrapped"]
        )
    if "burst" in s:
        rss = s["burst"]["peak_rss_mb"]
        t["burst <= 0.35 x naive time"] = r["burst_time_vs_naive"] <= 0.35
        t["burst p99 <= 0.3 x naive p99"] = r["burst_p99_vs_naive"] <= 0.3
        t["every buyer answered"] = s["burst"]["answered"] == s["burst"]["buyers"]
        t["no 5xx in the burst"] = s["burst"]["server_errors"] == 0
        t["rss < 150 MB"] = all(v is not None and v < 150 for v in rss.values())
    t["zero audit errors"] = all(not a["errors"] for a in report["audits"].values())
    return t


def meta(args, env) -> dict:
    import celery
    import django

    return {
        "command": " ".join(["python", "bench/run.py", *sys.argv[1:]]),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "versions": {"django": django.get_version(), "celery": celery.__version__},
        "database": env["DATABASE_URL"].split(":", 1)[0],
        "buyers": args.buyers,
        "stock": args.stock,
        "burst_warmup_buyers": args.burst_warmup,
        "web": f"{', '.join(args.servers)} {args.web_workers}x{args.web_threads}"
        + (" (quiet logs)" if args.quiet_logs else ""),
        "worker": f"celery {args.worker_pool} -c {args.worker_concurrency} --prefetch-multiplier {args.prefetch}, "
        f"purchase batches of up to {env.get('SECKILL_WORKER_BATCH_MAX', 'default 16')}",
        # The system's own defaults unless exported: production's settings, rate limits included.
        "rate_limits": {
            "user": env.get("SECKILL_USER_RATE_LIMIT", "default 5/s,60/m"),
            "ip": env.get("SECKILL_IP_RATE_LIMIT", "default off"),
        },
    }


def headline(report: dict) -> str:
    """Each target of a full run, its figure and whether it is met, as a Markdown table."""
    s, r, m, t = report["scenarios"], report["ratios"], report["meta"], report["targets"]
    rps = lambda name: f"{s[name]['rps']:,.0f}"  # noqa: E731
    figures = {
        "sold_out >= 0.9 x time": f"{r['sold_out_vs_time_rps']:.2f} ({rps('sold_out')} vs {rps('time_floor')} req/s)",
        "sold_out sends no broker message": f"{s['sold_out']['broker_messages']} messages",
        "product page >= 0.9 x time": f"{r.get('product_page_vs_time_rps', 0):.2f}",
        "product page answers 200": ", ".join(sorted(s.get("product_page", {}).get("statuses", {}))),
        "accepted: every answer a sale": ", ".join(sorted(s["accepted"]["statuses"])),
        "burst <= 0.35 x naive time": f"{r['burst_time_vs_naive']:.2f} ({s['burst']['seconds_until_all_answered']:.1f}"
        f" s vs {s['burst_naive']['seconds_until_all_answered']:.1f} s)",
        "burst p99 <= 0.3 x naive p99": f"{r['burst_p99_vs_naive']:.2f} ({s['burst']['p99_ms']:.0f} vs "
        f"{s['burst_naive']['p99_ms']:.0f} ms)",
        "every buyer answered": f"{s['burst']['answered']:,} of {s['burst']['buyers']:,}",
        "no 5xx in the burst": f"{s['burst']['server_errors']}",
        "rss < 150 MB": ", ".join(f"{k} {v:.0f} MB" for k, v in report.get("peak_rss_mb", {}).items() if v),
        "zero audit errors": f"{sum(len(a['errors']) for a in report['audits'].values())}",
    }
    for name in t:
        if name.startswith("accepted >= "):
            figures[name] = f"{r['accepted_vs_noop_rps']:.2f} ({rps('accepted')} vs {rps('noop_round_trip')} req/s)"
    rows = [f"| {name} | {figures.get(name, '')} | {'met' if met else '**not met**'} |" for name, met in t.items()]
    warmup = m.get("burst_warmup_buyers")
    return (
        f"`{m['command']}` on {m['database']}, {m['when'][:16].replace('T', ' ')} UTC, commit {m['commit']}; "
        f"{m['machine']}; web {m['web']}; worker {m['worker']}"
        + (f"; each burst path warmed by {warmup:,} buyers first" if warmup else "")
        + ".\n\n"
        "| target | figure | |\n|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def update_markdown(report: dict) -> None:
    """Write the run's headline table into BENCHMARKS.md, between the markers of its database."""
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text()
    start, end = f"<!-- headline {report['meta']['database']} -->", f"<!-- /headline {report['meta']['database']} -->"
    if start not in text:
        text = text.rstrip() + f"\n\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    path.write_text(head + start + "\n" + headline(report) + end + rest.split(end, 1)[1])


if __name__ == "__main__":
    sys.exit(main())
