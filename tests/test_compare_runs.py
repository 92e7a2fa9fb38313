"""benchmarks/compare_runs.py, run as a script on small results files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _runs_file(path: Path, algo: str, seeds: range, evals: int) -> Path:
    runs = [
        {"algo": algo, "problem": "p", "seed": seed,
         "losses": [1.0 / (seed + step + 1) for step in range(evals)]}
        for seed in seeds
    ]  # fmt: skip
    path.write_text(json.dumps({"runs": runs}))
    return path


def test_whole_seeds_with_a_budget_no_run_reached(tmp_path):
    """--whole-seeds at a budget past every run's evaluations (50-evaluation runs,
    the default budgets 50 and 100): the 100 table is empty. Before, the seeds
    every label shares were intersected over no label, a TypeError."""
    files = [
        _runs_file(tmp_path / "sample_efficiency_a.json", "ours", range(6), 50),
        _runs_file(tmp_path / "sample_efficiency_b.json", "hyperopt", range(8), 50),
    ]
    run = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "compare_runs.py"),
         *map(str, files), "--whole-seeds", "--against", "hyperopt_b"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = [line.split() for line in run.stdout.splitlines() if "seeds" in line]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("50", "hyperopt_b", "6"),
        ("50", "ours_a", "6"),
    ], run.stdout


def test_sample_efficiency_variants_take_the_batch_and_ours_settings(tmp_path):
    """benchmarks/sample_efficiency.py --variants: each variant runs as ours with
    --batch and --ours-settings, its own settings replacing those it names. Before,
    a variant got its own settings only: `--batch 2 --variants ...` compared
    ours asking 2 points at a time with variants asking 1, silently."""
    run = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "sample_efficiency.py"),
         "--problems", "branin", "--algos", "ours", "--seeds", "1", "--evals", "4",
         "--processes", "1", "--batch", "2", "--ours-settings", '{"gamma": 0.2}',
         "--variants", '{"g3": {"gamma": 0.3}, "one": {"batch": 1}}',
         "--results-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    written = json.loads((tmp_path / "sample_efficiency.json").read_text())
    ran = {r["algo"]: r["settings"] for r in written["runs"]}
    assert ran == {
        "ours": {"gamma": 0.2, "batch": 2},
        "ours_g3": {"gamma": 0.3, "batch": 2},
        "ours_one": {"gamma": 0.2, "batch": 1},
    }
    assert written["meta"]["variants"] == {"g3": ran["ours_g3"], "one": ran["ours_one"]}
    assert all(len(r["losses"]) == 4 for r in written["runs"])
