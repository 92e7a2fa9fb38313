"""CPU cost of the driver's per-trial work as a study grows (one process, SQLite).

    python -m benchmarks.driver_cost --trials 20000

Replays what ``hpo-driver start`` and a worker do for every trial, in one process, and
adds up the CPU seconds (``time.process_time``) of each part per window of trials:
TPE suggestions (``Suggester.suggest``), inserting them, a worker's claim + complete,
and reading the changes back (``changes_since`` + ``Suggester.observe``). The queue is
kept ``--queue`` deep, as the automatic depth keeps it with a few fast workers. CPU
time, not wall time, so the numbers hold on a shared machine; a part whose cost per
trial grows with the study is what makes the last fifth of a long study slower.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from benchmarks import trivial
from hpo_service.algorithms import tpe
from hpo_service.driver._suggest import Suggester
from hpo_service.store import open_store


class _Replay:
    """The driver's and one worker's calls for each trial, timed by part."""

    def __init__(self, store: Any, queue: int) -> None:
        self.store, self.queue = store, queue
        self.suggester = Suggester(trivial.space, partial(tpe.suggest))
        self.rng = np.random.default_rng(0)
        self.queued: dict[int, dict[str, Any]] = {}
        self.cursor, self.done = 0, 0
        self.cost: dict[str, float] = defaultdict(float)

    def _timed(self, part: str, fn: Callable[..., Any], *args: Any) -> Any:
        start = time.process_time()
        out = fn(*args)
        self.cost[part] += time.process_time() - start
        return out

    def step(self, trials: int) -> None:
        """Refill the queue, run one trial, read the changes back."""
        store, queued = self.store, self.queued
        room = min(self.queue - len(queued), trials - self.done - len(queued))
        if room > 0:
            new = self._timed(
                "suggest", self.suggester.suggest, self.rng, room, list(queued.values())
            )
            tids = self._timed("insert", store.insert_trials, "cost", new)
            queued.update(zip(tids, (t.params for t in new), strict=True))
        trial = self._timed("claim", partial(store.claim, study="cost"), "w", 60.0)
        result = {"loss": trivial.objective(trial.config), "status": "ok"}
        self._timed("complete", store.complete, "cost", trial.tid, trial.token, result)
        changes, self.cursor = self._timed(
            "changes", store.changes_since, "cost", self.cursor
        )
        for t in changes:
            if t.state.is_finished():
                self._timed("observe", self.suggester.observe, t.params, t.result)
                queued.pop(t.tid, None)
                self.done += 1


def run(trials: int, queue: int, window: int) -> list[dict[str, float]]:
    """Per window of finished trials: CPU milliseconds per trial of each part."""
    rows: list[dict[str, float]] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        open_store(f"sqlite:///{tmp}/cost.sqlite") as store,
    ):
        store.create_study("cost", {})
        replay = _Replay(store, queue)
        while replay.done < trials:
            replay.step(trials)
            if replay.done // window > len(rows):
                rows.append({k: v / window * 1e3 for k, v in replay.cost.items()})
                replay.cost.clear()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20000)
    parser.add_argument("--queue", type=int, default=4)
    parser.add_argument("--window", type=int, default=2000)
    args = parser.parse_args()
    rows = run(args.trials, args.queue, args.window)
    parts = list(rows[0])
    print("CPU ms per trial, by window of finished trials")
    print(f"{'trials':>12} " + " ".join(f"{p:>9}" for p in parts) + f" {'total':>9}")
    for i, row in enumerate(rows):
        span = f"{i * args.window}-{(i + 1) * args.window}"
        cells = " ".join(f"{row.get(p, 0.0):>9.3f}" for p in parts)
        print(f"{span:>12} {cells} {sum(row.values()):>9.3f}")


if __name__ == "__main__":
    main()
