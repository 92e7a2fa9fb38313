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
``--no-objective-output``, alternately, to price the polling.
"""

from __future__ import annotations

import argparse
import random
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


def measure(trials: int, workers: int, extra: list[str]) -> tuple[float, int]:
    """Trials/s from first claim to last finish, and how many trials were done."""
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        fill(db, trials)
        drain(db, workers, extra)
        with open_store(db) as store:
            done = store.get_trials("bench", [TrialState.DONE])
    first = min(t.started_at for t in done)
    last = max(t.finished_at for t in done)
    return len(done) / (last - first), len(done)


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
                rate, done = measure(args.trials, workers, variants[name])
                print(
                    f"{workers} worker(s), output {name}: {done} trials, "
                    f"{rate:7.1f} trials/s, {1000 * workers / rate:.2f} ms per "
                    "trial per worker"
                )


if __name__ == "__main__":
    main()
