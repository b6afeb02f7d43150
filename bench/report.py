#!/usr/bin/env python
"""The benchmark's record: the compact history (bench/history.csv, one line per run) and the plots BENCHMARKS.md
shows (docs/img/bench-*.png). bench/run.py and bench/curve.py call it after each run; by hand:

    .venv/bin/python bench/report.py --plots bench/results/latest.json     # redraw a run's plots
    .venv/bin/python bench/report.py --history-from bench/results/*.json   # a line per run's JSON

A run's full JSON is bench/results/latest.json (the last run) and curve.json (the last cost curve); older runs
live on as their history line.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HISTORY = ROOT / "bench" / "history.csv"
IMG = ROOT / "docs" / "img"
RATIOS = (
    "sold_out_vs_time_rps",
    "accepted_vs_noop_rps",
    "burst_time_vs_naive",
    "burst_p99_vs_naive",
    "sold_out_vs_naive_rps",
)
COLUMNS = ("when", "commit", "database", "server", "command", *RATIOS, "audit_errors")


def history_line(report: dict) -> dict:
    meta, ratios = report.get("meta", {}), report.get("ratios", {})
    errors = sum(len(a.get("errors", [])) for a in report.get("audits", {}).values())
    line = {
        "when": meta.get("when", "")[:16].replace("T", " "),
        "commit": meta.get("commit", ""),
        "database": meta.get("database", ""),
        "server": meta.get("web", ""),
        "command": meta.get("command", ""),
        "audit_errors": errors,
    }
    line.update({name: f"{ratios[name]:.3f}" if name in ratios else "" for name in RATIOS})
    return line


def history_append(report: dict, path: Path = HISTORY) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow(history_line(report))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


PAIRS = (
    ("sold_out", "time_floor", "sold-out POST /api/seckill/", "GET /api/time/"),
    ("accepted", "noop_round_trip", "accepted purchase", "Celery no-op round trip"),
    ("product_detail", "time_floor", "GET /api/products/<id>/", "GET /api/time/"),
)


def plots(report: dict, out: Path = IMG) -> list[Path]:
    """Requests per second by round for each pair of a flood, and the burst's latency distribution beside the
    naive comparator's. Returns the files written."""
    plt = _pyplot()
    out.mkdir(parents=True, exist_ok=True)
    s, written = report.get("scenarios", {}), []
    pairs = [p for p in PAIRS if p[0] in s and p[1] in s and "rps_by_round" in s[p[0]]]
    if pairs:
        fig, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 3.4), squeeze=False)
        for ax, (ours, floor, ours_label, floor_label) in zip(axes[0], pairs):
            for name, label in ((ours, ours_label), (floor, floor_label)):
                rounds = s[name]["rps_by_round"]
                ax.plot(range(1, len(rounds) + 1), rounds, marker="o", label=f"{label}: {s[name]['rps']:,.0f}/s")
            ax.set_title(f"{ours_label}\n{s[ours]['rps'] / s[floor]['rps']:.2f} × {floor_label}", fontsize=9)
            ax.set_xlabel("round (slices alternated)")
            ax.set_ylabel("requests/s")
            ax.set_ylim(bottom=0)
            ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        written.append(_save(fig, out / "bench-rounds.png", plt))
    if "latency_ms_quantiles" in s.get("burst", {}) and "latency_ms_quantiles" in s.get("burst_naive", {}):
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        for name, label in (("burst", "ours"), ("burst_naive", "naive (synchronous, row lock)")):
            q, p99 = s[name]["latency_ms_quantiles"], s[name]["p99_ms"]
            ax.plot(q, [i / (len(q) - 1) * 100 for i in range(len(q))], label=f"{label}: p99 {p99:.0f} ms")
        ax.set_xscale("log")
        ax.set_xlabel("latency of a request (ms, log scale)")
        ax.set_ylabel("% of requests at most that slow")
        ax.set_title(f"Burst: {s['burst']['buyers']:,} buyers at once, stock {report['meta'].get('stock', '?')}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        written.append(_save(fig, out / "bench-burst.png", plt))
    return written


def curve_plot(curve: dict, out: Path = IMG) -> Path:
    """The cost curve (bench/curve.py): requests/s and p99 of the burst as the buyers grow, RSS beside them,
    and the sold-out flood minute by minute."""
    plt = _pyplot()
    out.mkdir(parents=True, exist_ok=True)
    bursts, flood = curve["bursts"], curve.get("flood")
    fig, axes = plt.subplots(1, 3 if flood else 2, figsize=(15 if flood else 10, 3.6), squeeze=False)
    ax = axes[0][0]
    buyers = [b["buyers"] for b in bursts]
    ax.plot(buyers, [b["rps"] for b in bursts], marker="o", label="requests/s")
    ax.set_xscale("log")
    ax.set_xlabel("buyers in the burst (log)")
    ax.set_ylabel("requests/s")
    ax.set_ylim(bottom=0)
    ax2 = ax.twinx()
    ax2.plot(buyers, [b["p99_ms"] for b in bursts], marker="s", color="tab:red", label="p99 (ms)")
    ax2.set_ylabel("p99 ms", color="tab:red")
    ax2.set_ylim(bottom=0)
    ax.set_title("Burst: throughput and p99 as the work grows", fontsize=9)
    ax = axes[0][1]
    for key, label in (("web", "web RSS"), ("worker", "worker RSS")):
        ax.plot(buyers, [b["peak_rss_mb"][key] for b in bursts], marker="o", label=label)
    ax.axhline(150, color="grey", linestyle="--", linewidth=1, label="150 MB")
    ax.set_xscale("log")
    ax.set_xlabel("buyers in the burst (log)")
    ax.set_ylabel("peak RSS per process (MB)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    ax.set_title("Memory", fontsize=9)
    if flood:
        ax = axes[0][2]
        minutes = range(1, len(flood["rps_by_round"]) + 1)
        ax.plot(minutes, flood["rps_by_round"], marker="o", label="sold-out requests/s")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("minute of the flood")
        ax.set_ylabel("requests/s")
        ax2 = ax.twinx()
        ax2.plot(minutes, flood["p99_ms_by_round"], marker="s", color="tab:red", label="p99 (ms)")
        ax2.set_ylabel("p99 ms", color="tab:red")
        ax2.set_ylim(bottom=0)
        ax.set_title(f"Sold-out flood, {len(flood['rps_by_round'])} minutes", fontsize=9)
    fig.tight_layout()
    return _save(fig, out / "bench-curve.png", plt)


def _save(fig, path: Path, plt) -> Path:
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--plots", type=Path, help="a run's JSON: draw its plots")
    p.add_argument("--curve", type=Path, help="a cost curve's JSON: draw its plot")
    p.add_argument("--history-from", type=Path, nargs="+", help="runs' JSON files: append a history line each")
    args = p.parse_args()
    if args.history_from:
        for path in sorted(args.history_from):
            history_append(json.loads(path.read_text()))
    if args.plots:
        for path in plots(json.loads(args.plots.read_text())):
            print(path)
    if args.curve:
        print(curve_plot(json.loads(args.curve.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
