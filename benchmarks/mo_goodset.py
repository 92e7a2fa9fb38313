"""The good set of multi-objective TPE over a run, and where its proposals land.

Reads the JSON-lines runs files of ``multi_objective.py --runs-file`` for ``tree``
(each run records its losses and configurations in finish order) and replays every
run's schedule from its seed (``mo_sampling.schedule``), so each ask is seen with the
finished trials its sampler saw. For each run (any algorithm) it reports:

- *the good set* at the first ask that saw at least 20, 50, 100 and 150 finished
  trials and at the last ask, split by both rules on that same history: ours
  (``motpe.rank_trials`` with MOTPE's defaults, or ``--ours-settings``) and optuna
  5's (``_split_complete_trials_multi_objective``: non-domination rank, then greedy
  hypervolume subset selection on the unique loss vectors of the cut rank, reference
  1.1 x its raw worst values). Per split: its size, the first front's size, how many
  good trials are on the front, how many distinct loss vectors it holds, how many
  good trials have at least 100 nodes, and the gap between the good set's lowest
  error and the run's lowest error (trees of at most 400 nodes);
- *where the proposals land*, for modelled asks (10 or more finished trials) in four
  phases of finished trials (10-49, 50-99, 100-149, 150+): the share whose outcome is
  on the front of the trials finished when it was asked (not dominated by any, and
  not a copy of one), the share that copies a finished trial's loss vector (and a
  good trial's: ``copy_good``, optuna's split, which equals ours' here), and the
  share within 0.01 error of the front (at most 0.01 above the lowest error of a
  finished tree with no more nodes);
- *the hypervolume by node band* (0-20, 20-50, 50-100, 100-200, 200-400 nodes) of
  the run's final front: the staircase area of each band.

Means over the runs of each algorithm (and settings).

    python benchmarks/mo_goodset.py RUNS_FILE [RUNS_FILE ...] [--ours-settings JSON]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.mo_kernels import _params
from benchmarks.mo_repeats import _label, latest_runs
from benchmarks.mo_sampling import schedule

CHECKPOINTS = (20, 50, 100, 150)
PHASES = ((10, 50), (50, 100), (100, 150), (150, 10**9))
BANDS = ((0, 20), (20, 50), (50, 100), (100, 200), (200, 400))
_NEAR = 0.01
_MAX_NODES = 400.0


def ours_good(points: np.ndarray, settings: dict[str, Any]) -> np.ndarray:
    """Rows of ``points`` (finished trials' losses ``(n, 2)``) in ours' good set."""
    from benchmarks.multi_objective import _tree_space
    from hpo_service.algorithms import motpe
    from hpo_service.algorithms._history import History
    from hpo_service.algorithms._tpe.sampler import TPESettings
    from hpo_service.space import compile_space, hp

    history = History(compile_space(_tree_space(hp)))
    params = _params({"max_depth": 1, "min_samples_leaf": 1, "max_features": 0.5,
                      "criterion": "gini", "ccp_alpha": 1e-3})  # fmt: skip
    for row in points:
        history.add(params, [float(v) for v in row])
    config = TPESettings.from_kwargs({**motpe.MULTI_OBJECTIVE_DEFAULTS, **settings})
    places = motpe.rank_trials(history, config)
    n_below = min(math.ceil(config.gamma * len(points)), config.max_below)
    return np.flatnonzero(places < n_below)


def optuna_good(points: np.ndarray) -> np.ndarray:
    """Rows of ``points`` in optuna 5's multi-objective good set (its own split)."""
    from optuna.samplers._tpe.sampler import (
        _split_complete_trials_multi_objective,
        default_gamma_multiobjective,
    )
    from optuna.study import StudyDirection

    trials = [SimpleNamespace(values=list(v), number=i) for i, v in enumerate(points)]
    study = SimpleNamespace(directions=[StudyDirection.MINIMIZE] * 2)
    n_below = default_gamma_multiobjective(len(points))
    below, _ = _split_complete_trials_multi_objective(trials, study, n_below)
    return np.array(sorted(t.number for t in below), dtype=int)


def _front(points: np.ndarray) -> np.ndarray:
    from hpo_service.algorithms._pareto import non_dominated_ranks

    return np.flatnonzero(non_dominated_ranks(points, max_points=1) == 0)


def good_measures(points: np.ndarray, good: np.ndarray) -> dict[str, float]:
    """Make-up of one good set (rows ``good`` of ``points``)."""
    front = set(_front(points).tolist())
    small = points[points[:, 1] <= _MAX_NODES]
    best = float(small[:, 0].min()) if small.size else math.nan
    members = points[good]
    fit = members[members[:, 1] <= _MAX_NODES]
    same = np.all(points[None, :, :] == members[:, None, :], axis=2).sum(axis=1)
    return {
        "size": float(good.size),
        "front": float(len(front)),
        "on_front": float(sum(int(i) in front for i in good)),
        "distinct": float(np.unique(members, axis=0).shape[0]),
        "copies_each": float(np.mean(same)) if good.size else math.nan,
        "copies_max": float(np.max(same)) if good.size else math.nan,
        "nodes>=100": float(np.sum(members[:, 1] >= 100)),
        "err_gap": (float(fit[:, 0].min()) - best) if fit.size else math.nan,
    }


def landing(
    outcome: np.ndarray, done: np.ndarray, good: np.ndarray
) -> dict[str, float]:
    """Where one outcome (error, nodes) lands against the finished trials ``done``
    (``good``: the rows of ``done`` in the good set)."""
    same = np.all(done == outcome, axis=1)
    copy = bool(np.any(same))
    dominated = bool(
        np.any(np.all(done <= outcome, axis=1) & np.any(done < outcome, axis=1))
    )
    no_bigger = done[done[:, 1] <= outcome[1]]
    stair = float(no_bigger[:, 0].min()) if no_bigger.size else math.inf
    return {
        "new_front": float(not dominated and not copy),
        "copy": float(copy),
        "copy_good": float(bool(np.any(same[good]))),
        "copy<50nodes": float(copy and outcome[1] < 50),
        "near": float(outcome[0] <= stair + _NEAR),
    }


def band_volumes(points: np.ndarray) -> list[float]:
    """Staircase area (error reference 1) of the front of ``points`` per node band."""
    out = []
    for low, high in BANDS:
        grid = np.arange(low, high) + 0.5
        area = 0.0
        for n in grid:
            fit = points[points[:, 1] <= n]
            if fit.size:
                area += 1.0 - float(fit[:, 0].min())
        out.append(area)
    return out


def run_rows(run: dict[str, Any], settings: dict[str, Any]) -> dict[str, float]:
    """All measures of one run, flat, keyed ``"part:name"``."""
    n = len(run["losses"])
    finish_order, finished_at_ask = schedule(run["seed"], n, run["workers"])
    by_start: list[Any] = [None] * n
    for j, k in enumerate(finish_order):
        by_start[k] = np.asarray(run["losses"][j], dtype=float)
    finished = np.asarray(run["losses"], dtype=float)
    out: dict[str, float] = {}
    for point in (*CHECKPOINTS, None):
        k = (
            n - 1
            if point is None
            else next((i for i, f in enumerate(finished_at_ask) if f >= point), None)
        )
        if k is None:
            continue
        points = finished[: finished_at_ask[k]]
        tag = point or "last"
        ours, theirs = ours_good(points, settings), optuna_good(points)
        for rule, good in (("ours", ours), ("optuna", theirs)):
            for name, v in good_measures(points, good).items():
                out[f"good@{tag}:{rule}:{name}"] = v
        same = len(set(ours.tolist()) & set(theirs.tolist()))
        out[f"good@{tag}:both:shared"] = float(same)
    sums: dict[str, list[float]] = defaultdict(list)
    for k in range(n):
        f = finished_at_ask[k]
        phase = next((p for p in PHASES if p[0] <= f < p[1]), None)
        if phase is None:
            continue
        good = optuna_good(finished[:f])
        for name, v in landing(by_start[k], finished[:f], good).items():
            sums[f"land@{phase[0]}:{name}"].append(v)
    out.update({key: float(np.mean(v)) for key, v in sums.items()})
    for (low, high), v in zip(BANDS, band_volumes(finished), strict=True):
        out[f"hv:{low}-{high}"] = v
    return out


def main() -> None:
    """Print each measure's mean per algorithm (columns) for the runs files given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_files", type=Path, nargs="+")
    parser.add_argument("--ours-settings", default="{}")
    args = parser.parse_args()
    settings = json.loads(args.ours_settings)
    runs = latest_runs(args.runs_files, lambda r: r["problem"].startswith("tree"))
    table: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs.values():
        label = f"{_label(run)} x{run['workers']}"
        for key, v in run_rows(run, settings).items():
            table[label][key].append(v)
    labels = sorted(table)
    keys = list(dict.fromkeys(k for label in labels for k in table[label]))
    runs_of = {lab: len(table[lab]["hv:0-20"]) for lab in labels}
    print("measure | " + " | ".join(f"{lab} ({runs_of[lab]})" for lab in labels))
    for key in keys:
        cells = [
            f"{np.nanmean(table[lab][key]):.3f}" if table[lab][key] else "-"
            for lab in labels
        ]
        print(f"{key} | " + " | ".join(cells))


if __name__ == "__main__":
    main()
