"""CPU of the logic layer's ledger step per sale, in this process and in the PostgreSQL server process serving it:
one transaction per sale (a request decided alone), one per group of sales with a statement per sale (a worker's
job before 60063fd), and a group's sales in one statement (a worker's job now:
seckill.worker.ledger.ledger_sell_many), of 8 and of 16 (the largest job).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/seckill .venv/bin/python bench/ledger_cost.py [sales]

Runs on a scratch database of its own (<name>_ledger_cost, created and kept), never on the named one.
The server's CPU is read from /proc, so PostgreSQL must run on this machine. No Redis: the ledger alone.
"""

import os
import secrets
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seckill_site.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))  # a scratch run signs nothing that lasts

import django

django.setup()

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from products.models import Product
from seckill.models import Order
from seckill.worker.ledger import ledger_sell, ledger_sell_many


def server_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("set DATABASE_URL to a PostgreSQL database")
    sales = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    connection.settings_dict["TEST"]["NAME"] = f"{connection.settings_dict['NAME']}_ledger_cost"
    connection.creation.create_test_db(verbosity=0, keepdb=True, serialize=False)
    user_model = get_user_model()
    Order.objects.all().delete()
    Product.objects.all().delete()
    user_model.objects.filter(username__startswith="ledger-cost-").delete()
    users = user_model.objects.bulk_create(
        [user_model(username=f"ledger-cost-{i}", password="!") for i in range(6 * sales)]
    )
    now = timezone.now()
    product = Product.objects.create(
        name="ledger cost",
        stock_total=10**7,
        stock_left=10**7,
        price="1.00",
        per_user_limit=1,
        start_time=now - timedelta(hours=1),
        end_time=now + timedelta(hours=1),
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]

    def measure(label: str, buyers: list, group: int, together: bool = False) -> None:
        cpu, server, wall = time.process_time(), server_cpu_s(pid), time.perf_counter()
        for start in range(0, len(buyers), group):
            requests = [
                dict(request_id=f"{label}-{start}-{i}", user_id=user.pk, product_id=product.pk, quantity=1)
                for i, user in enumerate(buyers[start : start + group])
            ]
            with transaction.atomic():
                if together:
                    assert len(ledger_sell_many(requests)) == len(requests)
                else:
                    for fields in requests:
                        ledger_sell(**fields)
        n = len(buyers)
        print(
            f"{label:>22}: this process {(time.process_time() - cpu) / n * 1e6:4.0f} us, "
            f"PostgreSQL {(server_cpu_s(pid) - server) / n * 1e6:4.0f} us, "
            f"wall {(time.perf_counter() - wall) / n * 1e6:4.0f} us per sale"
        )

    measure("one per transaction", users[:sales], 1)
    measure("8 per transaction", users[sales : 2 * sales], 8)
    measure("8 in one statement", users[2 * sales : 3 * sales], 8, together=True)
    measure("8 per transaction, again", users[3 * sales : 4 * sales], 8)
    measure("8 in one statement, again", users[4 * sales : 5 * sales], 8, together=True)
    # A worker's largest job (SECKILL_WORKER_BATCH_MAX): its wall time per sale bounds one product's sales per
    # second, whose row lock each job holds to its commit (docs/capacity.md).
    measure("16 in one statement", users[5 * sales :], 16, together=True)


if __name__ == "__main__":
    main()
