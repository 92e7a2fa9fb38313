"""Sample efficiency: simple regret after N evaluations, ours vs hyperopt vs optuna.

Runs every (algorithm, problem, seed) in a pool of worker processes, prints a table of
median simple regret (and the share of successful seeds where a problem defines one),
and writes every run's losses to ``benchmarks/results/``.

    python benchmarks/sample_efficiency.py                # 30 seeds, 100 evaluations
    python benchmarks/sample_efficiency.py --quick        # 5 seeds, 50 evaluations
    python benchmarks/sample_efficiency.py --problems branin,decoy --algos ours \
        --ours-settings '{"gamma": 0.15}'
    python benchmarks/sample_efficiency.py --algos ours --batch 8   # 8 parallel workers
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import sys
import time
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.problems import PROBLEMS, Problem

RESULTS = Path(__file__).resolve().parent / "results"
ALGOS = ("ours", "hyperopt", "optuna")


def run_ours(problem: Problem, seed: int, evals: int, settings: dict[str, Any]) -> list:
    from hpo_service.algorithms import tpe
    from hpo_service.algorithms._history import History
    from hpo_service.space import compile_space, hp, space_eval

    space = problem.make_space(hp)
    compiled = compile_space(space)
    history = History(compiled)
    rng = np.random.default_rng(seed)
    batch = settings.pop("batch", 1)
    losses: list[float] = []
    while len(losses) < evals:
        # A batch of k points stands for k workers: later points see earlier ones as
        # pending (constant liar), and all k finish before the next batch is asked.
        n = min(batch, evals - len(losses))
        for params in tpe.suggest(compiled, history, rng, n=n, **settings):
            loss = problem.loss(space_eval(space, params))
            history.add(params, loss)
            losses.append(loss)
    return losses


def run_hyperopt(
    problem: Problem, seed: int, evals: int, settings: dict[str, Any]
) -> list:
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
    return [float(t["result"].get("loss", math.nan)) for t in trials.trials]


def _hyperopt_objective(problem: Problem, config: Any) -> dict[str, Any]:
    import hyperopt

    loss = problem.loss(config)
    if math.isnan(loss):
        return {"status": hyperopt.STATUS_FAIL}
    return {"loss": loss, "status": hyperopt.STATUS_OK}


def run_optuna(
    problem: Problem, seed: int, evals: int, settings: dict[str, Any]
) -> list:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(lambda t: problem.loss(problem.optuna_config(t)), n_trials=evals)
    return [math.nan if t.value is None else float(t.value) for t in study.trials]


RUNNERS = {"ours": run_ours, "hyperopt": run_hyperopt, "optuna": run_optuna}


def _task(job: tuple[str, str, int, int, dict[str, Any]]) -> dict[str, Any]:
    algo, name, seed, evals, settings = job
    settings = dict(settings)
    start = time.perf_counter()
    losses = RUNNERS[algo](PROBLEMS[name], seed, evals, settings)
    return {
        "algo": algo,
        "problem": name,
        "seed": seed,
        "losses": losses,
        "seconds": time.perf_counter() - start,
    }


def _available(algo: str) -> bool:
    module = {"hyperopt": "hyperopt", "optuna": "optuna"}.get(algo)
    if module is None:
        return True
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _summarise(runs: list[dict[str, Any]], evals: int) -> dict[str, dict[str, Any]]:
    best_known = {}
    for run in runs:
        p = PROBLEMS[run["problem"]]
        floor = float(np.nanmin(run["losses"]))
        ref = best_known.get(p.name, np.inf if p.optimum is None else p.optimum)
        best_known[p.name] = min(ref, floor) if p.optimum is None else p.optimum
    table: dict[str, dict[str, Any]] = {}
    for run in runs:
        p = PROBLEMS[run["problem"]]
        regret = float(np.nanmin(run["losses"][:evals])) - best_known[p.name]
        cell = table.setdefault(p.name, {}).setdefault(run["algo"], {"regrets": []})
        cell["regrets"].append(regret)
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
    return table


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
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    parser.add_argument("--algos", default=",".join(ALGOS))
    parser.add_argument(
        "--ours-settings", default="{}", help="JSON dict for tpe.suggest"
    )
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="5 seeds, 50 evaluations")
    parser.add_argument("--tag", default="", help="suffix of the results file name")
    parser.add_argument(
        "--batch",
        type=int,
        default=1,
        help="ours only: ask this many points at a time (simulated parallel workers)",
    )
    return parser.parse_args()


def main() -> None:
    args = _parse()
    if args.quick:
        args.seeds, args.expensive_seeds, args.evals = 5, 3, 50
    algos = [a for a in args.algos.split(",") if _available(a)]
    settings = json.loads(args.ours_settings)
    if args.batch > 1:
        algos = [a for a in algos if a == "ours"]
        settings["batch"] = args.batch
    jobs = []
    for name in args.problems.split(","):
        seeds = args.expensive_seeds if PROBLEMS[name].expensive else args.seeds
        for seed in range(args.seed_offset, args.seed_offset + seeds):
            jobs.extend((a, name, seed, args.evals, settings) for a in algos)
    start = time.perf_counter()
    with multiprocessing.Pool(args.processes) as pool:
        runs = pool.map(_task, jobs, chunksize=1)
    table = _summarise(runs, args.evals)
    _print_table(table, algos, args.evals)
    print(f"\nwall time {time.perf_counter() - start:.0f} s, settings={settings}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"sample_efficiency{args.tag}.json"
    meta = {"evals": args.evals, "settings": settings, "algos": algos}
    out.write_text(json.dumps({"meta": meta, "table": table, "runs": runs}))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
