"""A product's anti-bot steps under load (seckill/antibot/), each against its comparator in the same run:
  - path issued: POST /api/seckill/<id>/path/ with a solved challenge (each request its own buyer and solution)
    versus GET /api/time/
  - accepted, path on: purchases that all succeed, each with its buyer's path, versus the Celery no-op round trip
  - sold out, path on: POST /api/seckill/ on a sold-out product sold through paths versus GET /api/time/
The challenges are made and solved here (ALTCHA's Python solver, at challenge_cost 1: what is measured is the
server's verification, which costs the same at any cost), the paths made with the server's own key."""

from __future__ import annotations

import json
import time

from bench.audit import wait_until_settled
from bench.load import wrk_side_by_side
from bench.system import RESULTS


def _buyer_ids(csv_path) -> list[int]:
    return [int(line.split(",", 1)[0]) for line in csv_path.read_text().splitlines()[1:]]


def anti_bot_scenario(args, system, tokens_csv, report, product_ids) -> None:
    import altcha
    from django.core.management import call_command

    from seckill.antibot.challenges import verifier
    from seckill.antibot.paths import path_token_make
    from seckill.catalogue.services import product_create

    def product(stock, name, anti_bot):
        return product_create(name=name, stock_total=stock, price="1.00", anti_bot=anti_bot, challenge_cost=1)

    guarded = product(10_000_000, "accepted-path", "path")
    challenged = product(10_000_000, "path-issued", "challenge")
    sold_out = product(0, "sold-out-path", "path")
    product_ids["accepted_path"] = guarded.pk
    csv = RESULTS / "buyers-anti-bot.csv"
    # a buyer (and a solution, a path) per request: paths are issued at up to about 2,500/s here, and wrk's
    # connections take their buyers in blocks (a run at 2,110/s used them all: reused solutions answered 409)
    count = max(args.buyers, 20_000, 3_500 * (args.duration + len(system.bases) + 1))
    call_command("create_buyers", str(count), "--prefix", "ab", "--output", str(csv))
    buyers = _buyer_ids(csv)
    expires_ms = int(time.time() * 1000) + 3_600_000
    paths, solutions = RESULTS / "bodies-path.txt", RESULTS / "bodies-solution.txt"
    paths.write_text(
        "".join(
            json.dumps(
                {
                    "product_id": guarded.pk,
                    "path": path_token_make(user_id=b, product_id=guarded.pk, expires_ms=expires_ms),
                }
            )
            + "\n"
            for b in buyers
        )
    )
    check, lines = verifier(), []
    for b in buyers:
        made = altcha.Challenge.from_dict(
            check.challenge_make(user_id=b, product_id=challenged.pk, cost=1, expires_at=int(time.time()) + 3600)
        )
        lines.append(json.dumps({"solution": altcha.Payload(made, altcha.solve_challenge(made)).to_base64()}) + "\n")
    solutions.write_text("".join(lines))
    base = system.base
    report["scenarios"].update(
        wrk_side_by_side(
            args,
            system,
            {
                "path_issued": (f"{base}/api/seckill/{challenged.pk}/path/", csv, "POST", f"@{solutions}"),
                "accepted_path": (f"{base}/api/seckill/", csv, "POST", f"@{paths}"),
                "noop_round_trip_ab": (f"{base}/bench/noop/", csv, "POST", "{}"),
                "sold_out_path": (f"{base}/api/seckill/", tokens_csv, "POST", json.dumps({"product_id": sold_out.pk})),
                "time_floor_ab": (f"{base}/api/time/", tokens_csv, "GET", ""),
            },
            between=wait_until_settled,
            # each buyer's solution and path are used once: the path and purchase loads take new buyers each slice
            groups={"path_issued": "path_issued", "accepted_path": "accepted_path"},
        )
    )
