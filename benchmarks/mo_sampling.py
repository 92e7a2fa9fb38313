"""How multi-objective samplers propose around the good trials, parameter by parameter.

Reads the JSON-lines runs files of ``multi_objective.py --runs-file`` for the ``tree``
problems (their runs record each configuration in finish order). The order in which
the trials were asked, and which trials were finished or pending at each ask, follow
from the run's seed alone (``multi_objective.simulate`` draws the durations from it
whatever the algorithm), so every proposal is replayed against the history its sampler
saw. The *good set* at an ask is MOTPE's default split of the finished trials (the
``ceil(0.1 n)`` best by non-domination rank and hypervolume subset selection), applied
to every algorithm alike. Only modelled proposals count (10 or more finished trials).

Per algorithm and cell, means over seeds of, for each parameter:

- ``good``: share of proposals whose value equals a good trial's value (for
  ``max_features`` the number of features the tree uses, ``max(1, int(64 * x))``);
- ``seen``: share equal to the value of any finished trial;
- ``dist``: median distance to the nearest good trial's value, in units of the
  parameter's range (log scale for ``min_samples_leaf`` and ``ccp_alpha``;
  ``max_features`` raw);

and for the discrete part as a whole (``max_depth``, ``min_samples_leaf``, the number
of features, ``criterion``): ``d_good`` equal to a good trial's, ``d_seen`` to a
finished trial's, ``d_pend`` to a pending trial's (with several workers).

    python benchmarks/mo_sampling.py RUNS_FILE [RUNS_FILE ...]
"""

from __future__ import annotations

import argparse
import heapq
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.mo_repeats import latest_runs
from hpo_service.algorithms.motpe import _feasible_order

_GAMMA = 0.10
_N_STARTUP = 10
_N_FEATURES = 64
#: (parameter, log scale, lowest, highest) of the tree space, whole end bins.
_RANGES = (
    ("max_depth", False, 0.5, 20.5),
    ("min_samples_leaf", True, 0.5, 64.5),
    ("max_features", False, 0.1, 1.0),
    ("ccp_alpha", True, 1e-5, 0.05),
)
PARAMS = ("max_depth", "min_samples_leaf", "n_features", "criterion", "ccp_alpha")


def schedule(seed: int, evals: int, workers: int) -> tuple[list[int], list[int]]:
    """The replayed simulation: the started trial of each finish (in finish order),
    and per started trial how many trials had finished when it was asked."""
    durations = np.random.default_rng([seed, 7]).uniform(0.5, 1.5, size=evals)
    running: list[tuple[float, int]] = []
    finish_order: list[int] = []
    finished_at_ask: list[int] = []
    now, started = 0.0, 0
    while len(finish_order) < evals:
        while len(running) < workers and started < evals:
            finished_at_ask.append(len(finish_order))
            heapq.heappush(running, (now + durations[started], started))
            started += 1
        now, index = heapq.heappop(running)
        finish_order.append(index)
    return finish_order, finished_at_ask


def _values(config: dict[str, Any]) -> dict[str, Any]:
    """A configuration as the tree sees it (and ``max_features`` raw too)."""
    return {
        "max_depth": int(config["max_depth"]),
        "min_samples_leaf": int(config["min_samples_leaf"]),
        "n_features": max(1, int(float(config["max_features"]) * _N_FEATURES)),
        "criterion": config["criterion"],
        "ccp_alpha": float(config["ccp_alpha"]),
        "max_features": float(config["max_features"]),
    }


def _scaled(values: dict[str, Any]) -> dict[str, float]:
    out = {}
    for name, log, low, high in _RANGES:
        x = float(values[name])
        if log:
            x, low, high = math.log(max(x, low)), math.log(low), math.log(high)
        out[name] = (x - low) / (high - low)
    return out


def _good_rows(losses: np.ndarray) -> np.ndarray:
    n_below = min(math.ceil(_GAMMA * len(losses)), len(losses))
    return _feasible_order(losses, n_below)[:n_below]


def _discrete(v: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        v[p] for p in ("max_depth", "min_samples_leaf", "n_features", "criterion")
    )


def run_measures(run: dict[str, Any]) -> dict[str, float]:
    """The measures of the module docstring for one run."""
    n = len(run["losses"])
    finish_order, finished_at_ask = schedule(run["seed"], n, run["workers"])
    by_start: list[Any] = [None] * n
    loss_by_start: list[Any] = [None] * n
    for j, k in enumerate(finish_order):
        by_start[k] = _values(run["configs"][j])
        loss_by_start[k] = run["losses"][j]
    sums: dict[str, list[float]] = defaultdict(list)
    for k in range(n):
        f = finished_at_ask[k]
        if f < _N_STARTUP:
            continue
        done = finish_order[:f]
        done_set = set(done)
        pending = [i for i in range(k) if i not in done_set]
        good = [
            done[i] for i in _good_rows(np.asarray([loss_by_start[i] for i in done]))
        ]
        _add(
            sums, by_start[k], [by_start[i] for i in good], [by_start[i] for i in done]
        )
        mine = _discrete(by_start[k])
        pend = {_discrete(by_start[i]) for i in pending}
        sums["d_pend"].append(float(mine in pend))
    return {
        name: float(np.median(v) if name.endswith("dist") else np.mean(v))
        for name, v in sums.items()
    }


def _add(
    sums: dict[str, list[float]],
    point: dict[str, Any],
    good: list[Any],
    done: list[Any],
) -> None:
    for p in PARAMS:
        sums[f"{p} good"].append(float(any(g[p] == point[p] for g in good)))
        sums[f"{p} seen"].append(float(any(d[p] == point[p] for d in done)))
    scaled = _scaled(point)
    good_scaled = [_scaled(g) for g in good]
    for name, *_ in _RANGES:
        nearest = min(abs(scaled[name] - g[name]) for g in good_scaled)
        sums[f"{name} dist"].append(nearest)
    key = _discrete(point)
    sums["d_good"].append(float(key in {_discrete(g) for g in good}))
    sums["d_seen"].append(float(key in {_discrete(d) for d in done}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_files", type=Path, nargs="+")
    args = parser.parse_args()
    latest = latest_runs(args.runs_files, keep=lambda run: bool(run.get("configs")))
    cells: dict[tuple[str, int, str], list[dict[str, float]]] = defaultdict(list)
    for (label, problem, workers, _), run in sorted(latest.items()):
        cells[(problem, workers, label)].append(run_measures(run))
    for (problem, workers, label), rows in sorted(cells.items()):
        print(f"\n{problem} x{workers} {label} ({len(rows)} seeds)")
        names = [k for k in rows[0] if k.startswith("d_")]
        print(
            "  discrete part: "
            + ", ".join(
                f"{k} {100 * np.mean([r[k] for r in rows]):.1f}%" for k in names
            )
        )
        for p in (*PARAMS, "max_features"):
            cells_p = []
            for what in ("good", "seen"):
                if f"{p} {what}" in rows[0]:
                    cells_p.append(
                        f"{what} {100 * np.mean([r[f'{p} {what}'] for r in rows]):.1f}%"
                    )
            if f"{p} dist" in rows[0]:
                cells_p.append(f"dist {np.mean([r[f'{p} dist'] for r in rows]):.4f}")
            print(f"  {p:<17} " + ", ".join(cells_p))


if __name__ == "__main__":
    main()
