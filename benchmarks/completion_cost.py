"""What a claim + complete costs on SQLite, in measures a busy machine blurs less.

    python -m benchmarks.completion_cost                  # this checkout
    python -m benchmarks.completion_cost --code /tmp/old  # another checkout's code
    python -m benchmarks.completion_cost --trials 5000 --processes 1 4

Three measures of the loop every worker runs (claim, then complete with a result and
a code, as ``hpo-worker`` does), on a queue of ``--trials`` trials:

- **WAL pages per trial** (one process, automatic checkpoints off): the pages a
  claim + complete writes, each index entry it moves included. Deterministic: the
  same on a quiet and a busy machine.
- **Statement times** (one process): the median microseconds of each statement of
  a completion (BEGIN IMMEDIATE, the trial's UPDATE, the study's version bump,
  COMMIT) and the mean of COMMIT, which holds the automatic checkpoints.
- **CPU per trial** (``--processes`` processes draining one queue): user + system
  seconds of the draining processes over the trials, beside the wall rate. CPU time
  moves less than wall time when other work shares the cores.

``--code DIR`` measures the ``hpo_service`` package in DIR (e.g. ``git worktree add
/tmp/old <commit>``), in this process and in the draining ones.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

CODE = {"module": "benchmarks.trivial", "sha256": "0123456789abcdef", "version": None}
STUDY = "bench"


def _loss(tid: int) -> float:
    """A loss in [0, 1) that does not grow with the tid (ranks land anywhere)."""
    return (tid * 2654435761 % 100003) / 100003


def fill(url: str, trials: int) -> None:
    from hpo_service.store import NewTrial, open_store

    with open_store(url) as store:
        store.create_study(STUDY, {})
        for start in range(0, trials, 1000):
            batch = range(start, min(trials, start + 1000))
            configs = [{"x": float(i)} for i in batch]
            store.insert_trials(STUDY, [NewTrial(c, c) for c in configs])


def drain(store: Any) -> int:
    """Claim and complete until the queue is empty; the number of trials."""
    done = 0
    while (trial := store.claim("w", 60.0, study=STUDY)) is not None:
        result = {"loss": _loss(trial.tid), "status": "ok"}
        store.complete(STUDY, trial.tid, trial.token, result, code=CODE)
        done += 1
    return done


class _Timed:
    """A connection whose ``execute`` times each statement by its kind."""

    def __init__(self, conn: Any, times: dict[str, list[float]]) -> None:
        self._conn, self._times = conn, times

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def execute(self, sql: str, *args: Any) -> Any:
        started = time.perf_counter()
        cursor = self._conn.execute(sql, *args)
        kind = "bump" if sql.startswith("UPDATE studies") else sql.split()[0].lower()
        self._times[kind].append(time.perf_counter() - started)
        return cursor


def one_process(directory: Path, trials: int) -> str:
    """WAL pages per trial and the statement times of a completion, one process."""
    from hpo_service.store import open_store

    url = f"sqlite:///{directory / 'one.sqlite'}"
    fill(url, trials)
    times: dict[str, list[float]] = defaultdict(list)
    with open_store(url) as store:
        conn = store._connection()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        drain(store)
        frames = os.path.getsize(directory / "one.sqlite-wal") / (page + 24)
    url = f"sqlite:///{directory / 'times.sqlite'}"
    fill(url, trials)
    with open_store(url) as store:
        claimed = []
        while (trial := store.claim("w", 60.0, study=STUDY)) is not None:
            claimed.append(trial)
        store._conn = _Timed(store._conn, times)  # completions only from here
        for trial in claimed:
            result = {"loss": _loss(trial.tid), "status": "ok"}
            store.complete(STUDY, trial.tid, trial.token, result, code=CODE)
    medians = ", ".join(
        f"{kind} {statistics.median(values) * 1e6:.1f}"
        for kind, values in times.items()
    )
    commit = statistics.mean(times["commit"]) * 1e6
    return (
        f"WAL pages per claim + complete {frames / trials:.2f}; completion statements "
        f"(median us): {medians}; COMMIT mean {commit:.0f} us (checkpoints included)"
    )


def _drainer(code: str | None, url: str, barrier: Any, out: Any) -> None:
    if code:
        sys.path.insert(0, code)
    from hpo_service.store import open_store

    with open_store(url) as store:
        barrier.wait()
        cpu, started = time.process_time(), time.perf_counter()
        done = drain(store)
        out.put((time.process_time() - cpu, done, started, time.perf_counter()))


def processes(directory: Path, trials: int, count: int, code: str | None) -> str:
    """CPU microseconds per trial and the wall rate, ``count`` processes."""
    url = f"sqlite:///{directory / f'p{count}.sqlite'}"
    fill(url, trials)
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(count), ctx.Queue()
    workers = [
        ctx.Process(target=_drainer, args=(code, url, barrier, out))
        for _ in range(count)
    ]
    for worker in workers:
        worker.start()
    results = [out.get() for _ in workers]
    for worker in workers:
        worker.join()
    cpu = sum(r[0] for r in results)
    if sum(r[1] for r in results) != trials:
        raise SystemExit(f"expected {trials} trials done")
    wall = max(r[3] for r in results) - min(r[2] for r in results)
    return (
        f"{count} process(es): CPU {cpu / trials * 1e6:.0f} us per trial, "
        f"wall {trials / wall:.0f} trials/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--code", help="a directory holding the hpo_service to measure")
    args = parser.parse_args()
    if args.code:
        sys.path.insert(0, os.path.abspath(args.code))
    import hpo_service

    print(f"code: {Path(hpo_service.__file__).parent.parent}; {args.trials} trials")
    with tempfile.TemporaryDirectory() as tmp:
        print(one_process(Path(tmp), args.trials), flush=True)
        for count in args.processes:
            code = os.path.abspath(args.code) if args.code else None
            print(processes(Path(tmp), args.trials, count, code), flush=True)


if __name__ == "__main__":
    main()
