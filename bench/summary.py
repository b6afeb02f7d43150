"""A run's figures: the ratios of each load to its comparator, the targets they are held to, and the headline table
written into BENCHMARKS.md."""

from __future__ import annotations

import statistics

from bench.system import ROOT, server_key


def ratios(s: dict) -> dict:
    r = {}
    if "sold_out" in s:
        r["sold_out_vs_time_rps"] = s["sold_out"]["rps"] / s["time_floor"]["rps"]
        r["sold_out_vs_naive_rps"] = s["sold_out"]["rps"] / s["sold_out_naive"]["rps"]
    if "product_page" in s:
        r["product_page_vs_time_rps"] = s["product_page"]["rps"] / s["page_time_floor"]["rps"]
    if "accepted" in s:
        r["accepted_vs_noop_rps"] = s["accepted"]["rps"] / s["noop_round_trip"]["rps"]
    if "path_issued" in s:
        r["path_issued_vs_time_rps"] = s["path_issued"]["rps"] / s["time_floor_ab"]["rps"]
        r["accepted_path_vs_noop_rps"] = s["accepted_path"]["rps"] / s["noop_round_trip_ab"]["rps"]
        r["sold_out_path_vs_time_rps"] = s["sold_out_path"]["rps"] / s["time_floor_ab"]["rps"]
    if "entered" in s:
        r["entered_vs_time_rps"] = s["entered"]["rps"] / s["time_floor_draw"]["rps"]
    if "burst" in s:
        r["burst_time_vs_naive"] = (
            s["burst"]["seconds_until_all_answered"] / s["burst_naive"]["seconds_until_all_answered"]
        )
        r["burst_p99_vs_naive"] = s["burst"]["p99_ms"] / s["burst_naive"]["p99_ms"]
    return {k: round(v, 3) for k, v in r.items()}


def server_ratios(args, s: dict) -> dict:
    """The first server's requests/s over each other server's, per load (the burst: median over its rounds), and
    each server's own figures."""
    first = args.servers[0]

    def rps(name: str, key: str):
        if name == "burst":
            runs = [v["rps"] for k, v in s.items() if k == f"burst{key}" or k.startswith(f"burst{key}#")]
            return statistics.median(runs) if runs else None
        return s[f"{name}{key}"]["rps"] if f"{name}{key}" in s else None

    out = {}
    loads = ("burst", "sold_out", "time_floor", "accepted", "noop_round_trip", "product_page", "page_time_floor")
    figures = {spec: {n: rps(n, server_key(i, spec)) for n in loads} for i, spec in enumerate(args.servers)}
    for spec in args.servers[1:]:
        out[f"{first} / {spec}"] = {
            n: round(figures[first][n] / figures[spec][n], 3) for n in loads if figures[spec][n] and figures[first][n]
        }
    out["rps"] = {spec: {n: round(v) for n, v in f.items() if v} for spec, f in figures.items()}
    return out


ACCEPTED_TARGET = {"sqlite": 0.9, "postgres": 0.85}  # x the no-op: PostgreSQL's server shares the cores


def targets(report: dict) -> dict:
    r, s = report["ratios"], report["scenarios"]
    t = {}
    if "sold_out" in s:
        t["sold_out >= 0.9 x time"] = r["sold_out_vs_time_rps"] >= 0.9
        if "expiring" not in report:  # (beat's own messages would count: the check needs a broker to itself)
            t["sold_out sends no broker message"] = s["sold_out"]["broker_messages"] == 0
    if "product_page" in s:
        t["product page >= 0.9 x time"] = r["product_page_vs_time_rps"] >= 0.9
        t["product page answers 200"] = set(s["product_page"]["statuses"]) == {"200"}
    if "accepted" in s:
        floor = ACCEPTED_TARGET[report["meta"]["database"]]
        t[f"accepted >= {floor} x noop"] = r["accepted_vs_noop_rps"] >= floor
        # every accepted request a sale: a reused buyer's cheaper 409 must not count as a purchase
        t["accepted: every answer a sale"] = (
            set(s["accepted"]["statuses"]) == {"200"} and not s["accepted"]["buyers_wrapped"]
        )
    if "path_issued" in s:
        t["path issued >= 0.7 x time"] = r["path_issued_vs_time_rps"] >= 0.7
        t["path issued: every answer a path"] = (
            set(s["path_issued"]["statuses"]) == {"200"} and not s["path_issued"]["buyers_wrapped"]
        )
        t["accepted with a path >= 0.85 x noop"] = r["accepted_path_vs_noop_rps"] >= 0.85
        t["accepted with a path: every answer a sale"] = (
            set(s["accepted_path"]["statuses"]) == {"200"} and not s["accepted_path"]["buyers_wrapped"]
        )
        t["sold_out with paths >= 0.9 x time"] = r["sold_out_path_vs_time_rps"] >= 0.9
    if "entered" in s:
        t["draw entries >= 0.5 x time"] = r["entered_vs_time_rps"] >= 0.5
        t["draw entries: every answer an entry"] = (
            set(s["entered"]["statuses"]) == {"202"} and not s["entered"]["buyers_wrapped"]
        )
    if "burst" in s:
        rss = s["burst"]["peak_rss_mb"]
        t["burst <= 0.35 x naive time"] = r["burst_time_vs_naive"] <= 0.35
        t["burst p99 <= 0.3 x naive p99"] = r["burst_p99_vs_naive"] <= 0.3
        t["every buyer answered"] = s["burst"]["answered"] == s["burst"]["buyers"]
        t["no 5xx in the burst"] = s["burst"]["server_errors"] == 0
        t["rss < 150 MB"] = all(v is not None and v < 150 for v in rss.values())
    t["zero audit errors"] = all(not a["errors"] for a in report["audits"].values())
    return t


