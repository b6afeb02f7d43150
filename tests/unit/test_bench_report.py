"""bench/report.py: a run's history line, and its plots drawn from a run's JSON."""

import csv
import importlib.util
import json

import pytest

from tests.support.processes import ROOT

spec = importlib.util.spec_from_file_location("bench_report", ROOT / "bench" / "report.py")
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)

RUN = {
    "meta": {
        "when": "2026-12-05T12:00:00+00:00",
        "commit": "abc1234",
        "database": "postgres",
        "web": "granian 2x32",
        "command": "python bench/run.py",
        "stock": 500,
    },
    "ratios": {"sold_out_vs_time_rps": 0.9123, "accepted_vs_noop_rps": 0.85},
    "audits": {"burst": {"errors": []}, "accepted": {"errors": ["gate: 1 unit"]}},
    "scenarios": {
        "sold_out": {"rps": 900, "rps_by_round": [880, 920]},
        "time_floor": {"rps": 1000, "rps_by_round": [990, 1010]},
        "burst": {"buyers": 100, "p99_ms": 50, "latency_ms_quantiles": list(range(101))},
        "burst_naive": {"buyers": 100, "p99_ms": 150, "latency_ms_quantiles": [3 * i for i in range(101)]},
    },
}


def test_a_run_is_one_history_line_with_its_ratios_and_audit_errors(tmp_path):
    path = tmp_path / "history.csv"
    report.history_append(RUN, path)
    report.history_append({**RUN, "ratios": {}}, path)
    first, second = list(csv.DictReader(path.open()))
    assert (first["when"], first["commit"], first["database"], first["server"]) == (
        "2026-12-05 12:00",
        "abc1234",
        "postgres",
        "granian 2x32",
    )
    assert (first["sold_out_vs_time_rps"], first["accepted_vs_noop_rps"], first["burst_time_vs_naive"]) == (
        "0.912",
        "0.850",
        "",
    )
    assert first["audit_errors"] == "1" and second["sold_out_vs_time_rps"] == ""


def test_plots_are_drawn_from_a_runs_json(tmp_path):
    pytest.importorskip("matplotlib", reason="bench/requirements.txt installs it")
    written = report.plots(json.loads(json.dumps(RUN)), tmp_path)
    assert sorted(p.name for p in written) == ["bench-burst.png", "bench-rounds.png"]
    assert all(p.stat().st_size > 5_000 for p in written)
