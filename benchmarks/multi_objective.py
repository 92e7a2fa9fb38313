"""Multi-objective sample efficiency: hypervolume after N evaluations, ours vs optuna.

Runs our ``tpe.suggest`` (MOTPE on several objectives), our random search, optuna's
``TPESampler`` and ``NSGAIISampler`` (defaults) on ZDT1, ZDT2 (30 variables) and a
scikit-learn problem (decision tree on the digits data: validation error vs number of
tree nodes; ``tree_fullbin`` is the same with our space given optuna's integer priors),
sequentially and with 8 simulated asynchronous workers, and prints the
median hypervolume (computed with ``moocore``) of every run's evaluated points.

    python benchmarks/multi_objective.py                   # 30 seeds, 200 evaluations
    python benchmarks/multi_objective.py --quick           # 5 seeds, 100 evaluations
    python benchmarks/multi_objective.py --problems zdt1 --algos ours --workers 8 \
        --ours-settings '{"gamma": 0.15}' --seeds 10 --seed-offset 100
    python benchmarks/multi_objective.py --problems tree --algos optuna_tpe \
        --workers 8 --optuna-settings '{"constant_liar": false}'

Parallel runs are an event simulation, not real processes: ``--workers K`` keeps K
trials in flight; each trial takes a duration drawn uniformly from [0.5, 1.5] time units
(from the run's seed, whatever the algorithm or the point), and whenever the earliest
one finishes its result is told and a new point is asked, with the K - 1 still running
as pending trials (our constant liar; optuna's TPESampler ``constant_liar`` default,
RUNNING trials; NSGA-II's asynchronous generations).
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import json
import logging
import math
import multiprocessing
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESULTS = Path(__file__).resolve().parent / "results"
ALGOS = ("ours", "random", "optuna_tpe", "optuna_nsga2")


@dataclass(frozen=True)
class MOProblem:
    """A multi-objective benchmark: space (hp, optuna), losses, HV reference point."""

    name: str
    make_space: Callable[[Any], Any]
    optuna_config: Callable[[Any], Any]
    losses: Callable[[Any], list[float]]
    reference: tuple[float, ...]


_ZDT_DIMS = 30


def _unit_space(hp: Any) -> Any:
    return [hp.uniform(f"x{i}", 0.0, 1.0) for i in range(_ZDT_DIMS)]


def _unit_optuna(trial: Any) -> Any:
    return [trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(_ZDT_DIMS)]


def zdt1(x: list[float]) -> list[float]:
    """ZDT1 (Zitzler, Deb and Thiele 2000): convex front f2 = 1 - sqrt(f1) at g = 1."""
    f1, g = x[0], 1.0 + 9.0 * float(np.mean(x[1:]))
    return [f1, g * (1.0 - math.sqrt(f1 / g))]


def zdt2(x: list[float]) -> list[float]:
    """ZDT2: non-convex front f2 = 1 - f1^2 at g = 1."""
    f1, g = x[0], 1.0 + 9.0 * float(np.mean(x[1:]))
    return [f1, g * (1.0 - (f1 / g) ** 2)]


def _tree_space(hp: Any) -> Any:
    return {
        "max_depth": hp.uniformint("max_depth", 1, 20),
        "min_samples_leaf": hp.qloguniform("min_samples_leaf", 0.0, math.log(64), 1),
        "max_features": hp.uniform("max_features", 0.1, 1.0),
        "criterion": hp.choice("criterion", ["gini", "entropy"]),
        "ccp_alpha": hp.loguniform("ccp_alpha", math.log(1e-5), math.log(0.05)),
    }


def _tree_space_full_bins(hp: Any) -> Any:
    """``tree``'s space with optuna's ``suggest_int`` priors for the integers: every
    integer, the end ones too, gets a whole rounding bin (hyperopt's ``uniformint``
    and ``qloguniform`` give the ends half a bin, e.g. 10% for ``min_samples_leaf=1``
    against optuna's 23%)."""
    space = _tree_space(hp)
    space["max_depth"] = hp.quniform("max_depth", 0.5, 20.5, 1)
    space["min_samples_leaf"] = hp.qloguniform(
        "min_samples_leaf", math.log(0.5), math.log(64.5), 1
    )
    return space


def _tree_optuna(trial: Any) -> Any:
    return {
        "max_depth": trial.suggest_int("max_depth", 1, 20),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 64, log=True),
        "max_features": trial.suggest_float("max_features", 0.1, 1.0),
        "criterion": trial.suggest_categorical("criterion", ["gini", "entropy"]),
        "ccp_alpha": trial.suggest_float("ccp_alpha", 1e-5, 0.05, log=True),
    }


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    return tuple(train_test_split(x, y, test_size=0.33, random_state=0, stratify=y))


