"""Shared fixtures: the real Redis (test database number), a real Celery worker process, buyers and products."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from seckill.gate.client import get_client
from seckill_site.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent
WORKER_CONCURRENCY = 2


# --- Redis ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def redis_client():
    client = get_client()
    assert client.connection_pool.connection_kwargs.get("db") == int(os.environ.get("TEST_REDIS_DB", "15"))
    # Emptied first too: a run killed before its cleanup leaves results under fixed task ids and queued messages
    # (a later run's AsyncResult.get returned the earlier run's result). Nothing of this session is there yet:
    # the worker fixture and every test that publishes come after this fixture.
    client.flushdb()
    yield client
    client.flushdb()  # the test database number is ours alone: leave it empty


def delete_app_keys(client) -> None:
    keys = list(client.scan_iter("seckill:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def clean_redis(redis_client):
    """The project's keys removed before and after the test (broker queues and bindings are left alone)."""
    delete_app_keys(redis_client)
    yield redis_client
    delete_app_keys(redis_client)


@pytest.fixture(autouse=True)
def web_caches_cleared():
    """Each test starts with this process' copies of sale states and product rows empty: ids are reused from one
    test's database to the next, within the copies' lifetime (SECKILL_LOCAL_CACHE_TTL)."""
    from seckill.purchases import sale_cache

    sale_cache.sale_cache_clear()


# --- the Celery worker, a real process ------------------------------------------------------------------
def database_url_for_worker() -> str:
    """The URL of the test database that pytest-django created, for a process outside this one."""
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] or ""
    if s["PASSWORD"]:
        auth += f":{s['PASSWORD']}"
    host = f"{auth}@{s['HOST'] or '127.0.0.1'}" if auth else s["HOST"] or "127.0.0.1"
    return f"postgres://{host}:{s['PORT'] or 5432}/{s['NAME']}"


class WorkerProcess:
    def __init__(self, name: str, log_path: Path):
        self.name = name
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, *, concurrency: int = WORKER_CONCURRENCY, extra_env: dict | None = None, wait=True) -> None:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="seckill_site.settings",
            REDIS_URL=settings.REDIS_URL,
            DATABASE_URL=database_url_for_worker(),
            LOG_LEVEL="WARNING",
            # No beat runs in most tests: a worker would stand in for it and sweep requests a test keeps pending
            # on purpose. The tests of that stand-in turn it on.
            SECKILL_SWEEP_WITHOUT_BEAT="0",
        )
        env.update(extra_env or {})
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "seckill_site",
                "worker",  # no -Q: it consumes every declared queue, as a plain `celery worker` does
                "-P",
                "prefork",
                "-c",
                str(concurrency),
                "-l",
                "warning",
                "-n",
                self.name,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so kill() reaches the pool's children too
        )
        if wait:
            self.wait_ready()

    def wait_ready(self, deadline_s: float = 60.0) -> None:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited ({self.proc.returncode}):\n{self.log_tail()}")
            if celery_app.control.ping(destination=[self.name], timeout=0.5):
                return
        raise RuntimeError(f"worker did not answer a ping within {deadline_s}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def kill(self) -> None:
        """SIGKILL the worker and its children at once: a crash, with no chance to ack or give back."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@pytest.fixture(scope="session")
def worker_process(django_db_setup, django_db_blocker, redis_client, tmp_path_factory):
    """One real `celery worker` (prefork) on the test database and the test Redis, for the whole session."""
    name = f"test-{os.getpid()}@localhost"
    worker = WorkerProcess(name, tmp_path_factory.mktemp("worker") / "worker.log")
    celery_app.control.purge()
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def worker(worker_process, transactional_db, clean_redis):
    """A running worker, a database it can see (committed data), clean Redis keys; the queue purged after."""
    yield worker_process
    # Leave the worker consuming every queue and the queues empty for the next test.
    for queue in celery_app.amqp.queues:
        celery_app.control.add_consumer(queue, destination=[worker_process.name], reply=True, timeout=2)
    celery_app.control.purge()


def beat_start(env: dict, directory: Path) -> subprocess.Popen:
    """celery beat with the project's schedule, its schedule file and log in `directory`."""
    log = open(directory / "beat.log", "wb")
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "seckill_site",
        "beat",
        "-l",
        "warning",
        "-s",
        str(directory / "beat-schedule"),
    ]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture
def beat(worker_process, tmp_path):
    """celery beat with the project's default schedule (the sweeper, expiry, reconciliation), as the Procfile
    runs it, on the test Redis and database; its tasks run on the session's worker."""
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="seckill_site.settings",
        REDIS_URL=settings.REDIS_URL,
        DATABASE_URL=database_url_for_worker(),
        LOG_LEVEL="WARNING",
    )
    proc = beat_start(env, tmp_path)
    yield proc
    proc.terminate()
    proc.wait(timeout=20)