def headline(report: dict) -> str:
    """Each target of a full run, its figure and whether it is met, as a Markdown table."""
    s, r, m, t = report["scenarios"], report["ratios"], report["meta"], report["targets"]
    rps = lambda name: f"{s[name]['rps']:,.0f}"  # noqa: E731
    figures = {
        "sold_out >= 0.9 x time": f"{r['sold_out_vs_time_rps']:.2f} ({rps('sold_out')} vs {rps('time_floor')} req/s)",
        "sold_out sends no broker message": f"{s['sold_out']['broker_messages']} messages",
        "product page >= 0.9 x time": f"{r.get('product_page_vs_time_rps', 0):.2f}",
        "product page answers 200": ", ".join(sorted(s.get("product_page", {}).get("statuses", {}))),
        "accepted: every answer a sale": ", ".join(sorted(s["accepted"]["statuses"])),
        "burst <= 0.35 x naive time": f"{r['burst_time_vs_naive']:.2f} ({s['burst']['seconds_until_all_answered']:.1f}"
        f" s vs {s['burst_naive']['seconds_until_all_answered']:.1f} s)",
        "burst p99 <= 0.3 x naive p99": f"{r['burst_p99_vs_naive']:.2f} ({s['burst']['p99_ms']:.0f} vs "
        f"{s['burst_naive']['p99_ms']:.0f} ms)",
        "every buyer answered": f"{s['burst']['answered']:,} of {s['burst']['buyers']:,}",
        "no 5xx in the burst": f"{s['burst']['server_errors']}",
        "rss < 150 MB": ", ".join(f"{k} {v:.0f} MB" for k, v in report.get("peak_rss_mb", {}).items() if v),
        "zero audit errors": f"{sum(len(a['errors']) for a in report['audits'].values())}",
    }
    if "path_issued" in s:
        figures |= {
            "path issued >= 0.7 x time": f"{r['path_issued_vs_time_rps']:.2f} ({rps('path_issued')} vs "
            f"{rps('time_floor_ab')} req/s)",
            "path issued: every answer a path": ", ".join(sorted(s["path_issued"]["statuses"])),
            "accepted with a path >= 0.85 x noop": f"{r['accepted_path_vs_noop_rps']:.2f} ({rps('accepted_path')} "
            f"vs {rps('noop_round_trip_ab')} req/s)",
            "accepted with a path: every answer a sale": ", ".join(sorted(s["accepted_path"]["statuses"])),
            "sold_out with paths >= 0.9 x time": f"{r['sold_out_path_vs_time_rps']:.2f} ({rps('sold_out_path')} vs "
            f"{rps('time_floor_ab')} req/s)",
        }
    if "entered" in s:
        web_ms = s["entered"]["server_cpu_ms_per_request"]["web"]
        figures |= {
            "draw entries >= 0.5 x time": f"{r['entered_vs_time_rps']:.2f} ({rps('entered')} vs "
            f"{rps('time_floor_draw')} req/s; {web_ms:.2f} ms of web CPU an entry)",
            "draw entries: every answer an entry": ", ".join(sorted(s["entered"]["statuses"])),
        }
    for name in t:
        if name.startswith("accepted >= "):
            figures[name] = f"{r['accepted_vs_noop_rps']:.2f} ({rps('accepted')} vs {rps('noop_round_trip')} req/s)"
    rows = [f"| {name} | {figures.get(name, '')} | {'met' if met else '**not met**'} |" for name, met in t.items()]
    warmup = m.get("burst_warmup_buyers")
    return (
        f"`{m['command']}` on {m['database']}, {m['when'][:16].replace('T', ' ')} UTC, commit {m['commit']}; "
        f"{m['machine']}; web {m['web']}; worker {m['worker']}"
        + (f"; each burst path warmed by {warmup:,} buyers first" if warmup else "")
        + ".\n\n"
        "| target | figure | |\n|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def update_markdown(report: dict) -> None:
    """Write the run's headline table into BENCHMARKS.md, between the markers of its database."""
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text()
    start, end = f"<!-- headline {report['meta']['database']} -->", f"<!-- /headline {report['meta']['database']} -->"
    if start not in text:
        text = text.rstrip() + f"\n\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    path.write_text(head + start + "\n" + headline(report) + end + rest.split(end, 1)[1])
