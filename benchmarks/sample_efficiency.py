"""Sample efficiency: simple regret after N evaluations, ours vs hyperopt vs optuna.

Runs every (algorithm, problem, seed) in a pool of worker processes, prints a table of
median simple regret (and the share of successful seeds where a problem defines one),
and writes every run's losses to ``benchmarks/results/``.

    python benchmarks/sample_efficiency.py                # 30 seeds, 100 evaluations
    python benchmarks/sample_efficiency.py --quick        # 5 seeds, 50 evaluations
    python benchmarks/sample_efficiency.py --problems branin,decoy --algos ours \
        --ours-settings '{"gamma": 0.15}'
    python benchmarks/sample_efficiency.py --algos ours --batch 8   # 8 parallel workers
    python benchmarks/sample_efficiency.py --algos ours --batch 4 \
        --ours-settings '{"gamma": 0.15}' --variants '{"g20": {"gamma": 0.2}}'

``--variants`` runs are ours with ``--ours-settings`` and ``--batch`` too, the
variant's own settings replacing those it names (above: ``ours`` and ``ours_g20``
both ask 4 points at a time, at gamma 0.15 and 0.2). Each run's record holds the
settings it ran with.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import os
import sys
import time
import warnings
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # scikit-learn objectives: one core each

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.problems import PROBLEMS, Problem, reseed

RESULTS = Path(__file__).resolve().parent / "results"
ALGOS = ("ours", "hyperopt", "optuna")
DEFAULT_PROBLEMS = (
    "branin",
    "hartmann6",
    "rosenbrock5",
    "ackley5",
    "decoy",
    "branin_fail",
    "svm",
)


def run_ours(
    problem: Problem,
    seed: int,
    evals: int,
    settings: dict[str, Any],
    algo: str = "tpe",
) -> tuple[list, list]:
    from hpo_service.algorithms import rand, tpe
    from hpo_service.algorithms._history import History
    from hpo_service.space import compile_space, hp, space_eval

    suggest = {"tpe": tpe.suggest, "rand": rand.suggest}[algo]
    space = problem.make_space(hp)
    compiled = compile_space(space)
    history = History(compiled)
    rng = np.random.default_rng(seed)
    batch = settings.pop("batch", 1)
    losses: list[float] = []
    configs: list[Any] = []
    while len(losses) < evals:
        # A batch of k points stands for k workers: later points see earlier ones as
        # pending (constant liar), and all k finish before the next batch is asked.
        n = min(batch, evals - len(losses))
        for params in suggest(compiled, history, rng, n=n, **settings):
            config = space_eval(space, params)
            loss = problem.loss(config)
            history.add(params, loss)
            losses.append(loss)
            configs.append(config)
    return losses, configs


def run_random(
    problem: Problem, seed: int, evals: int, settings: dict[str, Any]
) -> tuple[list, list]:
    return run_ours(problem, seed, evals, {}, algo="rand")


def run_hyperopt(
    problem: Problem, seed: int, evals: int, settings: dict[str, Any]
) -> tuple[list, list]:
    import hyperopt

    logging.getLogger("hyperopt").setLevel(logging.ERROR)
    trials = hyperopt.Trials()
    hyperopt.fmin(
        partial(_hyperopt_objective, problem),
        problem.make_space(hyperopt.hp),
        algo=hyperopt.tpe.suggest,
        max_evals=evals,
        trials=trials,
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )
    losses = [float(t["result"].get("loss", math.nan)) for t in trials.trials]
    space = problem.make_space(hyperopt.hp)
    configs = [
        hyperopt.space_eval(space, {k: v[0] for k, v in t["misc"]["vals"].items() if v})
        for t in trials.trials
    ]
    return losses, configs


def _hyperopt_objective(problem: Problem, config: Any) -> dict[str, Any]:
    import hyperopt

    loss = problem.loss(config)
    if math.isnan(loss):
        return {"status": hyperopt.STATUS_FAIL}
    return {"loss": loss, "status": hyperopt.STATUS_OK}


def run_optuna(
    problem: Problem, seed: int, evals: int, settings: dict[str, Any]
) -> tuple[list, list]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    configs: list[Any] = []

    def objective(trial: Any) -> float:
        configs.append(problem.optuna_config(trial))
        return problem.loss(configs[-1])

    study.optimize(objective, n_trials=evals)
    losses = [math.nan if t.value is None else float(t.value) for t in study.trials]
    return losses, configs


RUNNERS = {
    "ours": run_ours,
    "hyperopt": run_hyperopt,
    "optuna": run_optuna,
    "random": run_random,
}


def _task(job: tuple[str, str, int, list[int], dict[str, Any]]) -> dict[str, Any]:
    algo, name, seed, budgets, given = job
    settings = dict(given)  # run_ours pops "batch"
    problem = PROBLEMS[name]
    reseed(seed)
    start = time.perf_counter()
    # "ours_<variant>" (--variants) runs ours with that variant's settings.
    runner = RUNNERS[algo.split("_", 1)[0]]
    losses, configs = runner(problem, seed, max(budgets), settings)
    seconds = time.perf_counter() - start
    run = {"algo": algo, "problem": name, "seed": seed, "losses": losses}
    run["settings"] = given
    if problem.true_loss is not None:
        # A noisy run is judged by the true loss of the trial it believes best.
        run["true_at"] = {
            str(b): problem.true_loss(configs[int(np.nanargmin(losses[:b]))])
            for b in budgets
        }
    run["seconds"] = seconds
    return run


def _available(algo: str) -> bool:
    module = {"hyperopt": "hyperopt", "optuna": "optuna"}.get(algo)
    if module is None:
        return True
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _best_known(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Each problem's optimum, or the best (true) loss any run found."""
    best: dict[str, float] = {}
    for run in runs:
        p = PROBLEMS[run["problem"]]
        if p.optimum is not None:
            best[p.name] = p.optimum
            continue
        found = run.get("true_at", {}).values() or [float(np.nanmin(run["losses"]))]
        best[p.name] = min(best.get(p.name, np.inf), *found)
    return best