def tree_losses(config: dict[str, Any]) -> list[float]:
    """Decision tree on digits: [validation error, number of tree nodes]."""
    from sklearn.tree import DecisionTreeClassifier

    x_train, x_valid, y_train, y_valid = _digits()
    model = DecisionTreeClassifier(
        max_depth=max(1, int(config["max_depth"])),
        min_samples_leaf=max(1, int(config["min_samples_leaf"])),
        max_features=float(config["max_features"]),
        criterion=config["criterion"],
        ccp_alpha=float(config["ccp_alpha"]),
        random_state=0,
    ).fit(x_train, y_train)
    error = 1.0 - float(model.score(x_valid, y_valid))
    return [error, float(model.tree_.node_count)]


PROBLEMS = {
    "zdt1": MOProblem("zdt1", _unit_space, _unit_optuna, zdt1, (11.0, 11.0)),
    "zdt2": MOProblem("zdt2", _unit_space, _unit_optuna, zdt2, (11.0, 11.0)),
    "tree": MOProblem("tree", _tree_space, _tree_optuna, tree_losses, (1.0, 400.0)),
    "tree_fullbin": MOProblem(
        "tree_fullbin", _tree_space_full_bins, _tree_optuna, tree_losses, (1.0, 400.0)
    ),
}


# ---- asynchronous workers, simulated ------------------------------------------------


def simulate(
    ask: Callable[[], Any],
    tell: Callable[[Any, list[float]], None],
    losses: Callable[[Any], list[float]],
    evals: int,
    workers: int,
    seed: int,
) -> list[list[float]]:
    """Run ``evals`` trials with ``workers`` in flight; return losses in finish order.

    ``ask()`` returns ``(handle, config)``; the handle goes back to ``tell``.
    """
    durations = np.random.default_rng([seed, 7]).uniform(0.5, 1.5, size=evals)
    running: list[tuple[float, int, Any, Any]] = []
    out: list[list[float]] = []
    started = 0
    now = 0.0
    while len(out) < evals:
        while len(running) < workers and started < evals:
            handle, config = ask()
            heapq.heappush(running, (now + durations[started], started, handle, config))
            started += 1
        now, _, handle, config = heapq.heappop(running)
        values = losses(config)
        tell(handle, values)
        out.append(values)
    return out


def run_ours(
    problem: MOProblem, seed: int, evals: int, workers: int, settings: dict[str, Any]
) -> list[list[float]]:
    from hpo_service.algorithms import rand, tpe
    from hpo_service.algorithms._history import History
    from hpo_service.space import compile_space, hp, space_eval

    algo = rand.suggest if settings.pop("random", False) else tpe.suggest
    space = problem.make_space(hp)
    compiled = compile_space(space)
    history = History(compiled)
    rng = np.random.default_rng(seed)
    running: dict[int, dict[str, Any]] = {}
    counter = iter(range(10**9))

    def ask() -> Any:
        history.set_pending(list(running.values()))
        (params,) = algo(compiled, history, rng, n=1, **settings)
        key = next(counter)
        running[key] = params
        return key, space_eval(space, params)

    def tell(key: int, values: list[float]) -> None:
        history.add(running.pop(key), values)

    return simulate(ask, tell, problem.losses, evals, workers, seed)


