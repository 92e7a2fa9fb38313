"""Trials-store throughput: claim + complete with a trivial objective, no driver.

    python -m benchmarks.store_throughput --trials 10000 --processes 1 2 4

Fills one study with ``--trials`` queued trials, then drains it with 1, 2 and 4 worker
processes on SQLite (and one in-process loop on mongomock, for reference). Each worker
claims, evaluates ``(x - 3)**2`` and completes, until the queue is empty.

Prints trials/s from the first claim to the last completion (the store's own
timestamps, so process start-up is excluded), and the cost of a trial (the wall time of
its claim + complete, waiting for other processes included) as the median over the
first 200 and over the last 200 trials, to show that a trial does not get dearer as
the study grows. Medians, because the machine may be shared: a 200-trial window lasts
tens of milliseconds and one scheduling hiccup would swamp a mean.
Targets: >= 2,000 trials/s with 4 processes; last-200 within 20% of first-200.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from hpo_service.store import BaseTrialStore, NewTrial, TrialState, open_store
from hpo_service.store._mongo import drop_mongomock_server

WINDOW = 200
LEASE = 60.0


def fill(store: BaseTrialStore, trials: int) -> None:
    store.create_study("bench", {})
    for start in range(0, trials, 1000):
        batch = range(start, min(trials, start + 1000))
        store.insert_trials(
            "bench", [NewTrial({"x": i}, {"x": float(i)}) for i in batch]
        )


def drain(store: BaseTrialStore, owner: str) -> list[tuple[int, float]]:
    """Claim, evaluate and complete until the queue is empty: (tid, seconds) each."""
    costs = []
    while True:
        started = time.perf_counter()
        trial = store.claim(owner, LEASE, study="bench")
        if trial is None:
            return costs
        loss = (trial.config["x"] - 3.0) ** 2
        store.complete("bench", trial.tid, trial.token, {"loss": loss, "status": "ok"})
        costs.append((trial.tid, time.perf_counter() - started))


def _worker(url: str, owner: str, barrier: Any, out: Any) -> None:
    with open_store(url) as store:
        barrier.wait()
        out.put(drain(store, owner))


def run_processes(url: str, processes: int) -> list[tuple[int, float]]:
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(processes + 1), ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(url, f"w{i}", barrier, out))
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    barrier.wait()  # every worker has opened the store: start together
    costs = [cost for _ in workers for cost in out.get()]
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            raise SystemExit(f"worker exited with {worker.exitcode}")
    return costs


def measure(
    store: BaseTrialStore, trials: int, costs: list[tuple[int, float]]
) -> dict[str, float]:
    done = store.get_trials("bench", [TrialState.DONE])
    if len(done) != trials or len(costs) != trials:
        raise SystemExit(f"expected {trials} done trials, got {len(done)}")
    start = min(t.started_at for t in done)
    end = max(t.finished_at for t in done)
    by_tid = [seconds for _, seconds in sorted(costs)]
    return {
        "rate": trials / (end - start),
        "first_us": statistics.median(by_tid[:WINDOW]) * 1e6,
        "last_us": statistics.median(by_tid[-WINDOW:]) * 1e6,
    }


def bench_sqlite(directory: Path, trials: int, processes: int) -> dict[str, float]:
    url = f"sqlite:///{directory / f'bench-{processes}.sqlite'}"
    with open_store(url) as store:
        fill(store, trials)
        return measure(store, trials, run_processes(url, processes))


def bench_mongomock(trials: int) -> dict[str, float]:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        with open_store(f"mongomock://{name}") as store:
            fill(store, trials)
            return measure(store, trials, drain(store, "w0"))
    finally:
        drop_mongomock_server(name)


def show(backend: str, processes: int, row: dict[str, float]) -> None:
    ratio = row["last_us"] / row["first_us"]
    print(
        f"{backend:>10} {processes:>9} {row['rate']:>9.0f} "
        f"{row['first_us']:>12.0f} {row['last_us']:>12.0f} {ratio:>10.2f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument(
        "--mongomock-trials", type=int, default=500, help="0 skips mongomock"
    )
    args = parser.parse_args()
    if args.trials <= 2 * WINDOW or 0 < args.mongomock_trials <= 2 * WINDOW:
        parser.error(f"--trials and --mongomock-trials must exceed {2 * WINDOW}")
    header = (
        "backend",
        "processes",
        "trials/s",
        "first200 us",
        "last200 us",
        "last/first",
    )
    print(
        " ".join(
            f"{h:>{w}}" for h, w in zip(header, (10, 9, 9, 12, 12, 10), strict=True)
        )
    )
    with tempfile.TemporaryDirectory() as directory:
        for processes in args.processes:
            show(
                "sqlite",
                processes,
                bench_sqlite(Path(directory), args.trials, processes),
            )
    if args.mongomock_trials:
        show("mongomock", 1, bench_mongomock(args.mongomock_trials))


if __name__ == "__main__":
    main()
