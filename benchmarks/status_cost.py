"""Cost of ``hpo-driver status`` on a large pruned study, before and after it
counts what the pruner did (per rung, or where it pruned).

Builds the study of ``pruning_cost.py`` (default 10,000 finished trials with 100
reports each and 32 running trials, SQLite), gives it a pruner, then times the
whole command (a fresh interpreter each time, as a user runs it) from the code in
``--old`` and from this checkout, alternating, and in this process the two parts
of the new ``status``: the summary it read before and the pruning counts
(``running_intermediate`` and ``reports_since``: the reads a fresh worker's pruner
does). Run it under the timing lock, with an old checkout beside it::

    git worktree add -f /tmp/old-status REV
    flock /tmp/hpo-bench.lock python benchmarks/status_cost.py --old /tmp/old-status
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pruning_cost import build_study
from hpo_service.driver._output import status_summary, study_ladder
from hpo_service.store import open_store

REPO = Path(__file__).resolve().parents[1]
PRUNERS = {
    "asha": {
        "min_resource": 1,
        "max_resource": 100,
        "reduction_factor": 3,
        "min_early_stopping_rate": 0,
    },
    "median": {"n_startup_trials": 5, "n_warmup_steps": 0, "interval_steps": 1},
}


def time_command(checkout: Path, url: str) -> float:
    """Seconds one ``hpo-driver status`` takes from ``checkout``'s code."""
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "hpo_service.driver.cli", "status", "--db", url,
         "--study", "big"],
        cwd=checkout, capture_output=True, text=True, check=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    assert "big" in run.stdout, run.stdout
    return seconds


def time_parts(url: str, pruner: str, repeats: int) -> dict[str, float]:
    """Median seconds of the new status's summary, and of its pruning counts alone,
    each on a fresh connection."""
    parts: dict[str, list[float]] = {"status_summary": [], "pruning_counts": []}
    for _ in range(repeats):
        with open_store(url) as store:
            started = time.perf_counter()
            status_summary(store, "big")
            parts["status_summary"].append(time.perf_counter() - started)
        with open_store(url) as store:
            started = time.perf_counter()
            study_ladder(store, "big", pruner, PRUNERS[pruner])
            parts["pruning_counts"].append(time.perf_counter() - started)
    return {k: statistics.median(v) for k, v in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="old checkout")
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--running", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'big.sqlite'}"
        started = time.perf_counter()
        build_study(url, args.trials, args.steps, args.running)
        print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
        for pruner, settings in PRUNERS.items():
            with open_store(url) as store:
                store.update_study_settings(
                    "big", {"pruner": pruner, "pruner_settings": settings}
                )
            times: dict[str, list[float]] = {"old": [], "new": []}
            for _ in range(args.repeats):
                times["old"].append(time_command(args.old, url))
                times["new"].append(time_command(REPO, url))
            old, new = (statistics.median(times[k]) for k in ("old", "new"))
            parts = time_parts(url, pruner, args.repeats)
            print(
                f"{pruner}: status command old {old:.3f} s, new {new:.3f} s "
                f"(median of {args.repeats}, alternating); in process: summary "
                f"{parts['status_summary']:.3f} s, of which pruning counts "
                f"{parts['pruning_counts']:.3f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