def run_random(
    problem: MOProblem, seed: int, evals: int, workers: int, settings: dict[str, Any]
) -> list[list[float]]:
    return run_ours(problem, seed, evals, workers, {"random": True})


def _run_optuna(
    sampler: Any, problem: MOProblem, seed: int, evals: int, workers: int
) -> list[list[float]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    study = optuna.create_study(directions=["minimize"] * 2, sampler=sampler)

    def ask() -> Any:
        trial = study.ask()
        return trial, problem.optuna_config(trial)

    def tell(trial: Any, values: list[float]) -> None:
        study.tell(trial, values)

    return simulate(ask, tell, problem.losses, evals, workers, seed)


def run_optuna_tpe(
    problem: MOProblem, seed: int, evals: int, workers: int, settings: dict[str, Any]
) -> list[list[float]]:
    import optuna

    sampler = optuna.samplers.TPESampler(seed=seed, **settings)
    return _run_optuna(sampler, problem, seed, evals, workers)


def run_optuna_nsga2(
    problem: MOProblem, seed: int, evals: int, workers: int, settings: dict[str, Any]
) -> list[list[float]]:
    import optuna

    sampler = optuna.samplers.NSGAIISampler(seed=seed)
    return _run_optuna(sampler, problem, seed, evals, workers)


RUNNERS = {
    "ours": run_ours,
    "random": run_random,
    "optuna_tpe": run_optuna_tpe,
    "optuna_nsga2": run_optuna_nsga2,
}


def hypervolume(points: list[list[float]], reference: tuple[float, ...]) -> float:
    """Exact hypervolume of ``points`` bounded by ``reference`` (by moocore)."""
    import moocore

    data = np.asarray(points, dtype=float)
    data = data[np.all(data < np.asarray(reference), axis=1)]
    if data.size == 0:
        return 0.0
    return float(moocore.hypervolume(data, ref=np.asarray(reference)))


def _recording(problem: MOProblem) -> tuple[MOProblem, list[dict[str, Any]]]:
    """``problem`` whose losses also append each evaluated configuration (a dict of
    plain numbers and strings, in finish order) to the returned list; spaces of
    another shape (ZDT's lists) are not recorded."""
    configs: list[dict[str, Any]] = []

    def losses(config: Any) -> list[float]:
        if isinstance(config, dict):
            configs.append(
                {k: v if isinstance(v, str) else float(v) for k, v in config.items()}
            )
        return problem.losses(config)

    return dataclasses.replace(problem, losses=losses), configs


def _task(job: tuple[str, str, int, int, int, dict[str, Any]]) -> dict[str, Any]:
    algo, name, seed, evals, workers, settings = job
    problem, configs = _recording(PROBLEMS[name])
    start = time.perf_counter()
    losses = RUNNERS[algo](problem, seed, evals, workers, dict(settings))
    return {
        "algo": algo,
        "problem": name,
        "seed": seed,
        "workers": workers,
        "losses": losses,
        "hypervolume": hypervolume(losses, problem.reference),
        "seconds": time.perf_counter() - start,
        **({"configs": configs} if configs else {}),
        **({"settings": settings} if settings else {}),
    }


def _summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for run in runs:
        key = f"{run['problem']} x{run['workers']}"
        cell = table.setdefault(key, {}).setdefault(run["algo"], {"hv": [], "s": []})
        cell["hv"].append(run["hypervolume"])
        cell["s"].append(run["seconds"])
    for row in table.values():
        for cell in row.values():
            hv = np.asarray(cell.pop("hv"))
            cell.update(
                median=float(np.median(hv)),
                mean=float(np.mean(hv)),
                seeds=int(hv.size),
                median_seconds=float(np.median(cell.pop("s"))),
            )
    return table


def _print_table(table: dict[str, Any], algos: list[str], evals: Any) -> None:
    print(f"\nMedian (mean) hypervolume after {evals} evaluations (higher is better)")
    names = [a if len(a) <= 20 else f"{a.split()[0]}#{i}" for i, a in enumerate(algos)]
    for name, algo in zip(names, algos, strict=True):
        if name != algo:
            print(f"  {name} = {algo}")
    header = f"{'problem':<10} {'seeds':>5} " + " ".join(f"{a:>20}" for a in names)
    print(header)
    print("-" * len(header))
    for key, row in table.items():
        seeds = max(c["seeds"] for c in row.values())
        cells = [
            f"{row[a]['median']:.4f} ({row[a]['mean']:.4f})" if a in row else "-"
            for a in algos
        ]
        print(f"{key:<10} {seeds:>5} " + " ".join(f"{c:>20}" for c in cells))
    print("\nMedian seconds per run:")
    for key, row in table.items():
        print(
            f"  {key}: "
            + ", ".join(f"{a} {c['median_seconds']:.2f}" for a, c in row.items())
        )


def _paired(runs: list[dict[str, Any]], algos: list[str]) -> dict[str, Any]:
    """Ours against each peer, seed by seed: hypervolume differences and a test.

    For every problem and worker count, and every variant of ours (``ours``, and
    ``ours {settings}`` for runs with ``--ours-settings``): the median of ``(ours -
    peer) / peer`` in percent, on how many seeds ours is at least the peer's, and the
    two-sided Wilcoxon signed-rank p-value of the paired differences (scipy).
    """
    out: dict[str, Any] = {}
    for key in sorted({(r["problem"], r["workers"]) for r in runs}):
        table = {
            (r["algo"], r["seed"]): r["hypervolume"]
            for r in runs
            if (r["problem"], r["workers"]) == key
        }
        for mine in (a for a in algos if a.startswith("ours")):
            label = f"{key[0]} x{key[1]}" + mine[len("ours") :]
            for peer in (a for a in algos if a != mine):
                cell = _pair(table, mine, peer)
                if cell is not None:
                    out.setdefault(label, {})[peer] = cell
    return out


def _pair(table: dict[Any, float], mine: str, peer: str) -> dict[str, Any] | None:
    """Paired comparison of two algorithms' hypervolumes on their common seeds."""
    from scipy.stats import wilcoxon

    seeds = sorted(s for a, s in table if a == mine and (peer, s) in table)
    if not seeds:
        return None
    ours = np.array([table[(mine, s)] for s in seeds])
    theirs = np.array([table[(peer, s)] for s in seeds])
    diff = ours - theirs
    return {
        "median_rel_pct": float(np.median(diff / theirs) * 100),
        "median_diff": float(np.median(diff)),
        "at_least": int(np.sum(diff >= 0)),
        "seeds": len(seeds),
        "wilcoxon_p": float(wilcoxon(diff).pvalue) if np.any(diff != 0) else 1.0,
    }


def _print_paired(paired: dict[str, Any]) -> None:
    print("\nOurs vs each peer, paired by seed:")
    for label, peers in paired.items():
        cells = [
            f"{peer} {c['median_rel_pct']:+.2f}% ({c['median_diff']:+.2f}; >= on "
            f"{c['at_least']}/{c['seeds']}, p={c['wilcoxon_p']:.2g})"
            for peer, c in peers.items()
        ]
        print(f"  {label}: " + "; ".join(cells))


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--seed-offset", type=int, default=0)
    parser.add_argument("--evals", type=int, default=200)
    parser.add_argument(
        "--problems",
        default="zdt1,zdt2,tree",
        help=f"comma-separated, among {','.join(PROBLEMS)}",
    )
    parser.add_argument("--algos", default=",".join(ALGOS))
    parser.add_argument(
        "--workers",
        default="1,8",
        help="comma-separated numbers of simulated asynchronous workers",
    )
    parser.add_argument("--ours-settings", default="{}", help="JSON for tpe.suggest")
    parser.add_argument(
        "--optuna-settings",
        default="{}",
        help="JSON of keyword arguments for optuna's TPESampler (optuna_tpe)",
    )
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="5 seeds, 100 evals")
    parser.add_argument("--tag", default="", help="suffix of the results file name")
    parser.add_argument(
        "--runs-file",
        type=Path,
        help="append every finished run to this JSON-lines file as it finishes "
        "(so a long run split into several processes keeps what finished)",
    )
    parser.add_argument(
        "--summarise",
        type=Path,
        nargs="+",
        metavar="RUNS_FILE",
        help="run nothing: print the table and the paired comparison of the runs "
        "recorded in these --runs-file files",
    )
    return parser.parse_args()


