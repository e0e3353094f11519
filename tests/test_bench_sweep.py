"""The bench shape sweep's harness runs end to end (never its timings): ``python -m
bench.sweep --quick`` on tiny shapes of every family, in a fresh process as a user runs it."""

import json
import math
import os
import subprocess
import sys

from bench import sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quick_sweep_runs_every_family_and_reports_ratios(tmp_path):
    out = tmp_path / "sweep.json"
    proc = subprocess.run([sys.executable, "-m", "bench.sweep", "--quick", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["meta"]["quick"] is True
    assert list(report["summary"]) == list(sweep.FAMILIES)
    failed = [(r["family"], r["case"], r["error"]) for r in report["results"] if "error" in r]
    assert not failed, failed
    for r in report["results"]:
        assert r["ember_ms"] > 0 and r["torch_ms"] > 0
        assert math.isclose(r["ratio"], r["ember_ms"] / r["torch_ms"], rel_tol=1e-9)
        assert r["err"] <= sweep.ERR_TOL, r      # both libraries did the same work
    for family, s in report["summary"].items():
        ratios = [r["ratio"] for r in report["results"] if r["family"] == family]
        assert s["cases"] == len(ratios) >= 1
        assert s["worst"] == max(ratios)
        assert min(ratios) <= s["geomean"] <= max(ratios)
        assert f"{s['geomean']:8.2f}" in proc.stdout     # the printed summary row
    generation = [r for r in report["results"] if "tokens_per_s" in r]
    assert len(generation) == 1 and generation[0]["tokens_per_s"]["ember"] > 0


def test_family_option_runs_only_that_family(tmp_path):
    out = tmp_path / "pool.json"
    proc = subprocess.run([sys.executable, "-m", "bench.sweep", "--quick", "--family", "pool",
                           "--json", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert {r["family"] for r in report["results"]} == {"pool"}
    assert list(report["summary"]) == ["pool"]


def test_summary_geometric_mean_and_worst():
    results = [{"family": "f", "case": "a", "ratio": 2.0}, {"family": "f", "case": "b",
                                                             "ratio": 0.5},
               {"family": "f", "case": "c", "error": "ValueError: x"}]
    s = sweep.summarize(results)["f"]
    assert s["cases"] == 2 and s["failed"] == ["c"]
    assert math.isclose(s["geomean"], 1.0) and s["worst"] == 2.0 and s["worst_case"] == "a"
