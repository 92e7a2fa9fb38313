"""Kernel widths of the continuous parameters in each multi-objective TPE's densities.

Reads the JSON-lines runs files of ``multi_objective.py --runs-file`` for ``tree``
(each run records its configurations in finish order) and replays every run's
schedule from its seed (``mo_sampling.schedule``). At the first ask that saw at least
50, 100 and 150 finished trials, and at the last ask of the run, both samplers'
densities are rebuilt on that same history (finished trials and, with several
workers, the pending ones):

- ours: MOTPE's defaults (``MULTI_OBJECTIVE_DEFAULTS``), or ``--ours-settings``,
  through the sampler's own split and density code (``_tpe.sampler._models``);
- optuna's ``TPESampler()`` on several objectives: its own split
  (``optuna.samplers._tpe.sampler._split_trials``: RUNNING trials in the bad set, not
  counted in the good set's size) and its ``_ParzenEstimator`` with the defaults
  (prior weight 1, magic clip, endpoints not considered, ``default_weights``).

For ``ccp_alpha`` (log scale) and ``max_features``, in units of the parameter's range
(log range for ``ccp_alpha``), the median kernel width of the good density's trials,
of the bad density's finished trials and of its pending trials, and the good
density's floor. Means over runs per cell and history source.

    python benchmarks/mo_kernels.py RUNS_FILE [RUNS_FILE ...] [--ours-settings JSON]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.mo_repeats import latest_runs
from benchmarks.mo_sampling import schedule

#: The continuous parameters of ``tree``: name, log scale, bounds.
CONTINUOUS = (("ccp_alpha", True, 1e-5, 0.05), ("max_features", False, 0.1, 1.0))
CHECKPOINTS = (50, 100, 150)
_CRITERIA = ("gini", "entropy")


def _params(config: dict[str, Any]) -> dict[str, Any]:
    """A recorded configuration as the tree space's params (choice index)."""
    return {
        "max_depth": float(config["max_depth"]),
        "min_samples_leaf": float(config["min_samples_leaf"]),
        "max_features": float(config["max_features"]),
        "criterion": _CRITERIA.index(config["criterion"]),
        "ccp_alpha": float(config["ccp_alpha"]),
    }


def asks(run: dict[str, Any]) -> list[tuple[int, list[int], list[int]]]:
    """``(checkpoint, finished trials, pending trials)`` in start numbers at the
    checkpoint asks of ``run`` (see the module docstring; the last ask's checkpoint
    is the number of trials of the run)."""
    n = len(run["losses"])
    finish_order, finished_at_ask = schedule(run["seed"], n, run["workers"])
    out = []
    targets = [*CHECKPOINTS, None]
    for target in targets:
        if target is None:
            k = n - 1
        else:
            k = next((i for i, f in enumerate(finished_at_ask) if f >= target), None)
            if k is None:
                continue
        f = finished_at_ask[k]
        done = finish_order[:f]
        done_set = set(done)
        pending = [i for i in range(k) if i not in done_set]
        out.append((target or n, done, pending))
    return out


def ours_widths(
    run: dict[str, Any],
    by_start: list[tuple[dict[str, Any], list[float]]],
    done: list[int],
    pending: list[int],
    settings: dict[str, Any],
) -> dict[str, float]:
    """Median widths of ours' kernels (see the module docstring)."""
    from benchmarks.multi_objective import _tree_space
    from hpo_service.algorithms import motpe
    from hpo_service.algorithms._history import History
    from hpo_service.algorithms._tpe import sampler
    from hpo_service.space import compile_space, hp

    compiled = compile_space(_tree_space(hp))
    history = History(compiled)
    for i in done:
        history.add(_params(by_start[i][0]), by_start[i][1])
    pend = [_params(by_start[i][0]) for i in pending]
    merged = {**motpe.MULTI_OBJECTIVE_DEFAULTS, **settings}
    config = sampler.TPESettings.from_kwargs(merged)
    ranked = history.scalarised(motpe.rank_trials(history, config))
    rng = np.random.default_rng(0)
    out: dict[str, float] = {}
    for group in sampler._groups(compiled, False, config.whole_end_bins):
        name = group.labels[0]
        if name not in dict((c[0], c) for c in CONTINUOUS):
            continue
        good, bad = sampler._models(group, ranked, pend, rng, config)
        below, above, liars = sampler._split(group, ranked, pend, rng, config)
        n_good, n_above = below[0].shape[0], above[0].shape[0]
        assert not isinstance(bad, sampler._Mixture)
        out[f"{name} good"] = float(np.median(good.sigmas[:n_good, 0]))
        out[f"{name} bad"] = float(np.median(bad.sigmas[:n_above, 0]))
        if liars[0].shape[0]:
            lie = bad.sigmas[n_above : n_above + liars[0].shape[0], 0]
            out[f"{name} pend"] = float(np.median(lie))
        out[f"{name} floor"] = float(config.bandwidth_floor / min(100.0, n_good + 1))
    return out


