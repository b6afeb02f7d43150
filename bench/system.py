"""The system under test, started as production runs it: the environment (bench/settings.py, the test Redis
database, SQLite or DATABASE_URL), the Procfile's web server(s) and Celery worker, their memory, the run's metadata."""

from __future__ import annotations

import importlib.util
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


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

    def __init__(self, args, env, redis_layout):
        self.args, self.env, self.redis = args, env, redis_layout
        self._postgres_seen: dict[int, float] = {}  # pid -> CPU seconds at its last reading
        self.webs: dict[str, subprocess.Popen] = {}  # "web", "web@gunicorn", ... -> process
        self.worker = None
        self.extra = []
        self.bases = {server_key(i, spec): f"http://127.0.0.1:{args.port + i}" for i, spec in enumerate(args.servers)}
        self.base = self.bases[""]

    def start(self):
        for base in self.bases.values():  # a web server left by an earlier run would share the port (SO_REUSEPORT)
            port = int(base.rsplit(":", 1)[1])
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    raise RuntimeError(f"port {port} answers already: a web server of an earlier run? Stop it first.")
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
        for role, (_, pid) in self.redis.nodes.items():  # each node of the --redis cluster layout
            if pid is not None:
                out[f"redis {role}"] = total([psutil.Process(pid)])
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
        "redis": getattr(args, "redis", "one"),
        "gate_buckets": getattr(args, "buckets", 1),
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
