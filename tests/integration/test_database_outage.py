"""A PostgreSQL outage mid-sale: the test starts a PostgreSQL of its own (initdb/pg_ctl from Debian's packages, on
a private port), runs web, worker and beat on it, and stops the database for a few seconds while buyers buy.
Purchases during the outage end `pending` and are decided later, or `503 unavailable` and never sell; after it
the sale goes on; the ledger and Redis agree."""

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from django.conf import settings

from seckill.gate import keys
from seckill_site.local_redis import with_db
from tests.support.http import http
from tests.support.polling import wait_for
from tests.support.processes import ROOT, WorkerProcess, beat_start, free_port

pytestmark = [pytest.mark.slow]

OUTAGE_REDIS_DB = 14  # this test's system has a Redis database of its own (the session's worker is on 15)
STOCK, BUYERS = 30, 60


class PrivatePostgres:
    def __init__(self):
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not binaries or shutil.which("runuser") is None or os.geteuid() != 0:
            pytest.skip("needs Debian's PostgreSQL server binaries (initdb, pg_ctl) and root to run them as postgres")
        self.bin = Path(binaries[-1]).parent
        # (not under pytest's tmp_path: its parents are private to root, and the server runs as postgres)
        self.base = Path(tempfile.mkdtemp(prefix="seckill-pg-"))
        self.data, self.sockets, self.port = self.base / "data", self.base / "sockets", free_port()
        self.sockets.mkdir()
        for path in (self.base, self.sockets):
            shutil.chown(path, "postgres")
        self._as_postgres(self.bin / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *command) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *map(str, command)], check=True, capture_output=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(self.bin / "pg_ctl", "-D", self.data, "-o", options, "-l", self.data / "log", "-w", "start")

    def stop(self) -> None:
        self._as_postgres(self.bin / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")


@pytest.fixture
def private_postgres():
    server = PrivatePostgres()
    server.start()
    yield server
    try:
        server.stop()
    except subprocess.CalledProcessError:
        pass
    shutil.rmtree(server.base, ignore_errors=True)


def manage(env, *args) -> str:
    out = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode in (0, 1), out.stderr
    return out.stdout


def test_a_database_outage_mid_sale_sells_nothing_wrong_and_the_sale_goes_on(private_postgres, web, tmp_path):
    redis_url = with_db(settings.REDIS_URL, OUTAGE_REDIS_DB)
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    store.flushdb()
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="seckill_site.settings",
        DATABASE_URL=private_postgres.url,
        REDIS_URL=redis_url,
        SECKILL_USER_RATE_LIMIT="",
    )
    manage(env, "migrate", "--noinput", "-v", "0")
    product_id = json.loads(manage(env, "create_product", "--name", "outage", "--stock", str(STOCK)))["id"]
    manage(env, "create_buyers", str(BUYERS), "--output", str(tmp_path / "buyers.csv"))
    tokens = [line.split(",")[2] for line in (tmp_path / "buyers.csv").read_text().splitlines()[1:]]

    worker = WorkerProcess(f"outage-{os.getpid()}@localhost", tmp_path / "worker.log")
    worker.start(extra_env={"DATABASE_URL": private_postgres.url, "REDIS_URL": redis_url}, wait=False)
    beat = beat_start(env, tmp_path)
    base = web(**{k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "SECKILL_USER_RATE_LIMIT")})
    answers, lock = {}, threading.Lock()

    def buy(indexes):
        for i in indexes:
            deadline = time.monotonic() + 60
            while True:  # `busy` says: try again in a moment (slots held by requests the outage holds up)
                status, body = http("POST", f"{base}/api/seckill/", {"product_id": product_id}, tokens[i])
                if body["code"] != "busy" or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            with lock:
                answers[i] = (status, body)
            time.sleep(0.05)  # buyers arrive over a few seconds, so that some arrive during the outage

    try:
        assert wait_for(lambda: store.zcard("seckill:workers") > 0, 60, 0.2), worker.log_tail()
        threads = [threading.Thread(target=buy, args=(range(i, BUYERS, 4),)) for i in range(4)]
        for thread in threads:
            thread.start()
        assert wait_for(lambda: len(answers) >= 8, 30, 0.05)
        private_postgres.stop()  # mid-sale, for a few seconds (the outage's length, not a synchronisation)
        time.sleep(3)
        private_postgres.start()
        for thread in threads:
            thread.join(timeout=120)
        assert len(answers) == BUYERS
        assert wait_for(lambda: store.zcard(keys.pending(product_id)) == 0, 90, 0.5), "requests left undecided"
    finally:
        beat.terminate()
        worker.stop()

    codes = Counter(body["code"] for _, body in answers.values())
    assert set(codes) <= {"success", "pending", "sold_out", "unavailable"}, codes
    assert codes["pending"] + codes["unavailable"] > 0, codes  # the outage did hold purchases up
    final = {}
    for i, (status, body) in answers.items():
        if body["code"] == "pending":  # decided later: the result endpoint has it now
            status, body = http("GET", f"{base}{body['result_url']}", token=tokens[i])
        final[i] = body["code"]
    assert "pending" not in final.values()
    sold = sum(1 for code in final.values() if code == "success")
    assert sold == STOCK  # the sale went on after the outage until the stock was gone
    report = subprocess.run(
        [sys.executable, "manage.py", "reconcile", "--json"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert report.returncode == 0, report.stdout + report.stderr  # the ledger and Redis agree
    counts = manage(
        env,
        "shell",
        "--no-imports",
        "-c",
        (
            "from seckill.models import Order; from django.db.models import Count; "
            f"o = Order.objects.filter(product_id={product_id}); "
            "print(o.count(), o.values('user_id').annotate(n=Count('id')).filter(n__gt=1).count())"
        ),
    ).split()
    assert counts == [str(STOCK), "0"]  # one order per sale, nobody holds two
    refused = [i for i, (_, body) in answers.items() if body["code"] == "unavailable"]
    for i in refused:  # a 503 never sells later
        assert final[i] == "unavailable"
    store.flushdb()
