"""The burst: every buyer at once on each web server, then the naive synchronous comparator."""

from __future__ import annotations

from bench.audit import make_product, wait_until_settled
from bench.load import burst


def burst_scenario(args, system, tokens, report, product_ids) -> None:
    """The burst on each web server (rounds alternated, each on a product of its own), then the naive comparator
    on the first server's. A smaller warm-up burst on each path goes first: without it the first burst after start
    paid for every process' first requests (imports, connections, caches) and the comparator after it did not."""
    if args.burst_warmup:
        warm_tokens = tokens[-args.burst_warmup :]  # the measured bursts' last buyers: 4 requests at most each
        warm_stock = max(1, args.stock * args.burst_warmup // len(tokens))
        for key, base in system.bases.items():
            product = make_product(warm_stock, f"warmup{key}", gate_buckets=args.buckets)
            product_ids[f"warmup{key}"] = product.pk
            report.setdefault("warmup", {})[f"burst{key}"] = burst(
                args, system, "/api/seckill/", product.pk, warm_tokens, base
            )
            wait_until_settled()
        naive = make_product(warm_stock, "warmup-naive")
        product_ids["warmup-naive"] = naive.pk
        report["warmup"]["burst_naive"] = burst(args, system, "/bench/naive/buy/", naive.pk, warm_tokens)
    for r in range(args.burst_rounds):
        for key, base in system.bases.items():
            name = f"burst{key}" + (f"#{r + 1}" if r else "")
            ours = make_product(args.stock, name, gate_buckets=args.buckets)
            product_ids[name] = ours.pk
            report["scenarios"][name] = burst(args, system, "/api/seckill/", ours.pk, tokens, base)
            wait_until_settled()
    naive = make_product(args.stock, "burst-naive")
    product_ids["burst-naive"] = naive.pk
    report["scenarios"]["burst_naive"] = burst(args, system, "/bench/naive/buy/", naive.pk, tokens)