def _run_jobs(jobs: list[Any], processes: int, runs_file: Path | None) -> list[Any]:
    """Run ``jobs`` on ``processes`` processes; append each finished run to a file."""
    runs = []
    with multiprocessing.Pool(processes) as pool:
        for run in pool.imap(_task, jobs, chunksize=1):
            runs.append(run)
            if runs_file is not None:
                with runs_file.open("a") as stream:
                    stream.write(json.dumps(run) + "\n")
    return runs


def _complete_seeds(runs: list[Any], algos: list[str]) -> list[Any]:
    """The runs of the (problem, workers, seed) cells that every algorithm finished,
    so each row of the table compares the same seeds (a stopped run leaves some
    algorithms one seed ahead)."""
    done: dict[tuple[str, int, int], set[str]] = {}
    for run in runs:
        done.setdefault((run["problem"], run["workers"], run["seed"]), set()).add(
            run["algo"]
        )
    return [
        r for r in runs if done[(r["problem"], r["workers"], r["seed"])] >= set(algos)
    ]


def _latest_runs(runs: list[Any]) -> list[Any]:
    """One run per (algorithm, problem, workers, seed): the last one recorded (a
    stopped run resumed with ``--seed-offset`` repeats the seed it was stopped in).

    Runs with ``--ours-settings`` (``--optuna-settings``) count as an algorithm of
    their own, named ``ours {settings}`` (``optuna_tpe {settings}``), so they sit
    beside the default's runs of the same seeds.
    """
    for run in runs:
        if run.get("settings") and " " not in run["algo"]:
            run["algo"] += " " + json.dumps(run["settings"], sort_keys=True)
    latest = {(r["algo"], r["problem"], r["workers"], r["seed"]): r for r in runs}
    return list(latest.values())


