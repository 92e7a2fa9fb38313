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
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.mo_repeats import N_FEATURES, discrete_part, good_rows, latest_runs
from benchmarks.multi_objective import simulate

_N_STARTUP = 10
#: (parameter, log scale, lowest, highest) of the tree space, whole end bins.
_RANGES = (
    ("max_depth", False, 0.5, 20.5),
    ("min_samples_leaf", True, 0.5, 64.5),
    ("max_features", False, 0.1, 1.0),
    ("ccp_alpha", True, 1e-5, 0.05),
)
PARAMS = ("max_depth", "min_samples_leaf", "n_features", "criterion", "ccp_alpha")


def schedule(seed: int, evals: int, workers: int) -> tuple[list[int], list[int]]:
    """The replayed simulation (``multi_objective.simulate`` itself, asking for
    trial numbers): the started trial of each finish (in finish order), and per
    started trial how many trials had finished when it was asked."""
    finish_order: list[int] = []
    finished_at_ask: list[int] = []

    def ask() -> tuple[int, int]:
        finished_at_ask.append(len(finish_order))
        started = len(finished_at_ask) - 1
        return started, started

    simulate(ask, lambda started, _: finish_order.append(started),
             lambda _: [], evals, workers, seed)  # fmt: skip
    return finish_order, finished_at_ask


def _values(config: dict[str, Any]) -> dict[str, Any]:
    """A configuration as the tree sees it (and ``max_features`` raw too)."""
    return {
        "max_depth": int(config["max_depth"]),
        "min_samples_leaf": int(config["min_samples_leaf"]),
        "n_features": max(1, int(float(config["max_features"]) * N_FEATURES)),
        "criterion": config["criterion"],
        "ccp_alpha": float(config["ccp_alpha"]),
        "max_features": float(config["max_features"]),
    }


def _scaled(values: dict[str, Any]) -> dict[str, float]:
    """The continuous-ish parameters of ``_values`` in units of their range, 0 to 1
    (log scale where the space samples on one)."""
    out = {}
    for name, log, low, high in _RANGES:
        x = float(values[name])
        if log:
            x, low, high = math.log(max(x, low)), math.log(low), math.log(high)
        out[name] = (x - low) / (high - low)
    return out


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
            done[i] for i in good_rows(np.asarray([loss_by_start[i] for i in done]))
        ]
        _add(
            sums, by_start[k], [by_start[i] for i in good], [by_start[i] for i in done]
        )
        mine = discrete_part(by_start[k])
        pend = {discrete_part(by_start[i]) for i in pending}
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
    """Append one proposal's per-parameter measures (``good``, ``seen``, ``dist``)
    and its discrete part's (``d_good``, ``d_seen``) to ``sums``; ``point``,
    ``good`` and ``done`` are ``_values`` dicts."""
    for p in PARAMS:
        sums[f"{p} good"].append(float(any(g[p] == point[p] for g in good)))
        sums[f"{p} seen"].append(float(any(d[p] == point[p] for d in done)))
    scaled = _scaled(point)
    good_scaled = [_scaled(g) for g in good]
    for name, *_ in _RANGES:
        nearest = min(abs(scaled[name] - g[name]) for g in good_scaled)
        sums[f"{name} dist"].append(nearest)
    key = discrete_part(point)
    sums["d_good"].append(float(key in {discrete_part(g) for g in good}))
    sums["d_seen"].append(float(key in {discrete_part(d) for d in done}))


def main() -> None:
    """Read the runs files (a later line of one run replaces an earlier one) and
    print each cell's measures, means over seeds (``dist``: medians per run)."""
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
