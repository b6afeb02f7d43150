"""A draw of 100,000 entries for 1,000 units, timed (the issue's bound: 10 s on this machine), and the Redis memory an
entry takes while the window is open.

    .venv/bin/python bench/draw_time.py [entries] [units]            # SQLite (a scratch file)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/seckill .venv/bin/python bench/draw_time.py

Runs on a scratch database of its own (SQLite: bench/.draw_time.sqlite3; PostgreSQL: <name>_draw_time, created and
kept) and Redis database BENCH_REDIS_DB (default 13), emptied first. The entries are written as enter.lua writes them
(HSET of the entries hash: the Redis side of an entry, without the HTTP one that bench/run.py --only draw measures),
then the window is closed and the worker's draw (seckill.worker.draw.draw_hold) runs in this process, as the
worker's task runs it: the figure is its wall time, from reading the entries to the commit.
"""

import os
import secrets
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seckill_site.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))  # a scratch run signs nothing that lasts
os.environ.setdefault("DATABASE_URL", f"sqlite:///{ROOT / 'bench' / '.draw_time.sqlite3'}")
redis_db = os.environ.get("BENCH_REDIS_DB", "13")
os.environ["REDIS_URL"] = f"redis://127.0.0.1:6379/{redis_db}"

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from products.models import Product  # noqa: E402
from seckill.catalogue.services import product_create, product_update  # noqa: E402
from seckill.draws import fairness  # noqa: E402
from seckill.gate import keys  # noqa: E402
from seckill.gate.client import get_client  # noqa: E402
from seckill.models import Draw, DrawEntry, Order  # noqa: E402
from seckill.worker.draw import draw_hold  # noqa: E402


def main() -> None:
    entries = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    units = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000
    if connection.vendor == "postgresql":
        connection.settings_dict["TEST"]["NAME"] = f"{connection.settings_dict['NAME']}_draw_time"
        connection.creation.create_test_db(verbosity=0, keepdb=True, serialize=False)
    else:
        call_command("migrate", verbosity=0)
    redis = get_client()
    redis.flushdb()
    DrawEntry.objects.all().delete()
    Draw.objects.all().delete()
    Order.objects.all().delete()
    Product.objects.all().delete()
    users = get_user_model()
    have = users.objects.filter(username__startswith="draw-time-").count()
    if have < entries:
        users.objects.bulk_create(
            [users(username=f"draw-time-{i}", password="!") for i in range(have, entries)], batch_size=5000
        )
    user_ids = list(users.objects.filter(username__startswith="draw-time-").values_list("pk", flat=True)[:entries])
    product = product_create(
        name="draw time",
        stock_total=units,
        price="1.00",
        sale_mode="draw",
        end_time=timezone.now() + timedelta(hours=1),
    )
    get_client().hgetall(keys.meta(product.pk)) or sys.exit("the product is not in Redis")
    used_before = redis.info("memory")["used_memory"]
    pipe = redis.pipeline(transaction=False)
    for i, user_id in enumerate(user_ids):
        pipe.hset(keys.entries(product.pk), user_id, fairness.entry_code_new())
        if i % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()
    hash_bytes = redis.memory_usage(keys.entries(product.pk), samples=0)
    used_after = redis.info("memory")["used_memory"]
    product_update(product=Product.objects.get(pk=product.pk), end_time=timezone.now())
    started = time.perf_counter()
    report = draw_hold(product_id=product.pk)
    seconds = time.perf_counter() - started
    assert report is not None and report.entries == entries and report.winners == min(units, entries)
    assert Order.objects.filter(product=product).count() == report.winners
    print(
        f"{connection.vendor}: a draw of {entries:,} entries for {units:,} units: {seconds:.2f} s "
        f"(the Draw row says {Draw.objects.get(product=product).draw_seconds:.2f} s); "
        f"Redis: the entries hash {hash_bytes / entries:.0f} bytes an entry (MEMORY USAGE), "
        f"used_memory +{(used_after - used_before) / entries:.0f} bytes an entry"
    )


if __name__ == "__main__":
    main()