# --- a real web process ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, token=None):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def procfile_command(process: str) -> str:
    """The Procfile's command line of `process` (web, worker, beat...)."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))[process]


@pytest.fixture
def web(tmp_path, transactional_db):
    """Start the web server as the Procfile does (its `web` line: seckill_site/web_server.py, WEB_SERVER's server,
    Granian by default) with one process of four threads, on the test database with the given environment; yield
    its base URL. `web.procs` and `web.logs` hold each server's process and log file."""
    procs, logs = [], []

    def start(**env_overrides):
        port = free_port()
        env = dict(
            os.environ,
            DJANGO_SETTINGS_MODULE="seckill_site.settings",
            DATABASE_URL=database_url_for_worker(),
            WEB_BIND=f"127.0.0.1:{port}",
            WEB_WORKERS="1",
            WEB_THREADS="4",
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # the Procfile's python
        )
        env.update(env_overrides)
        log_path = tmp_path / f"web-{port}.log"
        log = open(log_path, "wb")
        proc = subprocess.Popen(
            ["sh", "-c", f"exec {procfile_command('web')}"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        procs.append(proc)
        logs.append(log_path)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()
            try:
                urllib.request.urlopen(f"{base}/api/time/", timeout=1)
                return base
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("web process did not answer")

    start.procs = procs  # (tests that stop a web server find its process here)
    start.logs = logs
    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=40)


# --- waiting -----------------------------------------------------------------------------------------------
def wait_for(predicate, deadline_s, interval=0.02) -> bool:
    """Poll `predicate` until it holds or the deadline passes: synchronisation on state, never a blind sleep."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# --- data -------------------------------------------------------------------------------------------------
def token_for(user) -> str:
    return str(AccessToken.for_user(user))


@pytest.fixture
def make_buyers():
    def make(count: int, prefix: str = "buyer") -> list:
        User = get_user_model()
        users = User.objects.bulk_create([User(username=f"{prefix}{i}", password="!") for i in range(count)])
        if not users or users[0].pk is None:  # backends that do not return ids from bulk_create
            users = list(User.objects.filter(username__startswith=prefix).order_by("pk"))
        return users

    return make


@pytest.fixture
def make_product():
    from seckill.catalogue.services import product_create

    def make(**overrides):
        fields = dict(name="Flash item", stock_total=10, price="5.00", per_user_limit=1)
        fields.update(overrides)
        return product_create(**fields)

    return make


def api_client(user=None, token: str | None = None) -> APIClient:
    client = APIClient()
    if user is not None:
        token = token_for(user)
    if token is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def in_the_past(hours: float = 1) -> timezone.datetime:
    return timezone.now() - timedelta(hours=hours)


def in_the_future(hours: float = 1) -> timezone.datetime:
    return timezone.now() + timedelta(hours=hours)


# --- invariants ---------------------------------------------------------------------------------------------
def assert_gate_and_ledger_agree(product_id: int) -> None:
    """What the whole system promises about a product once nothing is in flight: the ledger's stock plus the
    live orders' units is the total; the gate's stock is the ledger's (less units of closed orders still on their
    way back); the gate's buyers are exactly the holders of live orders; nobody holds two."""
    from django.db.models import Count, Sum

    from products.models import Product
    from seckill.gate import stock as gate
    from seckill.models import Order

    product = Product.objects.get(pk=product_id)
    live = Order.objects.filter(product_id=product_id, status__in=Order.LIVE)
    live_units = live.aggregate(n=Sum("quantity"))["n"] or 0
    assert product.stock_left + live_units == product.stock_total, "ledger: stock_left + live units != total"
    assert not live.values("user_id").annotate(n=Count("id")).filter(n__gt=1).exists(), "a buyer holds two"
    on_its_way = Order.objects.filter(
        product_id=product_id, status__in=(Order.Status.EXPIRED, Order.Status.CANCELLED), gate_released=False
    )
    unreleased = on_its_way.aggregate(n=Sum("quantity"))["n"] or 0
    redis_stock = gate.live_stock([product_id])[product_id]
    if redis_stock is not None:
        assert redis_stock == product.stock_left - unreleased, f"gate {redis_stock} != ledger {product.stock_left}"
        holders = dict(live.values_list("user_id", "request_id")) | dict(
            on_its_way.values_list("user_id", "request_id")
        )
        assert gate.buyers(product_id) == holders, "the gate's buyers are not the holders of live orders"
