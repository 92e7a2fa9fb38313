"""Worker throughput: K ``hpo-worker`` processes draining a pre-filled SQLite queue.

    python -m benchmarks.worker_throughput --trials 3000 --workers 1 4
    python -m benchmarks.worker_throughput --trials 2000 --workers 1 --output both

No driver runs: the queue is filled before the workers start, so the rate is the
workers' own per-trial cost (claim, run the trivial objective in the reused child
process, record the result) plus the store's. Rates come from the store's timestamps
(first claim to last finish), so process start-up and the idle timeout are excluded.
Worker logs (one INFO line per trial) go to /dev/null, as with a quiet journal.
``--output both`` runs each case with the objective's output shown (the default: the
worker polls the output file while the objective runs) and with
``--no-objective-output``, alternately, to price the polling. The CPU time per trial
(user + system of the workers and their objective processes, from
``getrusage(RUSAGE_CHILDREN)``; start-up and the 1 s idle end included) holds on a
shared machine where the rate does not.
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from hpo_service._common.settings import StudySettings
from hpo_service.store import NewTrial, TrialState, open_store

REPO = Path(__file__).resolve().parents[1]
OBJECTIVE = "benchmarks.trivial:objective"


def _configs(n: int, seed: int = 0) -> list[dict[str, float]]:
    rng = random.Random(seed)
    return [{"a": rng.uniform(-5, 5), "b": rng.uniform(-5, 5), "h": rng.random()}
            for _ in range(n)]  # fmt: skip


def fill(db: str, trials: int) -> None:
    """Create the study and queue ``trials`` trials."""
    settings = StudySettings(
        objective=OBJECTIVE, space={}, space_fingerprint="bench", max_evals=trials
    )
    with open_store(db) as store:
        store.create_study("bench", settings.to_dict())
        configs = _configs(trials)
        for start in range(0, trials, 500):
            batch = configs[start : start + 500]
            store.insert_trials("bench", [NewTrial(params=c, config=c) for c in batch])


def drain(db: str, workers: int, extra: list[str]) -> None:
    """Run ``workers`` worker processes (with ``extra`` options) until the queue is
    empty."""
    command = [sys.executable, "-m", "hpo_service.worker", "--db", db,
               "--study", "bench", "--idle-timeout", "1", *extra]  # fmt: skip
    procs = [
        subprocess.Popen(command, cwd=REPO, stderr=subprocess.DEVNULL)
        for _ in range(workers)
    ]
    codes = [proc.wait() for proc in procs]
    if any(codes):
        raise SystemExit(f"a worker failed: exit codes {codes}")


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's ended, waited-for children and
    theirs: the workers and their objective processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(trials: int, workers: int, extra: list[str]) -> tuple[float, int, float]:
    """Trials/s from first claim to last finish, how many trials were done, and the
    workers' CPU seconds (start-up and the 1 s idle end included)."""
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        fill(db, trials)
        cpu = children_cpu()
        drain(db, workers, extra)
        cpu = children_cpu() - cpu
        with open_store(db) as store:
            done = store.get_trials("bench", [TrialState.DONE])
    first = min(t.started_at for t in done)
    last = max(t.finished_at for t in done)
    return len(done) / (last - first), len(done), cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument(
        "--output", choices=["shown", "hidden", "both"], default="shown",
        help="objective output shown (default), hidden, or both alternately",
    )  # fmt: skip
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    variants = {"shown": [], "hidden": ["--no-objective-output"]}
    names = ["shown", "hidden"] if args.output == "both" else [args.output]
    for workers in args.workers:
        for _ in range(args.repeats):
            for name in names:
                rate, done, cpu = measure(args.trials, workers, variants[name])
                print(
                    f"{workers} worker(s), output {name}: {done} trials, "
                    f"{rate:7.1f} trials/s, {1000 * workers / rate:.2f} ms per "
                    f"trial per worker, {1000 * cpu / done:.2f} ms CPU per trial"
                )


if __name__ == "__main__":
    main()
