"""Rung decisions and TPE's good set, from ``pruning.py --trace`` runs.

For each method of a traced results file (one problem and worker count at a time),
paired per seed with a reference method:

- trials that reached each rung (stopped at or past its step) and passed it;
- in how many seeds the eventual best configuration tried (lowest true final) was
  pruned, and at which step;
- the true final value of the configurations each TPE proposed after its startup
  trials (median per run), i.e. how good the proposals were;
- the good set each TPE builds from the trials so far, replayed at every proposal
  from the trace: ours, the best ``ceil(0.07 n)`` (at most 25) of all n trials by
  their last value (the ``last`` rule: a pruned trial at its last reported value);
  optuna's ``TPESampler``, the best ``ceil(0.1 n)`` (at most 25), complete trials
  first by value, then pruned ones by the step they reached (later first), then by
  value (optuna 5.0.0, ``samplers/_tpe/sampler.py``, ``_split_trials``). Reported:
  the share of pruned trials in it and the mean true final of its configurations.
  Both rules are applied to every run's history, so they can be compared on the
  same trials.

    python benchmarks/pruning_trace.py --tag _eta2gap_diag --problem synthetic \\
        --workers 1 --reference optuna:sha:reduction_factor=2
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pruning import RESULTS

STARTUP = 10  # both TPEs' random startup trials
RUNG_STEPS = (1, 2, 4, 8, 16, 27)


def good_set(log: list[list[float]], n: int, rule: str, steps: int) -> list[int]:
    """Indexes of the good set after the first ``n`` finished trials of ``log``.

    ``rule`` "ours": best ``ceil(0.07 n)`` by last value; "optuna": best
    ``ceil(0.1 n)``, complete trials first by value, then pruned ones by step
    reached (later first), then value. Both at most 25.
    """
    rows = log[:n]
    if rule == "ours":
        size = min(math.ceil(0.07 * n), 25, n)
        order = sorted(range(n), key=lambda i: (rows[i][1], i))
    else:
        size = min(math.ceil(0.1 * n), 25, n)
        order = sorted(
            range(n),
            key=lambda i: (rows[i][0] < steps, -rows[i][0], rows[i][1], i),
        )
    return order[:size]


def run_figures(log: list[list[float]], steps: int) -> dict[str, float]:
    """One run's figures (see the module docstring)."""
    stops = np.array([r[0] for r in log])
    finals = np.array([r[2] for r in log])
    best = int(np.argmin(finals))
    out: dict[str, float] = {
        "trials": len(log),
        "best_pruned": float(stops[best] < steps),
        "best_stop": float(stops[best]),
        "proposal_final": float(np.median(finals[STARTUP:])),
        "proposal_good": float(np.mean(finals[STARTUP:] < 0.13)),
    }
    for s in RUNG_STEPS:
        out[f"reach{s}"] = float(np.sum(stops >= s))
    for rule in ("ours", "optuna"):
        shares, quality = [], []
        for n in range(STARTUP, len(log)):
            good = good_set(log, n, rule, steps)
            shares.append(np.mean([log[i][0] < steps for i in good]))
            quality.append(np.mean([log[i][2] for i in good]))
        out[f"good_pruned_{rule}"] = float(np.mean(shares)) if shares else math.nan
        out[f"good_final_{rule}"] = float(np.mean(quality)) if quality else math.nan
    return out


def main() -> None:
    """Read ``results/pruning<--tag>.jsonl``'s traced runs of one problem and worker
    count, and print per method the medians of :func:`run_figures` (means for
    shares), the steps at which the best configuration tried was pruned, and each
    method paired per seed with ``--reference`` (better/equal/worse, Wilcoxon
    signed-rank p)."""
    from scipy.stats import wilcoxon

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", required=True)
    parser.add_argument("--problem", default="synthetic")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--reference", default="optuna:sha:reduction_factor=2")
    parser.add_argument("--steps", type=int, default=27)
    args = parser.parse_args()
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    for line in (RESULTS / f"pruning{args.tag}.jsonl").read_text().splitlines():
        row = json.loads(line)
        if (row["problem"], row["workers"]) != (args.problem, args.workers):
            continue
        if "log" in row:
            figures = run_figures(row["log"], args.steps)
            runs.setdefault(row["method"], {})[row["seed"]] = {**row, **figures}
    keys = ["final", "trials", *[f"reach{s}" for s in RUNG_STEPS]]
    keys += ["best_pruned", "best_stop", "proposal_final", "proposal_good"]
    keys += ["good_pruned_ours", "good_final_ours"]
    keys += ["good_pruned_optuna", "good_final_optuna"]
    reference = runs.get(args.reference, {})
    print(f"{args.problem}, {args.workers} worker(s); medians (means for shares)")
    print("| method | seeds | " + " | ".join(keys) + " |")
    print("| --- " * (len(keys) + 2) + "|")
    for method, by_seed in sorted(runs.items()):
        cells = []
        for key in keys:
            values = np.array([r[key] for r in by_seed.values()])
            if key.startswith(("best_pruned", "proposal_good", "good_pruned")):
                cells.append(f"{np.nanmean(values):.3f}")
            else:
                cells.append(f"{np.nanmedian(values):.4g}")
        print(f"| {method} | {len(by_seed)} | " + " | ".join(cells) + " |")
    print("\nseeds in which the best configuration tried was pruned, by step:")
    for method, by_seed in sorted(runs.items()):
        stops = [int(r["best_stop"]) for r in by_seed.values() if r["best_pruned"]]
        counts = {s: stops.count(s) for s in sorted(set(stops))}
        print(f"- {method}: {len(stops)} of {len(by_seed)} {counts}")
    print(f"\npaired with {args.reference} (better/equal/worse for the method, p):")
    for method, by_seed in sorted(runs.items()):
        seeds = sorted(by_seed.keys() & reference.keys())
        if method == args.reference or not seeds:
            continue
        parts = []
        for key in ("final", "proposal_final", "good_final_ours", "good_final_optuna"):
            x = np.array([by_seed[s][key] for s in seeds])
            y = np.array([reference[s][key] for s in seeds])
            p = wilcoxon(x, y).pvalue if np.any(x != y) else 1.0
            wins, ties = int(np.sum(x < y)), int(np.sum(x == y))
            losses = len(seeds) - wins - ties
            parts.append(f"{key} {wins}/{ties}/{losses} p={p:.2g}")
        print(f"- {method}: " + "; ".join(parts))


if __name__ == "__main__":
    main()
