#!/usr/bin/env python
"""How long 10,000 unpaid orders take to expire and give their units back, end to end: the orders' deadline
passes, beat's expiry task (on a real Celery worker) expires them, and the units are back in the database and in
the Redis gate. Target (issue 12): within 60 s of the deadline on this 2-core machine.

    .venv/bin/python bench/expiry.py [orders]                     # SQLite (bench/.expiry.sqlite3)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/seckill_expiry .venv/bin/python bench/expiry.py

Uses Redis database BENCH_REDIS_DB (default 12), which it empties first; a PostgreSQL database is flushed.
"""

import os
import secrets
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seckill_site.local_redis import ensure_redis, with_db  # noqa: E402

BASE_REDIS = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
ensure_redis(BASE_REDIS)
ENV = dict(
    os.environ,
    DJANGO_SETTINGS_MODULE="seckill_site.settings",
    SECKILL_DOTENV="",
    REDIS_URL=with_db(BASE_REDIS, int(os.environ.get("BENCH_REDIS_DB", "12"))),
    DATABASE_URL=os.environ.get("DATABASE_URL", f"sqlite:///{ROOT / 'bench' / '.expiry.sqlite3'}"),
    LOG_LEVEL="WARNING",
    DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
)
os.environ.update(ENV)


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    import redis

    redis.Redis.from_url(ENV["REDIS_URL"]).flushdb()
    if ENV["DATABASE_URL"].startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(ENV["DATABASE_URL"][len("sqlite:///") :] + suffix).unlink(missing_ok=True)
    else:
        subprocess.run([sys.executable, "manage.py", "flush", "--noinput"], cwd=ROOT, env=ENV, check=False)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=ENV, check=True)

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from products.models import Product
    from seckill.catalogue.services import product_create
    from seckill.gate import stock as gate
    from seckill.gate.sync import stock_gate_load
    from seckill.models import Order

    User = get_user_model()
    far = timezone.now() + timedelta(days=1)  # due only once the system runs (below)
    User.objects.bulk_create([User(username=f"exp{i:06d}", password="!") for i in range(count)], batch_size=2000)
    users = list(User.objects.filter(username__startswith="exp").values_list("pk", flat=True))
    product = product_create(name="expiry", stock_total=count)
    Order.objects.bulk_create(
        [
            Order(request_id=f"exp-{uid}", user_id=uid, product=product, quantity=1, unit_price=0, pay_by=far)
            for uid in users
        ],
        batch_size=2000,
    )
    Product.objects.filter(pk=product.pk).update(stock_left=0)  # all sold, as the sale left it
    gate.forget_product(product.pk)
    stock_gate_load(product_id=product.pk)
    assert gate.live_stock([product.pk])[product.pk] == 0

    schedule = ROOT / "bench" / ".expiry-beat-schedule"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "seckill_site",
                "worker",
                "-Q",
                "maintenance",
                "-c",
                "2",
                "-l",
                "warning",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=ENV,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "seckill_site", "beat", "-l", "warning", "-s", str(schedule)],
            cwd=ROOT,
            env=ENV,
        ),
    ]
    try:
        # The system runs (beat and worker started); the orders come due in 2 s, all at once.
        deadline = timezone.now() + timedelta(seconds=2)
        Order.objects.filter(product=product).update(pay_by=deadline)
        done_at = None
        while timezone.now() < deadline + timedelta(seconds=300):
            back = gate.live_stock([product.pk])[product.pk]
            if back == count and Product.objects.get(pk=product.pk).stock_left == count:
                done_at = (timezone.now() - deadline).total_seconds()
                break
            time.sleep(0.2)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
        schedule.unlink(missing_ok=True)
    expired = Order.objects.filter(product=product, status=Order.Status.EXPIRED).count()
    database = ENV["DATABASE_URL"].split(":")[0]
    if done_at is None:
        print(f"{count} due orders ({database}): not done within 300 s; {expired} expired")
    else:
        print(
            f"{count} due orders ({database}): {expired} expired, units back in the ledger and the gate "
            f"{done_at:.1f} s after their deadline"
        )
    return 0 if done_at is not None and done_at <= 60 else 1


if __name__ == "__main__":
    sys.exit(main())
