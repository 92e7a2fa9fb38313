"""Compare ``parallel_efficiency.py`` result files: a variant, the default, a peer.

Runs of several files are pooled per (problem, W) by seed, so separately run seed
ranges make one table. For every W and budget it prints the five-problem geometric
mean of the variant's median regret over the default's, and the cells (W > 1, four
continuous problems x budgets) where the variant's or the default's median is above
the peer's. With ``--cells`` it adds, per named cell, the 90% bootstrap interval of
the ratio of medians (variant over peer; 4,000 resamples of each side's seeds) and
the Mann-Whitney U test's two-sided p-value (``scipy.stats.mannwhitneyu``): most
cells at 10-16 seeds cannot tell a 1.2x difference from noise. With ``--curve
problem:W`` it prints, for that problem and W, the median regret of the variant and
the peer after 10, 16, 20, ..., 300 finished trials, their ratio, the share of seeds
where the variant is ahead, and the p-value: where a gap opens. With ``--paired`` it
prints, for every cell and each ``--paired-at`` budget (100 and 300 unless given),
the variant against the default seed by seed: the geometric mean of the per-seed
regret ratios, the share of seeds where the variant is ahead and the Wilcoxon
signed-rank test's p-value (``scipy.stats.wilcoxon``); with ``--pooled W ...`` also one
test over the five problems at those W and budgets (:func:`pooled`). Two settings of
ours share each seed's start-up draws and simulated timeline, so the paired test
sees differences the unpaired one cannot (its seed-to-seed spread is mostly the
start).

    python -m benchmarks.compare_parallel \\
        --variant benchmarks/results/parallel_efficiency_s8c_lw01.json \\
        --default benchmarks/results/parallel_efficiency_conf_mw2.json \\
        --peer benchmarks/results/parallel_efficiency_conf_optuna.json \\
        --cells ackley5:16:100 rosenbrock5:4:300 --curve ackley5:16
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu, wilcoxon

from benchmarks.problems import PROBLEMS

_PROBLEMS = ("branin", "hartmann6", "rosenbrock5", "ackley5", "decoy")
_CONTINUOUS = _PROBLEMS[:4]
Cells = dict[tuple[str, int], dict[int, list[float]]]


def load(paths: list[str]) -> Cells:
    """Every run's losses by (problem, workers) and seed, pooled over ``paths``."""
    cells: Cells = {}
    for path in paths:
        for run in json.loads(Path(path).read_text())["runs"]:
            key = (run["problem"], run["workers"])
            cells.setdefault(key, {})[run["seed"]] = run["losses"]
    return cells


def regrets(cells: Cells, problem: str, workers: int, budget: int) -> np.ndarray:
    """Simple regret after ``budget`` finished trials, one per seed (empty if none)."""
    runs = cells.get((problem, workers), {})
    optimum = PROBLEMS[problem].optimum or 0.0
    return np.array([np.nanmin(losses[:budget]) - optimum for losses in runs.values()])


def _median(cells: Cells, problem: str, workers: int, budget: int) -> float:
    values = regrets(cells, problem, workers, budget)
    return float(np.median(values)) if values.size else math.nan


def _summary(variant: Cells, default: Cells, peer: Cells) -> None:
    behind = {"variant": 0, "default": 0}
    for workers in sorted({w for _, w in variant}):
        for budget in (100, 300):
            logs = [
                math.log(_median(variant, p, workers, budget))
                - math.log(_median(default, p, workers, budget))
                for p in _PROBLEMS
            ]
            text = []
            for problem in _CONTINUOUS:
                v, d, o = (
                    _median(c, problem, workers, budget)
                    for c in (variant, default, peer)
                )
                if workers > 1:  # the target compares the parallel runs
                    behind["variant"] += v > o
                    behind["default"] += d > o
                text.append(f"{problem} {v:.3g}/{d:.3g}/{o:.3g}")
            gm = math.exp(float(np.nanmean(logs)))
            print(f"W={workers:<3} @{budget}: vs default {gm:.2f}  " + "  ".join(text))
    counts = f"variant {behind['variant']}, default {behind['default']}"
    print(f"cells behind the peer: {counts}")
    print("(per problem: variant/default/peer median regret)")


