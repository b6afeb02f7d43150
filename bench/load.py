"""The load generators: wrk floods (one or several loads side by side, their slices alternated) and the burst
(headless Locust, every buyer at once)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from bench.system import RESULTS, ROOT, RssSampler, ensure_wrk


# --- load generators --------------------------------------------------------------------------------------
def wrk(args, url, tokens_csv, method="GET", body="", duration=None, offset=0) -> dict:
    """One wrk load; `offset`: the first buyer of the CSV to use (a later slice must not reuse earlier buyers)."""
    cmd = [
        ensure_wrk(),
        "-t2",
        f"-c{args.connections}",
        f"-d{duration or args.duration}s",
        "--latency",
        "-s",
        str(ROOT / "bench" / "wrk_buyers.lua"),
        url,
        "--",
        str(tokens_csv),
        method,
        body,
        "2",
        str(offset),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read()
    line = next((row for row in out.splitlines() if row.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out}\n{proc.stderr.read()}")
    result = json.loads(line)
    seconds = result["duration_us"] / 1e6
    result["rps"] = result["requests"] / seconds
    result["generator_cpu_s"] = usage.ru_utime + usage.ru_stime
    result["generator_cpu_share"] = result["generator_cpu_s"] / seconds / (os.cpu_count() or 1)
    return result


def buyers_in(csv_path) -> int:
    with open(csv_path) as f:
        return sum(1 for _ in f) - 1  # the header


def wrk_side_by_side(args, system, runs: dict, between=None, groups=None) -> dict:
    """Run each named wrk load (name -> (url, tokens_csv, method, body)) for `args.duration` seconds in all,
    split into `args.rounds` interleaved slices after a short warm-up of each, so that a noisy neighbour on this
    shared machine hits every load alike. Figures are summed over the slices; latency percentiles are the
    median of the slices'. `between` runs after each slice (e.g. to let queued work drain). The CPU the web,
    worker and Redis processes used per request (slice and `between` included) shows where each load's cost is."""
    between = between or (lambda: None)
    # each slice starts with buyers no earlier slice of its group used (`groups`: load name -> group; loads of one
    # group, e.g. the same purchase on two servers, share the CSV's buyers; by default a load is its own group)
    groups = {name: (groups or {}).get(name, name) for name in runs}
    offsets = dict.fromkeys(groups.values(), 0)

    def one(name, duration):
        url, csv, method, body = runs[name]
        cpu_before, calls_before = system.cpu_seconds(), system.redis.calls()
        group = groups[name]
        result = wrk(args, url, csv, method, body, duration=duration, offset=offsets[group])
        offsets[group] += result["buyers_used"]
        result["buyers_wrapped"] = offsets[group] > buyers_in(csv)  # buyers were used a second time
        between()
        cpu_after, calls_after = system.cpu_seconds(), system.redis.calls()
        result["server_cpu_s"] = {k: cpu_after[k] - cpu_before[k] for k in cpu_before}
        result["redis_calls"] = {k: calls_after[k] - calls_before[k] for k in calls_before}
        return result

    for name in runs:  # warm-up: the first requests of a process import modules and fill caches
        one(name, 1)
    slices = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name in runs:
            slices[name].append(one(name, max(1, args.duration // args.rounds)))
    out = {}
    for name, parts in slices.items():
        merged = {
            "rounds": len(parts),
            "requests": sum(p["requests"] for p in parts),
            "duration_us": sum(p["duration_us"] for p in parts),
            "errors": sum(p["errors"] for p in parts),
        }
        for key in ("p50_ms", "p90_ms", "p99_ms"):
            merged[key] = statistics.median(p[key] for p in parts)
        statuses: dict[str, int] = {}
        for p in parts:
            for code, count in p["statuses"].items():
                statuses[code] = statuses.get(code, 0) + count
        merged["statuses"] = statuses
        merged["buyers_wrapped"] = any(p["buyers_wrapped"] for p in parts)
        merged["rps"] = merged["requests"] / (merged["duration_us"] / 1e6)
        merged["rps_by_round"] = [round(p["rps"]) for p in parts]
        merged["server_cpu_ms_per_request"] = {
            k: round(sum(p["server_cpu_s"][k] for p in parts) / max(1, merged["requests"]) * 1000, 3)
            for k in parts[0]["server_cpu_s"]
        }
        # Redis commands per request, by node (what else ran on the machine's shared Redis meanwhile counts too)
        merged["redis_calls_per_request"] = {
            k: round(sum(p["redis_calls"][k] for p in parts) / max(1, merged["requests"]), 3)
            for k in parts[0]["redis_calls"]
        }
        merged["generator_cpu_s"] = sum(p["generator_cpu_s"] for p in parts)
        merged["generator_cpu_share"] = (
            merged["generator_cpu_s"] / (merged["duration_us"] / 1e6) / (os.cpu_count() or 1)
        )
        out[name] = merged
    return out


def burst(args, system, path, product_id, tokens, base=None) -> dict:
    """Every buyer at once, from `args.burst_processes` headless Locust processes (bench/locustfile.py) of
    `args.burst_users` FastHttpUsers each; the generator's CPU is measured from its processes."""
    start_at = time.time() + 5.0  # Locust takes a second or two to start; every buyer then fires at once
    cpu_before, calls_before = system.cpu_seconds(), system.redis.calls()
    procs, outs = [], []
    for i in range(args.burst_processes):
        spec_path, out = RESULTS / f"burst-{i}.spec.tmp", RESULTS / f"burst-{i}.out.tmp"
        out.unlink(missing_ok=True)
        spec_path.write_text(
            json.dumps(
                dict(
                    base=base or system.base,
                    path=path,
                    product_id=product_id,
                    start_at=start_at,
                    tokens=tokens[i :: args.burst_processes],
                    out=str(out),
                )
            )
        )
        cmd = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(ROOT / "bench" / "locustfile.py"),
            "--headless",
            "-u",
            str(args.burst_users),
            "-r",
            str(args.burst_users),
            "--host",
            base or system.base,
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--run-time",
            f"{args.burst_timeout}s",
            "--stop-timeout",
            "5",
        ]
        procs.append(
            subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=dict(os.environ, BENCH_SPEC=str(spec_path)),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        outs.append(out)
    sampler = RssSampler(system)
    sampler.start()
    cpu = 0.0
    results = []
    for proc, out in zip(procs, outs):
        _, _, usage = os.wait4(proc.pid, 0)
        cpu += usage.ru_utime + usage.ru_stime
        results.append(json.loads(out.read_text()) if out.exists() else {"latencies": [], "answers": []})
    sampler.stop_event.set()
    from bench.audit import wait_until_settled

    wait_until_settled()  # what the burst's requests cost includes their decisions
    cpu_after, calls_after = system.cpu_seconds(), system.redis.calls()
    latencies = sorted(latency for r in results for latency in r["latencies"])
    answers = [a for r in results for a in r["answers"]]
    wall = max((a[2] for a in answers), default=float("nan"))
    codes: dict[str, int] = {}
    for _status, code, _ in answers:
        codes[code] = codes.get(code, 0) + 1
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    return {
        "buyers": len(tokens),
        "answered": len(answers),
        "seconds_until_all_answered": wall,
        "requests": len(latencies),
        "rps": len(latencies) / wall,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "latency_ms_quantiles": [round(pct(i / 100), 2) for i in range(101)],  # (the report's distribution plot)
        "sales": codes.get("success", 0),
        "sales_per_s": codes.get("success", 0) / wall,
        "final_codes": codes,
        "server_errors": sum(1 for status, _, _ in answers if status >= 500),
        "generator_cpu_share": cpu / wall / (os.cpu_count() or 1),
        "peak_rss_mb": sampler.peak,
        # per request, the decisions included (what else ran on the machine's shared Redis meanwhile counts too)
        "server_cpu_ms_per_request": {
            k: round((cpu_after[k] - cpu_before[k]) / max(1, len(latencies)) * 1000, 3) for k in cpu_before
        },
        "redis_calls_per_request": {
            k: round((calls_after[k] - calls_before[k]) / max(1, len(latencies)), 3) for k in calls_before
        },
    }
