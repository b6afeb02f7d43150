"""The sold-out flood: POST /api/seckill/ on a sold-out product versus GET /api/time/, and the naive sold-out."""

from __future__ import annotations

import json

from bench.audit import make_product
from bench.load import wrk, wrk_side_by_side


def sold_out_scenario(args, system, tokens_csv, report) -> None:
    """The sold-out flood versus the framework's floor, and the naive comparator's sold-out answer."""
    sold_out = make_product(0, "sold-out")
    body = json.dumps({"product_id": sold_out.pk})
    lpush = lambda: system.redis.calls()["broker lpush"]
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