def _regret(run: dict[str, Any], budget: int, best: float) -> float:
    if "true_at" in run:
        return run["true_at"][str(budget)] - best
    return float(np.nanmin(run["losses"][:budget])) - best


def _summarise(
    runs: list[dict[str, Any]], budgets: list[int]
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{budget: {problem: {algo: cell}}}`` with median/mean regret per cell."""
    best = _best_known(runs)
    out = {}
    for budget in budgets:
        table: dict[str, dict[str, Any]] = {}
        for run in runs:
            name = run["problem"]
            cell = table.setdefault(name, {}).setdefault(run["algo"], {"regrets": []})
            cell["regrets"].append(_regret(run, budget, best[name]))
            cell.setdefault("seconds", []).append(run["seconds"])
        for name, row in table.items():
            success = PROBLEMS[name].success
            for cell in row.values():
                r = np.asarray(cell["regrets"])
                cell["median"] = float(np.median(r))
                cell["mean"] = float(np.mean(r))
                cell["seeds"] = int(r.size)
                cell["median_seconds"] = float(np.median(cell.pop("seconds")))
                if success is not None:
                    cell["success_share"] = float(np.mean(r < success))
        out[str(budget)] = table
    return out


def _print_table(
    table: dict[str, dict[str, Any]], algos: list[str], evals: int
) -> None:
    print(f"\nMedian simple regret after {evals} evaluations (lower is better)")
    header = f"{'problem':<12} {'seeds':>5} " + " ".join(f"{a:>18}" for a in algos)
    print(header)
    print("-" * len(header))
    for name, row in table.items():
        seeds = max(c["seeds"] for c in row.values())
        cells = []
        for algo in algos:
            cell = row.get(algo)
            if cell is None:
                cells.append(f"{'-':>18}")
                continue
            text = f"{cell['median']:.4g}"
            if "success_share" in cell:
                text += f" ({cell['success_share']:.0%} ok)"
            cells.append(f"{text:>18}")
        print(f"{name:<12} {seeds:>5} " + " ".join(cells))


def _print_seconds(table: dict[str, dict[str, Any]]) -> None:
    print(
        "\nMedian seconds per run: "
        + "; ".join(
            f"{name}: "
            + ", ".join(f"{a} {c['median_seconds']:.2f}" for a, c in row.items())
            for name, row in table.items()
        )
    )


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument(
        "--expensive-seeds",
        type=int,
        default=10,
        help="seeds for slow objectives (svm)",
    )
    parser.add_argument(
        "--seed-offset",
        type=int,
        default=0,
        help="first seed (use another range to validate tuned defaults)",
    )
    parser.add_argument("--evals", type=int, default=100)
    parser.add_argument(
        "--budgets",
        type=int,
        nargs="+",
        help="report after each of these many evaluations (default: --evals)",
    )
    parser.add_argument("--problems", default=",".join(DEFAULT_PROBLEMS))
    parser.add_argument("--algos", default=",".join(ALGOS))
    parser.add_argument(
        "--ours-settings", default="{}", help="JSON dict for tpe.suggest"
    )
    parser.add_argument(
        "--variants",
        default="{}",
        help="JSON {label: settings}: also run ours with each, as algo ours_<label>",
    )
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="5 seeds, 50 evaluations")
    parser.add_argument("--tag", default="", help="suffix of the results file name")
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS,
        help="where the results files go (default: benchmarks/results)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=1,
        help="ours only: ask this many points at a time (simulated parallel workers)",
    )
    return parser.parse_args()


def labelled_settings(
    algos: list[str], settings: dict[str, Any], variants: dict[str, dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    """``(label, settings)`` of each algorithm run: ``ours`` with ``settings``
    (``--ours-settings``, and ``batch`` from ``--batch``), then each variant as
    ``ours_<label>`` with ``settings`` updated by the variant's own; the other
    algorithms take none (hyperopt, optuna and random run their defaults)."""
    labelled = [(a, dict(settings) if a == "ours" else {}) for a in algos]
    labelled += [(f"ours_{label}", {**settings, **s}) for label, s in variants.items()]
    return labelled


def main() -> None:
    """Run every (algorithm, problem, seed) of the flags (``--help``); print, per
    budget, the median simple regret of each algorithm on each problem (with the
    share of successful seeds where a problem defines success) and the median
    seconds per run; write every run (losses, settings, seconds) to
    ``<--results-dir>/sample_efficiency<--tag>.json`` (and, as runs end,
    ``.partial.jsonl``)."""
    args = _parse()
    if args.quick:
        args.seeds, args.expensive_seeds, args.evals = 5, 3, 50
    algos = [a for a in args.algos.split(",") if _available(a)]
    settings = json.loads(args.ours_settings)
    if args.batch > 1:
        algos = [a for a in algos if a == "ours"]
        settings["batch"] = args.batch
    budgets = sorted(args.budgets or [args.evals])
    variants = json.loads(args.variants)
    labelled = labelled_settings(algos, settings, variants)
    algos = [a for a, _ in labelled]
    jobs = []
    for name in args.problems.split(","):
        seeds = args.expensive_seeds if PROBLEMS[name].expensive else args.seeds
        for seed in range(args.seed_offset, args.seed_offset + seeds):
            jobs.extend((a, name, seed, budgets, s) for a, s in labelled)
    start = time.perf_counter()
    results = args.results_dir
    results.mkdir(parents=True, exist_ok=True)
    partial_file = results / f"sample_efficiency{args.tag}.partial.jsonl"
    runs = []
    with multiprocessing.Pool(args.processes) as pool, partial_file.open("w") as log:
        # Seed-major order, each run logged as it ends: a stopped run leaves whole
        # seeds to compare (compare_runs.py reads the .partial.jsonl too).
        for run in pool.imap(_task, jobs, chunksize=1):
            runs.append(run)
            log.write(json.dumps(run) + "\n")
            log.flush()
    tables = _summarise(runs, budgets)
    for budget, table in tables.items():
        _print_table(table, algos, int(budget))
    _print_seconds(tables[str(budgets[-1])])
    print(f"\nwall time {time.perf_counter() - start:.0f} s, settings={settings}")
    out = results / f"sample_efficiency{args.tag}.json"
    meta = {"budgets": budgets, "settings": settings, "algos": algos}
    meta["variants"] = {
        a.removeprefix("ours_"): s for a, s in labelled if a.startswith("ours_")
    }
    out.write_text(json.dumps({"meta": meta, "tables": tables, "runs": runs}))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