def optuna_widths(
    by_start: list[tuple[dict[str, Any], list[float]]],
    done: list[int],
    pending: list[int],
) -> dict[str, float]:
    """Median widths of optuna's TPESampler() kernels (see the module docstring)."""
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.samplers._tpe.parzen_estimator import (
        _ParzenEstimator,
        _ParzenEstimatorParameters,
    )
    from optuna.samplers._tpe.sampler import (
        _split_trials,
        default_gamma_multiobjective,
        default_weights,
    )
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(directions=["minimize"] * 2)
    dists = {
        name: FloatDistribution(low, high, log=log)
        for name, log, low, high in CONTINUOUS
    }
    for i in done:
        config, losses = by_start[i]
        params = {name: float(config[name]) for name in dists}
        study.add_trial(create_trial(params=params, distributions=dists, values=losses))
    for i in pending:
        params = {name: float(by_start[i][0][name]) for name in dists}
        study.add_trial(
            create_trial(params=params, distributions=dists, state=TrialState.RUNNING)
        )
    trials = study.get_trials(deepcopy=False)
    below, above = _split_trials(study, trials, default_gamma_multiobjective(len(done)))
    parameters = _ParzenEstimatorParameters(
        prior_weight=1.0,
        consider_magic_clip=True,
        consider_endpoints=False,
        weights=default_weights,
        multivariate=False,
    )
    out: dict[str, float] = {}
    for name, log, low, high in CONTINUOUS:
        span = math.log(high) - math.log(low) if log else high - low
        sides = {}
        for side, group in (("good", below), ("bad", above)):
            obs = {name: np.array([t.params[name] for t in group])}
            weights = np.ones(len(group)) if side == "good" else None
            mpe = _ParzenEstimator(obs, {name: dists[name]}, parameters, weights)
            # The batched distribution's widths, prior last (optuna internals).
            sides[side] = np.asarray(mpe._mixture_distribution.distributions[0].sigma)
        out[f"{name} good"] = float(np.median(sides["good"][:-1])) / span
        running = np.array([t.state == TrialState.RUNNING for t in above])
        out[f"{name} bad"] = float(np.median(sides["bad"][:-1][~running])) / span
        if running.any():
            out[f"{name} pend"] = float(np.median(sides["bad"][:-1][running])) / span
        out[f"{name} floor"] = 1.0 / min(100.0, len(below) + 2)
    return out


def run_rows(
    run: dict[str, Any], settings: dict[str, Any]
) -> list[tuple[int, str, dict[str, float]]]:
    """``(checkpoint, sampler, widths)`` for each checkpoint of one recorded run."""
    n = len(run["losses"])
    finish_order, _ = schedule(run["seed"], n, run["workers"])
    by_start: list[Any] = [None] * n
    for j, k in enumerate(finish_order):
        by_start[k] = (run["configs"][j], run["losses"][j])
    rows = []
    for point, done, pending in asks(run):
        rows.append(
            (point, "ours", ours_widths(run, by_start, done, pending, settings))
        )
        rows.append((point, "optuna_tpe", optuna_widths(by_start, done, pending)))
    return rows


def main() -> None:
    """Replay the latest ``ours`` and ``optuna_tpe`` runs of the runs files (at most
    ``--seeds`` per problem, worker count and source), and print the mean kernel
    widths per history point and sampler (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_files", type=Path, nargs="+")
    parser.add_argument("--ours-settings", type=json.loads, default={})
    parser.add_argument(
        "--seeds", type=int, default=10, help="runs per cell and source"
    )
    args = parser.parse_args()
    latest = latest_runs(args.runs_files, keep=lambda run: bool(run.get("configs")))
    table: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    counts: dict[tuple[Any, ...], int] = defaultdict(int)
    for (label, problem, workers, _), run in sorted(latest.items()):
        if label not in ("ours", "optuna_tpe"):
            continue
        if counts[(problem, workers, label)] >= args.seeds:
            continue
        counts[(problem, workers, label)] += 1
        for point, who, widths in run_rows(run, args.ours_settings):
            for key, value in widths.items():
                table[(problem, workers, label, point, who, key)].append(value)
    _print(table, counts)


def _print(
    table: dict[tuple[Any, ...], list[float]], counts: dict[tuple[Any, ...], int]
) -> None:
    """One block per (problem, workers, history source): a line per history point
    and sampler, the mean of each width over the runs (``-`` where none)."""
    cells = sorted({k[:3] for k in table})
    for problem, workers, source in cells:
        n = counts[(problem, workers, source)]
        print(f"\n{problem} x{workers}, histories of {source} ({n} runs)")
        names = [
            f"{p} {s}" for p, *_ in CONTINUOUS for s in ("good", "bad", "pend", "floor")
        ]
        print(f"  {'trials':>6} {'sampler':<11} " + " ".join(f"{x:>18}" for x in names))
        points = sorted({k[3] for k in table if k[:3] == (problem, workers, source)})
        for point in points:
            for who in ("ours", "optuna_tpe"):
                cols = []
                for name in names:
                    vals = table.get((problem, workers, source, point, who, name))
                    cols.append(f"{np.mean(vals):>18.4f}" if vals else f"{'-':>18}")
                print(f"  {point:>6} {who:<11} " + " ".join(cols))


if __name__ == "__main__":
    main()
