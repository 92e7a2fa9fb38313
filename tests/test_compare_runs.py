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
