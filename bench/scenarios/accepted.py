"""Accepted purchases (every request a new buyer) versus a Celery no-op round trip."""

from __future__ import annotations

import json

from bench.audit import make_product, wait_until_settled
from bench.load import wrk_side_by_side
from bench.system import RESULTS


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
