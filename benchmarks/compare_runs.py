"""Compare ``sample_efficiency.py`` result files run separately, seed by seed.

Each file's runs are labelled ``algo + tag`` (the tag of its file name); regret is
taken against the best loss of *all* the given runs of a problem (for noisy problems:
the best true loss of any run's incumbent), so separately run tables become one. For
every budget it prints each label's median and mean regret and, against every label
given with ``--against``, on how many shared seeds it is better, the paired
Wilcoxon signed-rank p-value (``scipy.stats.wilcoxon``, two-sided) and the paired
shift in regret (Hodges-Lehmann estimate, negative = better, with its 95% interval);
``--gap BASE TARGET`` adds the share of the mean gap from BASE to TARGET each label
closes (bootstrap 95% interval). A run's ``.partial.jsonl`` (written as runs end)
is read like a finished file; ``--whole-seeds`` keeps the seeds every label ran.

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
    """Every run of the results files (a ``.json``'s ``runs``, or a
    ``.partial.jsonl``'s lines), each labelled ``algo + tag`` (the file name's
    part after ``sample_efficiency``, up to its first dot)."""
    runs = []
    for path in paths:
        tag = Path(path).name.removeprefix("sample_efficiency").split(".")[0]
        text = Path(path).read_text()
        if path.endswith(".jsonl"):  # a run's .partial.jsonl: one run per line
            found = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            found = json.loads(text)["runs"]
        for run in found:
            runs.append({**run, "label": run["algo"] + tag})
    return runs


def _regret(run: dict[str, Any], budget: int, best: float) -> float | None:
    """The run's regret after ``budget`` evaluations against ``best`` (its best
    loss, or for a noisy problem the true loss of its incumbent, minus ``best``);
    None when the run did not reach ``budget``."""
    if "true_at" in run:
        value = run["true_at"].get(str(budget))
        return None if value is None else value - best
    if len(run["losses"]) < budget:
        return None
    return float(np.nanmin(run["losses"][:budget])) - best


def _best(runs: list[dict[str, Any]]) -> float:
    """The best loss of any of one problem's ``runs`` (the best true loss of any
    incumbent for a noisy problem): what regret is taken against."""
    if "true_at" in runs[0]:
        return min(min(r["true_at"].values()) for r in runs)
    return min(float(np.nanmin(r["losses"])) for r in runs)


def _paired(mine: dict[int, float], other: dict[int, float]) -> str:
    """``"better on 17/30, p=0.2, shift -0.0010 [-0.0030, +0.0005]"``: two labels'
    regrets ``{seed: regret}`` on the seeds both ran (Wilcoxon signed-rank,
    Hodges-Lehmann shift); "" with under 5 shared seeds."""
    seeds = sorted(set(mine) & set(other))
    if len(seeds) < 5:
        return ""
    x = np.array([mine[s] for s in seeds])
    y = np.array([other[s] for s in seeds])
    wins = int(np.sum(x < y))
    p = wilcoxon(x, y).pvalue if np.any(x != y) else 1.0
    shift, low, high = hodges_lehmann(x - y)
    return (
        f"better on {wins}/{len(seeds)}, p={p:.2g}, "
        f"shift {shift:+.4f} [{low:+.4f}, {high:+.4f}]"
    )


def hodges_lehmann(d: np.ndarray) -> tuple[float, float, float]:
    """The Hodges-Lehmann estimate of the paired shift and its 95% interval.

    The estimate is the median of the Walsh averages ``(d_i + d_j) / 2``, ``i <= j``;
    the interval is the distribution-free one that inverts the Wilcoxon signed-rank
    test (normal approximation of its critical value; Hollander & Wolfe,
    *Nonparametric Statistical Methods*, 3.2). ``d``: paired differences ``(n,)``,
    negative where the first label is better.
    """
    n = d.size
    i, j = np.triu_indices(n)
    walsh = np.sort((d[i] + d[j]) / 2.0)
    half = 1.959964 * np.sqrt(n * (n + 1) * (2 * n + 1) / 24.0)
    k = max(int(np.floor(walsh.size / 2.0 - half)), 0)
    return float(np.median(walsh)), float(walsh[k]), float(walsh[-k - 1])


def gap_closed(
    mine: dict[int, float],
    base: dict[int, float],
    target: dict[int, float],
    seed: int = 0,
) -> tuple[float, float, float] | None:
    """Share of the mean regret gap between ``base`` and ``target`` that ``mine``
    closes, ``(mean(base) - mean(mine)) / (mean(base) - mean(target))`` on the seeds
    all three share, with a 95% percentile bootstrap interval (2,000 resamples of
    the seeds). 1 is ``target``'s level, 0 ``base``'s. None with under 5 seeds."""
    seeds = sorted(set(mine) & set(base) & set(target))
    if len(seeds) < 5:
        return None
    table = np.array([[mine[s], base[s], target[s]] for s in seeds])
    rng = np.random.default_rng(seed)
    picks = rng.integers(len(seeds), size=(2000, len(seeds)))
    means = table[picks].mean(axis=1)  # (2000, 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = (means[:, 1] - means[:, 0]) / (means[:, 1] - means[:, 2])
    m = table.mean(axis=0)
    low, high = np.nanpercentile(boot, [2.5, 97.5])
    return float((m[1] - m[0]) / (m[1] - m[2])), float(low), float(high)


def main() -> None:
    """Print, per problem and budget, each label's median and mean regret and its
    comparisons with the ``--against`` labels (and ``--gap``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--budgets", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--against", nargs="*", default=[], help="labels to pair with")
    parser.add_argument(
        "--gap",
        nargs=2,
        metavar=("BASE", "TARGET"),
        help="also print the share of the BASE-TARGET mean gap each label closes",
    )
    parser.add_argument(
        "--whole-seeds",
        action="store_true",
        help="keep only the seeds every label has run (stopped runs)",
    )
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
            if args.whole_seeds and table:  # none may have reached this budget
                shared = set.intersection(*(set(t) for t in table.values()))
                table = {
                    k: {s: v for s, v in t.items() if s in shared}
                    for k, t in table.items()
                }
            for label, by_seed in sorted(table.items()):
                r = np.array(list(by_seed.values()))
                pairs = [
                    f"vs {other}: {_paired(by_seed, table[other])}"
                    for other in args.against
                    if other in table and other != label
                ]
                if args.gap and all(g in table for g in args.gap):
                    closed = gap_closed(by_seed, *(table[g] for g in args.gap))
                    if closed is not None:
                        share, low, high = closed
                        pairs.append(f"gap closed {share:.2f} [{low:.2f}, {high:.2f}]")
                head = f"  {budget:>4} {label:<24} {r.size:>3} seeds"
                cells = f"median {np.median(r):.4g}  mean {np.mean(r):.4g}"
                print(f"{head}  {cells}  " + "; ".join(pairs))


if __name__ == "__main__":
    main()
