import json
from dataclasses import asdict

import redis
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from products.models import Product
from seckill.ops.reconcile import is_drift, reconcile_all


class Command(BaseCommand):
    help = (
        "Check that the Redis gate and the database agree on each product; with --fix, repair them by deltas "
        "(a product Redis lost is loaded from the ledger). Prints the disagreements, nothing when all agree. "
        "Exit status 0: clean, 1: drift found (repaired with --fix), 2: could not check."
    )

    def add_arguments(self, parser):
        parser.add_argument("--product", type=int, help="only this product id")
        parser.add_argument("--fix", action="store_true", help="repair what disagrees")
        parser.add_argument("--json", action="store_true", dest="as_json", help="JSON: product id -> its findings")

    def handle(self, *args, product, fix, as_json, **opts):
        try:
            reports = reconcile_all(product_id=product, fix=fix)
        except Product.DoesNotExist:
            raise CommandError(f"no product {product}", returncode=2) from None
        except (redis.RedisError, DatabaseError) as exc:
            raise CommandError(f"could not check: {exc}", returncode=2) from None
        found = {pid: [d for d in drift if is_drift(d) or d.fixed] for pid, drift in reports.items()}
        found = {pid: drift for pid, drift in found.items() if drift}
        if as_json:
            self.stdout.write(json.dumps({pid: [asdict(d) for d in drift] for pid, drift in found.items()}))
        elif found:
            self.stdout.write(f"{'product':>8}  {'check':<20} {'redis':>14} {'ledger':>14}  fixed  detail")
            for drift in (d for ds in found.values() for d in ds):
                self.stdout.write(
                    f"{drift.product_id:>8}  {drift.check:<20} {_cell(drift.redis):>14} {_cell(drift.ledger):>14}  "
                    f"{'yes' if drift.fixed else 'no':<5}  {drift.detail}"
                )
        if any(is_drift(d) for ds in found.values() for d in ds):
            raise SystemExit(1)


def _cell(value) -> str:
    return "-" if value is None else str(value)[:14]