def _summarise_files(paths: list[Path]) -> None:
    """Print the table and the paired comparison of runs read from JSON-lines files."""
    runs = [json.loads(line) for p in paths for line in p.read_text().splitlines()]
    runs = _latest_runs(runs)
    variants = sorted({r["algo"] for r in runs if " " in r["algo"]})
    algos = [a for a in ALGOS if any(r["algo"] == a for r in runs)] + variants
    runs = _complete_seeds(runs, algos)
    evals = sorted({len(r["losses"]) for r in runs})
    _print_table(_summarise(runs), algos, evals[0] if len(evals) == 1 else evals)
    _print_paired(_paired(runs, algos) if "ours" in algos else {})


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    args = _parse()
    if args.summarise:
        _summarise_files(args.summarise)
        return
    if args.quick:
        args.seeds, args.evals = 5, 100
    algos = args.algos.split(",")
    settings = json.loads(args.ours_settings)
    per_algo = {"ours": settings, "optuna_tpe": json.loads(args.optuna_settings)}
    jobs = [
        (algo, name, seed, args.evals, int(workers), per_algo.get(algo, {}))
        for name in args.problems.split(",")
        for workers in args.workers.split(",")
        for seed in range(args.seed_offset, args.seed_offset + args.seeds)
        for algo in algos
    ]
    start = time.perf_counter()
    runs = _run_jobs(jobs, args.processes, args.runs_file)
    table = _summarise(runs)
    _print_table(table, algos, args.evals)
    paired = _paired(runs, algos) if "ours" in algos else {}
    _print_paired(paired)
    print(
        f"\nwall time {time.perf_counter() - start:.0f} s, settings={settings}, "
        f"optuna settings={per_algo['optuna_tpe']}"
    )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"multi_objective{args.tag}.json"
    meta = {"evals": args.evals, "settings": settings, "algos": algos}
    out.write_text(
        json.dumps({"meta": meta, "table": table, "paired": paired, "runs": runs})
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