def _cell_test(variant: Cells, peer: Cells, cell: str, rng: np.random.Generator) -> str:
    problem, workers, budget = cell.split(":")
    mine = regrets(variant, problem, int(workers), int(budget))
    theirs = regrets(peer, problem, int(workers), int(budget))
    ratios = [
        np.median(rng.choice(mine, mine.size))
        / np.median(rng.choice(theirs, theirs.size))
        for _ in range(4000)
    ]
    low, high = np.percentile(ratios, [5, 95])
    p_value = mannwhitneyu(mine, theirs).pvalue
    ratio = np.median(mine) / np.median(theirs)
    return (
        f"{cell}: {np.median(mine):.3g} vs {np.median(theirs):.3g}, ratio {ratio:.2f} "
        f"[{low:.2f}, {high:.2f}], Mann-Whitney p={p_value:.2g} ({mine.size} / "
        f"{theirs.size} seeds)"
    )


_CURVE_AT = (10, 16, 20, 26, 30, 40, 50, 60, 70, 80, 90, 100, 150, 200, 300)


def _curve(variant: Cells, peer: Cells, cell: str) -> None:
    """Median regret after each of :data:`_CURVE_AT` trials, on the seeds both ran."""
    problem, workers = cell.split(":")
    mine, theirs = (c.get((problem, int(workers)), {}) for c in (variant, peer))
    seeds = sorted(set(mine) & set(theirs))
    optimum = PROBLEMS[problem].optimum or 0.0
    print(f"{cell}, {len(seeds)} seeds: n, variant, peer, ratio, variant ahead, p")
    for n in _CURVE_AT:
        v, o = (
            np.array([np.nanmin(c[s][:n]) - optimum for s in seeds])
            for c in (mine, theirs)
        )
        ratio = np.median(v) / np.median(o)
        p_value = mannwhitneyu(v, o).pvalue
        print(
            f"  {n:>4} {np.median(v):10.4g} {np.median(o):10.4g} {ratio:6.2f} "
            f"{np.mean(v < o):5.0%} {p_value:8.2g}"
        )


def _paired(variant: Cells, default: Cells, budgets: list[int]) -> None:
    """Every cell the two ran, variant against default on their common seeds that
    ran at least each budget (a shorter run is left out of that budget's row)."""
    print("paired by seed, variant / default: geometric mean of the regret ratios,")
    print("share of seeds where the variant is ahead, Wilcoxon p (seeds)")
    for problem, workers in sorted(set(variant) & set(default)):
        mine, theirs = variant[(problem, workers)], default[(problem, workers)]
        common = sorted(set(mine) & set(theirs))
        optimum = PROBLEMS[problem].optimum or 0.0
        for budget in budgets:
            seeds = [s for s in common if min(len(mine[s]), len(theirs[s])) >= budget]
            if not seeds:
                continue
            v, d = (_floored(c, seeds, budget, optimum) for c in (mine, theirs))
            ratio = math.exp(float(np.mean(np.log(v / d))))
            p_value = wilcoxon(v, d).pvalue if np.any(v != d) else 1.0
            print(
                f"  {problem}:{workers}:{budget} {ratio:6.3f} {np.mean(v < d):5.0%} "
                f"p={p_value:<8.2g} ({len(seeds)})"
            )


def _floored(
    runs: dict[int, list[float]], seeds: list[int], budget: int, optimum: float
) -> np.ndarray:
    """Regret after ``budget`` trials per seed, at least 1e-12 (a ratio of two
    optima stays finite)."""
    return np.array([max(np.nanmin(runs[s][:budget]) - optimum, 1e-12) for s in seeds])


