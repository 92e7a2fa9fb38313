"""How often multi-objective runs repeat a trial, and whether MOTPE's good set takes it.

Reads the JSON-lines runs files of ``multi_objective.py --runs-file`` (``tree`` runs
record their configurations) and prints, per algorithm and cell, the mean over seeds of:

- ``rep``: share of trials whose losses (error, nodes) equal an earlier trial's;
- ``front``: share of trials whose losses equal a point of the Pareto front of the
  trials finished before them (an exact repeat of a front point: a non-dominated tie);
- ``disc``: share of trials repeating an earlier trial's discrete part (``max_depth``,
  ``min_samples_leaf``, the number of features ``max(1, int(64 * max_features))`` and
  ``criterion``; what the tree sees apart from ``ccp_alpha``);
- ``copies``: the share of MOTPE's good set (its default ranking, ``gamma=0.1``,
  applied to the run's own first 20, 30, ... trials) taken by copies, i.e. members
  whose losses another member already has;
- ``in_good``: of the trials repeating a front point, the share that the ranking puts
  in the good set right after they finish.

    python benchmarks/mo_repeats.py RUNS_FILE [RUNS_FILE ...]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpo_service.algorithms._pareto import pareto_mask
from hpo_service.algorithms.motpe import _feasible_order

_GAMMA = 0.10
N_FEATURES = 64


def discrete_part(config: dict[str, Any]) -> tuple[Any, ...]:
    """A config's discrete part (``disc`` in the module docstring): max_depth,
    min_samples_leaf, the number of features and criterion."""
    features = max(1, int(float(config["max_features"]) * N_FEATURES))
    return (
        int(config["max_depth"]),
        int(config["min_samples_leaf"]),
        features,
        config["criterion"],
    )


def good_rows(points: np.ndarray) -> np.ndarray:
    """The rows of ``points`` (losses, ``(n, k)``) that MOTPE's default split puts
    in the good set: the ``ceil(0.1 n)`` best by non-domination rank and hypervolume
    subset selection."""
    n_below = min(math.ceil(_GAMMA * len(points)), len(points))
    return _feasible_order(points, n_below)[:n_below]


def run_shares(run: dict[str, Any]) -> dict[str, float]:
    """The shares named in the module docstring for one run."""
    losses = np.asarray(run["losses"], dtype=float)
    configs = run.get("configs") or []
    seen_losses: set[tuple[float, ...]] = set()
    seen_disc: set[tuple[Any, ...]] = set()
    rep = front = disc = 0
    copies: list[float] = []
    front_in_good: list[bool] = []
    for i, row in enumerate(losses):
        key = tuple(row)
        if i and key in seen_losses:
            rep += 1
            earlier = losses[:i]
            on_front = earlier[pareto_mask(earlier)]
            if np.any(np.all(on_front == row, axis=1)):
                front += 1
                front_in_good.append(i in set(good_rows(losses[: i + 1]).tolist()))
        seen_losses.add(key)
        if configs:
            d = discrete_part(configs[i])
            disc += d in seen_disc
            seen_disc.add(d)
        if i % 10 == 9 and i >= 19:
            good = losses[good_rows(losses[: i + 1])]
            copies.append(1.0 - len(np.unique(good, axis=0)) / len(good))
    n = len(losses)
    return {
        "rep": rep / n,
        "front": front / n,
        "disc": disc / n if configs else float("nan"),
        "copies": float(np.mean(copies)),
        "in_good": float(np.mean(front_in_good)) if front_in_good else float("nan"),
        "hv": float(run["hypervolume"]),
    }


def _label(run: dict[str, Any]) -> str:
    """The run's algorithm, with its settings as sorted JSON when it has any."""
    settings = run.get("settings")
    return run["algo"] + (
        " " + json.dumps(settings, sort_keys=True) if settings else ""
    )


def latest_runs(
    paths: list[Path], keep: Callable[[dict[str, Any]], bool] = lambda run: True
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The runs of ``multi_objective.py --runs-file`` files that ``keep`` takes,
    by ``(label, problem, workers, seed)``: a later line of one run replaces an
    earlier one."""
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            run = json.loads(line)
            if keep(run):
                latest[(_label(run), run["problem"], run["workers"], run["seed"])] = run
    return latest


def main() -> None:
    """Read the runs files (a later line of one run replaces an earlier one)
    and print a Markdown table of each cell's shares (means over seeds) and
    median hypervolume."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_files", type=Path, nargs="+")
    args = parser.parse_args()
    latest = latest_runs(args.runs_files)
    cells: dict[tuple[str, int, str], list[dict[str, float]]] = defaultdict(list)
    for (label, problem, workers, _), run in sorted(latest.items()):
        cells[(problem, workers, label)].append(run_shares(run))
    names = ("rep", "front", "disc", "copies", "in_good")
    print("| cell | algorithm | seeds | HV median | " + " | ".join(names) + " |")
    print("| --- | --- | --- | --- |" + " --- |" * len(names))
    for (problem, workers, label), rows in sorted(cells.items()):
        means = [np.nanmean([r[k] for r in rows]) for k in names]
        hv = float(np.median([r["hv"] for r in rows]))
        shares = " | ".join(f"{100 * m:.1f}%" for m in means)
        print(f"| {problem} x{workers} | {label} | {len(rows)} | {hv:.2f} | {shares} |")


if __name__ == "__main__":
    main()
