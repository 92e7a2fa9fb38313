"""Where the suggestions of a parallel run go: spread, closeness and loss by window.

    python -m benchmarks.parallel_spread --problem ackley5 --workers 16 \\
        --seeds 16 --seed-offset 100 --algos ours optuna

Runs ``parallel_efficiency.py``'s simulation (same seeds, same runs: the losses are
the recorded ones) with every suggestion logged: how many trials had finished and
how many were pending when it was asked, and its point in units of each dimension's
range. Prints, per sampler, how many trials were issued before the first modelled
one (the start-up: fewer than ``n_startup_jobs`` = 10 finished) and, per window of
issued trials, medians over seeds of: the per-dimension standard deviation of the
window's points (their spread), the distance to the nearest of the 16 points issued
before (root mean square over the dimensions), the distance to the best finished
point at the time of the ask, and the median loss of the window's points. Box
problems only (``benchmarks.problems.BOX_BOUNDS``).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from benchmarks.parallel_efficiency import SAMPLERS, SimConfig, Simulation
from benchmarks.problems import BOX_BOUNDS, PROBLEMS

WINDOWS = ((0, 26), (26, 42), (42, 60), (60, 100))
_STARTUP = 10  # the start-up of both samplers' defaults: 10 finished trials
_NEAREST_OF = 16


def _logged(algo: str, name: str, seed: int, settings: dict[str, Any]) -> Any:
    """The benchmark's sampler for ``algo``, logging every ask."""
    low, high = np.array(BOX_BOUNDS[name], dtype=float).T
    base = SAMPLERS[algo]

    class Logged(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__(PROBLEMS[name], seed, dict(settings))
            self.log: list[dict[str, Any]] = []
            self.finished, self.best, self.best_loss = 0, None, float("inf")

        def unit(self, trial: Any) -> np.ndarray:
            config = trial.config if algo == "ours" else trial[1]
            return (np.asarray(config, dtype=float) - low) / (high - low)

        def ask(self, n: int, pending: list[Any]) -> list[Any]:
            out = super().ask(n, pending)
            for trial in out:
                point = {"finished": self.finished, "point": self.unit(trial)}
                point.update(best=self.best, loss=self.loss(trial))
                self.log.append(point)
            return out

        def tell(self, trial: Any, loss: float) -> None:
            super().tell(trial, loss)
            self.finished += 1
            if loss < self.best_loss:
                self.best, self.best_loss = self.unit(trial), loss

    return Logged()


def _rms(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean((a - b) ** 2, axis=-1))


def window_stats(log: list[dict[str, Any]], start: int, stop: int) -> dict[str, float]:
    """Spread, nearest earlier point, distance to the best and loss, issued
    ``start`` to ``stop``."""
    points = np.array([e["point"] for e in log])
    rows = range(max(start, 1), min(stop, len(log)))
    nearest = [_rms(points[max(0, i - _NEAREST_OF) : i], points[i]).min() for i in rows]
    to_best = [
        float(_rms(log[i]["best"], points[i]))
        for i in rows
        if log[i]["best"] is not None
    ]
    return {
        "spread": float(np.mean(np.std(points[start:stop], axis=0))),
        "nearest": float(np.median(nearest)),
        "to_best": float(np.median(to_best)) if to_best else float("nan"),
        "loss": float(np.median([e["loss"] for e in log[start:stop]])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="ackley5", choices=sorted(BOX_BOUNDS))
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--seed-offset", type=int, default=100)
    parser.add_argument("--algos", nargs="+", default=["ours", "optuna"])
    parser.add_argument("--ours-settings", default="{}", help="JSON for tpe.suggest")
    args = parser.parse_args()
    settings = json.loads(args.ours_settings)
    seeds = range(args.seed_offset, args.seed_offset + args.seeds)
    for algo in args.algos:
        logs = []
        for seed in seeds:
            sampler = _logged(
                algo, args.problem, seed, settings if algo == "ours" else {}
            )
            Simulation(sampler, SimConfig(workers=args.workers, evals=300), seed).run()
            logs.append(sampler.log)
        startup = [sum(e["finished"] < _STARTUP for e in log) for log in logs]
        print(
            f"{algo}: issued before the first modelled trial: median "
            f"{np.median(startup):.0f}, range {min(startup)}-{max(startup)}"
        )
        for start, stop in WINDOWS:
            stats = [window_stats(log, start, stop) for log in logs]
            text = "  ".join(
                f"{key} {np.nanmedian([s[key] for s in stats]):.3f}" for key in stats[0]
            )
            print(f"  issued {start + 1:>3}-{stop:<3} {text}")


if __name__ == "__main__":
    main()
