"""Draw mode's entries under load (seckill/purchases/entries.py): POST /api/seckill/ on a product sold by draw, each
request its own buyer's entry (202 `entered`), versus GET /api/time/ in the same run. The draw itself, for
100,000 entries, is timed by bench/draw_time.py."""

from __future__ import annotations

import json
from datetime import timedelta

from bench.load import wrk_side_by_side
from bench.system import RESULTS


def draw_scenario(args, system, tokens_csv, report, product_ids) -> None:
    from django.core.management import call_command
    from django.utils import timezone

    from seckill.catalogue.services import product_create

    # the window outlasts the run; the draw is not held here
    product = product_create(
        name="draw-entries",
        stock_total=1000,
        price="1.00",
        sale_mode="draw",
        end_time=timezone.now() + timedelta(days=1),
    )
    csv = RESULTS / "buyers-draw.csv"
    # a buyer per entry: entries are taken at up to about 3,000/s here
    count = max(args.buyers, 20_000, 3_000 * (args.duration + len(system.bases) + 1))
    call_command("create_buyers", str(count), "--prefix", "dr", "--output", str(csv))
    base = system.base
    report["scenarios"].update(
        wrk_side_by_side(
            args,
            system,
            {
                "entered": (f"{base}/api/seckill/", csv, "POST", json.dumps({"product_id": product.pk})),
                "time_floor_draw": (f"{base}/api/time/", tokens_csv, "GET", ""),
            },
        )
    )
    report["scenarios"]["entered"]["entries_in_redis"] = _entries(product.pk)


def _entries(product_id: int) -> int:
    from seckill.gate import entries

    return entries.entries_count(product_id)
