"""End-to-end runs of hpo-driver with workers on SQLite: throughput, or regret and idle.

    python -m benchmarks.e2e_throughput --trials 5000 --workers 4
    python -m benchmarks.e2e_throughput --problems branin hartmann6 --workers 4 8 \
        --trials 300 --seeds 32 --seed-offset 5000 \
        --variant count '{"prior_gate": "count"}' auto --variant none \
        '{"prior_gate": "none"}' auto

Without ``--problems`` (throughput): a trivial objective, K local workers; prints
trials/s over the whole study (first claim to last finish, from the store's own
timestamps, so process start-up is excluded) and the rate over the first and last
fifths of the study, to show whether per-trial cost grows with the study, and the
CPU milliseconds per trial of the driver, its workers and their objective processes
together (``getrusage(RUSAGE_CHILDREN)``, start-up included), which hold on a shared
machine where the rates do not; then, per run, where it waited in the first and the
last fifth (:mod:`benchmarks.queue_waits`: the share of time nothing was queued, a
worker's time from a finish to its next claim, the driver's refills).

With ``--problems`` (the queue policy, :mod:`benchmarks.quality_e2e`): real
``hpo-driver start`` and W separate ``hpo-worker`` processes per study, objectives of
:mod:`benchmarks.sleepy` (a log-normal sleep of median ``--sleep-median`` s), one study
per problem, W and seed; writes the losses in finishing order, the workers' idle share
and the pending counts the sampler saw, in ``parallel_efficiency.py``'s format
(``compare_parallel.py --paired`` reads it).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import quality_e2e, queue_waits
from hpo_service.store import TrialState, open_store

REPO = Path(__file__).resolve().parents[1]


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's ended, waited-for children and
    theirs: the driver, its local workers and their objective processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_study(db: str, trials: int, workers: int, algo: str) -> float:
    command = [
        sys.executable, "-m", "hpo_service.driver.cli", "start",
        "--db", db, "--study", "bench",
        "--objective", "benchmarks.trivial:objective",
        "--space", "benchmarks.trivial:space", "--algo", algo,
        "--max-evals", str(trials), "--workers", str(workers), "--no-progress",
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - started


def rates(db: str) -> dict[str, float]:
    with open_store(db) as store:
        trials = store.get_trials("bench", [TrialState.DONE])
    finished = sorted(t.finished_at for t in trials)
    start = min(t.started_at for t in trials)
    fifth = len(finished) // 5
    first = fifth / (finished[fifth - 1] - start)
    last = fifth / (finished[-1] - finished[-fifth - 1])
    return {
        "trials_per_s": len(finished) / (finished[-1] - start),
        "first_fifth_per_s": first,
        "last_fifth_per_s": last,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--algo", default="tpe", choices=["tpe", "rand"])
    parser.add_argument("--problems", nargs="+", help="regret and idle mode")
    quality_e2e.add_arguments(parser)
    args = parser.parse_args()
    if args.problems:
        quality_e2e.run(args)
        return
    header = ("workers", "wall s", "trials/s", "first 1/5", "last 1/5", "cpu ms/t")
    print(" ".join(f"{h:>9}" for h in header))
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp:
            db = f"sqlite:///{tmp}/bench.sqlite"
            cpu = children_cpu()
            wall = run_study(db, args.trials, workers, args.algo)
            cpu = children_cpu() - cpu
            r = rates(db)
            trials = queue_waits.read(db, "bench")
            waited = queue_waits.said(*queue_waits.fifths(trials))
        row = (workers, wall, *r.values(), 1000 * cpu / args.trials)
        print(" ".join(f"{v:>9.1f}" for v in row))
        print(f"{'':>9} waits, first / last fifth: {waited}")


if __name__ == "__main__":
    main()