def pooled(
    variant: Cells,
    default: Cells,
    workers: list[int],
    budgets: list[int],
    problems: tuple[str, ...] = _PROBLEMS,
) -> tuple[np.ndarray, float, float]:
    """One test over many cells: per seed, the mean over every (problem, W, budget)
    cell of ``log(variant regret / default regret)``; the one-sided Wilcoxon
    signed-rank test on those means (alternative: below 0, the variant better).

    Args:
        variant, default: Runs as :func:`load` returns them.
        workers: The W of the cells, e.g. ``[16, 64]``.
        budgets: The finished-trial counts, e.g. ``[100, 300]``.
        problems: The problems of the cells [the five of ``parallel_efficiency``].

    Returns:
        The per-seed means ``(seeds,)`` (seeds that ran every cell to the largest
        budget on both sides), the test's p-value, and the same test's p-value on
        the per-seed means of the signs of the log ratios.

    Raises:
        ValueError: If no seed ran every cell on both sides.
    """
    keys = [(p, w) for p in problems for w in workers]
    seeds = sorted(
        set.intersection(*(set(c.get(k, {})) for c in (variant, default) for k in keys))
    )
    seeds = [
        s
        for s in seeds
        if all(len(c[k][s]) >= max(budgets) for c in (variant, default) for k in keys)
    ]
    if not seeds:
        raise ValueError(f"`a seed ran every cell` must hold, but got cells={keys}")
    logs = []
    for problem, w in keys:
        optimum = PROBLEMS[problem].optimum or 0.0
        for budget in budgets:
            v, d = (
                _floored(c[(problem, w)], seeds, budget, optimum)
                for c in (variant, default)
            )
            logs.append(np.log(v / d))
    logs_by_seed = np.array(logs).T
    means = logs_by_seed.mean(axis=1)
    p_value = wilcoxon(means, alternative="less").pvalue
    p_signs = wilcoxon(np.sign(logs_by_seed).mean(axis=1), alternative="less").pvalue
    return means, float(p_value), float(p_signs)


def _print_pooled(
    variant: Cells,
    default: Cells,
    workers: list[int],
    budgets: list[int],
    problems: tuple[str, ...],
) -> None:
    means, p_value, p_signs = pooled(variant, default, workers, budgets, problems)
    print(
        f"pooled over {', '.join(problems)} x W {workers} x @{budgets}, "
        f"{means.size} seeds: "
        f"geometric mean of the per-seed ratios {math.exp(means.mean()):.3f}, variant "
        f"ahead on {np.mean(means < 0):.0%} of the seeds, one-sided Wilcoxon "
        f"p={p_value:.2g} (on the signs: p={p_signs:.2g})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", nargs="+", required=True)
    parser.add_argument("--default", nargs="+", required=True)
    parser.add_argument("--peer", nargs="+", required=True)
    parser.add_argument("--cells", nargs="*", default=[], help="problem:W:budget")
    parser.add_argument("--curve", nargs="*", default=[], help="problem:W")
    parser.add_argument(
        "--paired", action="store_true", help="variant vs default, seed by seed"
    )
    parser.add_argument(
        "--paired-at",
        nargs="+",
        type=int,
        default=[100, 300],
        metavar="N",
        help="finished trials at which --paired compares [100 300]",
    )
    parser.add_argument(
        "--pooled",
        nargs="+",
        type=int,
        default=[],
        metavar="W",
        help="one paired test over the five problems x these W x --paired-at budgets",
    )
    parser.add_argument(
        "--pooled-problems",
        nargs="+",
        default=list(_PROBLEMS),
        help="the problems --pooled tests over [the five]",
    )
    args = parser.parse_args()
    variant, default, peer = load(args.variant), load(args.default), load(args.peer)
    _summary(variant, default, peer)
    rng = np.random.default_rng(0)
    for cell in args.cells:
        print(_cell_test(variant, peer, cell, rng))
    for cell in args.curve:
        _curve(variant, peer, cell)
    if args.paired:
        _paired(variant, default, args.paired_at)
    if args.pooled:
        problems = tuple(args.pooled_problems)
        _print_pooled(variant, default, args.pooled, args.paired_at, problems)


if __name__ == "__main__":
    main()
