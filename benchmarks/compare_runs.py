"""Compare ``sample_efficiency.py`` result files run separately, seed by seed.

Each file's runs are labelled ``algo + tag`` (the tag of its file name); regret is
taken against the best loss of *all* the given runs of a problem (for noisy problems:
the best true loss of any run's incumbent), so separately run tables become one. For
every budget it prints each label's median and mean regret and, against every label
given with ``--against``, on how many shared seeds it is better and the paired
Wilcoxon signed-rank p-value (``scipy.stats.wilcoxon``, two-sided).

    python benchmarks/compare_runs.py benchmarks/results/sample_efficiency_a.json \
        benchmarks/results/sample_efficiency_b.json --against hyperopt_b optuna_b
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import wilcoxon


def _load(paths: list[str]) -> list[dict[str, Any]]:
    runs = []
    for path in paths:
        tag = Path(path).stem.removeprefix("sample_efficiency")
        data = json.loads(Path(path).read_text())
        for run in data["runs"]:
            runs.append({**run, "label": run["algo"] + tag})
    return runs


def _regret(run: dict[str, Any], budget: int, best: float) -> float | None:
    if "true_at" in run:
        value = run["true_at"].get(str(budget))
        return None if value is None else value - best
    if len(run["losses"]) < budget:
        return None
    return float(np.nanmin(run["losses"][:budget])) - best


def _best(runs: list[dict[str, Any]]) -> float:
    if "true_at" in runs[0]:
        return min(min(r["true_at"].values()) for r in runs)
    return min(float(np.nanmin(r["losses"])) for r in runs)


def _paired(mine: dict[int, float], other: dict[int, float]) -> str:
    seeds = sorted(set(mine) & set(other))
    if len(seeds) < 5:
        return ""
    x = np.array([mine[s] for s in seeds])
    y = np.array([other[s] for s in seeds])
    wins = int(np.sum(x < y))
    p = wilcoxon(x, y).pvalue if np.any(x != y) else 1.0
    return f"better on {wins}/{len(seeds)}, p={p:.2g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--budgets", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--against", nargs="*", default=[], help="labels to pair with")
    args = parser.parse_args()
    runs = _load(args.files)
    for problem in sorted({r["problem"] for r in runs}):
        mine = [r for r in runs if r["problem"] == problem]
        best = _best(mine)
        print(f"{problem} (regret against {best:.5f})")
        for budget in args.budgets:
            table: dict[str, dict[int, float]] = {}
            for run in mine:
                value = _regret(run, budget, best)
                if value is not None:
                    table.setdefault(run["label"], {})[run["seed"]] = value
            for label, by_seed in sorted(table.items()):
                r = np.array(list(by_seed.values()))
                pairs = [
                    f"vs {other}: {_paired(by_seed, table[other])}"
                    for other in args.against
                    if other in table and other != label
                ]
                head = f"  {budget:>4} {label:<24} {r.size:>3} seeds"
                cells = f"median {np.median(r):.4g}  mean {np.mean(r):.4g}"
                print(f"{head}  {cells}  " + "; ".join(pairs))


if __name__ == "__main__":
    main()
