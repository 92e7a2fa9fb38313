"""Latency of one TPE suggestion with n finished trials in a 10-D mixed space.

The space mixes uniform, loguniform, quniform, integer and choice parameters (two of
each). The history is filled with prior draws and a synthetic loss, then the median
time of single suggestions is printed for ours and, when installed, for hyperopt's
``tpe.suggest`` and optuna's default ``TPESampler`` (ask + the 10 suggest calls).

    python benchmarks/suggest_latency.py                    # ours at 100..10,000
    python benchmarks/suggest_latency.py --skip-peers
    python benchmarks/suggest_latency.py --peer-sizes 100,1000,3000
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESULTS = Path(__file__).resolve().parent / "results"
CHOICES = {"c1": ["a", "b", "c", "d"], "c2": ["x", "y", "z"]}


def make_space(hp: Any) -> dict[str, Any]:
    """The 10-D mixed space, built with an ``hp`` module (ours or hyperopt's)."""
    return {
        "u1": hp.uniform("u1", -5, 5),
        "u2": hp.uniform("u2", 0, 1),
        "lu1": hp.loguniform("lu1", math.log(1e-5), 0.0),
        "lu2": hp.loguniform("lu2", math.log(1e-2), math.log(1e2)),
        "q1": hp.quniform("q1", 0, 10, 0.5),
        "q2": hp.quniform("q2", -20, 20, 1),
        "i1": hp.uniformint("i1", 1, 100),
        "i2": hp.uniformint("i2", 0, 8),
        "c1": hp.choice("c1", CHOICES["c1"]),
        "c2": hp.choice("c2", CHOICES["c2"]),
    }


def synthetic_loss(config: dict[str, Any]) -> float:
    """A cheap loss with structure in every parameter."""
    value = (config["u1"] - 1) ** 2 + (config["u2"] - 0.3) ** 2
    value += math.log(config["lu1"] / 1e-3) ** 2 + math.log(config["lu2"]) ** 2
    value += (config["q1"] - 4) ** 2 / 10 + abs(config["q2"]) / 10
    value += abs(config["i1"] - 30) / 10 + abs(config["i2"] - 5)
    return value + (config["c1"] != "b") + (config["c2"] != "z")


def _report(name: str, n: int, ms: float) -> None:
    """Print one measurement as soon as it is taken (a long run keeps its results)."""
    print(f"{name} at {n} trials: {ms:.2f} ms", flush=True)


_CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = _CLOCKS["wall"]


def _timed(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = _clock()
        fn()
        times.append(_clock() - start)
    return statistics.median(times) * 1e3


def _wide() -> Any:
    from benchmarks.problems import PROBLEMS

    return PROBLEMS["wide100"]


def bench_ours(sizes: list[int], repeats: int, wide: bool = False) -> dict[int, float]:
    from hpo_service.algorithms import tpe
    from hpo_service.algorithms._history import History
    from hpo_service.algorithms._tpe.sampler import sample_prior
    from hpo_service.space import compile_space, hp, space_eval

    space = _wide().make_space(hp) if wide else make_space(hp)
    loss = _wide().loss if wide else synthetic_loss
    compiled = compile_space(space)
    history = History(compiled)
    rng = np.random.default_rng(0)
    out = {}
    for n in sizes:
        while len(history) < n:
            params = sample_prior(compiled, rng)
            history.add(params, loss(space_eval(space, params)))
        tpe.suggest(compiled, history, rng)  # warm caches
        out[n] = _timed(lambda: tpe.suggest(compiled, history, rng), repeats)
        _report("ours", n, out[n])
    return out


def bench_hyperopt(sizes: list[int], repeats: int) -> dict[int, float]:
    import hyperopt
    from hyperopt import base

    space = make_space(hyperopt.hp)

    def objective(config: dict[str, Any]) -> dict[str, Any]:
        return {"loss": synthetic_loss(config), "status": hyperopt.STATUS_OK}

    domain = base.Domain(objective, space)
    trials = hyperopt.Trials()
    out = {}
    rstate = np.random.default_rng(0)
    for n in sizes:
        hyperopt.fmin(
            objective,
            space,
            algo=hyperopt.rand.suggest,
            max_evals=n,
            trials=trials,
            rstate=rstate,
            show_progressbar=False,
        )
        trials.refresh()
        out[n] = _timed(
            partial(hyperopt.tpe.suggest, [10**9], domain, trials, 1), repeats
        )
        _report("hyperopt", n, out[n])
    return out


def bench_optuna_wide(sizes: list[int], repeats: int) -> dict[int, float]:
    """Optuna's default TPE in the wide space; history from its own random sampler."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")
    problem = _wide()
    filler = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    out = {}
    for n in sizes:
        filler.optimize(
            lambda t: problem.loss(problem.optuna_config(t)),
            n_trials=n - len(filler.trials),
        )
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
        study.add_trials(filler.trials)
        out[n] = _timed(partial(_ask_tell, study, problem), repeats)
        _report("optuna", n, out[n])
    return out


def _ask_tell(study: Any, problem: Any) -> None:
    trial = study.ask()
    study.tell(trial, problem.loss(problem.optuna_config(trial)))


def bench_optuna(sizes: list[int], repeats: int) -> dict[int, float]:
    import optuna
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")
    dists = {
        "u1": FloatDistribution(-5, 5),
        "u2": FloatDistribution(0, 1),
        "lu1": FloatDistribution(1e-5, 1.0, log=True),
        "lu2": FloatDistribution(1e-2, 1e2, log=True),
        "q1": FloatDistribution(0, 10, step=0.5),
        "q2": FloatDistribution(-20, 20, step=1),
        "i1": IntDistribution(1, 100),
        "i2": IntDistribution(0, 8),
        "c1": CategoricalDistribution(CHOICES["c1"]),
        "c2": CategoricalDistribution(CHOICES["c2"]),
    }
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    rng = np.random.default_rng(0)
    out = {}

    def draw(trial: Any) -> dict[str, Any]:
        return {name: trial._suggest(name, dist) for name, dist in dists.items()}

    def one() -> None:
        trial = study.ask()
        study.tell(trial, synthetic_loss(draw(trial)))

    for n in sizes:
        batch = []
        # study.trials deep-copies every trial: read it once, not once per new trial.
        for _ in range(n - len(study.trials)):
            params = {k: _random_value(d, rng) for k, d in dists.items()}
            batch.append(
                optuna.trial.create_trial(
                    params=params, distributions=dists, value=synthetic_loss(params)
                )
            )
        study.add_trials(batch)
        out[n] = _timed(one, repeats)
        _report("optuna", n, out[n])
    return out


def _random_value(dist: Any, rng: np.random.Generator) -> Any:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return dist.choices[rng.integers(len(dist.choices))]
    if isinstance(dist, IntDistribution):
        return int(rng.integers(dist.low, dist.high + 1))
    if dist.log:
        return float(math.exp(rng.uniform(math.log(dist.low), math.log(dist.high))))
    if dist.step:
        steps = round((dist.high - dist.low) / dist.step)
        return float(dist.low + dist.step * rng.integers(steps + 1))
    return float(rng.uniform(dist.low, dist.high))


def _sizes(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,3000,10000")
    parser.add_argument("--peer-sizes", default="100,1000,3000")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--peer-repeats", type=int, default=5)
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument(
        "--space",
        choices=["mixed10", "wide100"],
        default="mixed10",
        help="wide100: the 100-parameter conditional space of benchmarks/problems.py",
    )
    parser.add_argument(
        "--clock",
        choices=list(_CLOCKS),
        default="wall",
        help="cpu: CPU seconds of this process (steadier on a shared machine)",
    )
    args = parser.parse_args()
    global _clock
    _clock = _CLOCKS[args.clock]
    wide = args.space == "wide100"
    results = {"ours": bench_ours(_sizes(args.sizes), args.repeats, wide)}
    peers = (
        [("optuna", bench_optuna_wide)]
        if wide
        else [
            ("hyperopt", bench_hyperopt),
            ("optuna", bench_optuna),
        ]
    )
    if not args.skip_peers:
        for name, bench in peers:
            try:
                results[name] = bench(_sizes(args.peer_sizes), args.peer_repeats)
            except ImportError:
                print(f"{name} not installed: skipped")
    sizes = sorted({n for r in results.values() for n in r})
    print(f"\nMedian latency of one suggestion (ms, {args.clock}), {args.space} space")
    print(f"{'n trials':>9} " + " ".join(f"{name:>10}" for name in results))
    for n in sizes:
        cells = [f"{r[n]:>10.2f}" if n in r else f"{'-':>10}" for r in results.values()]
        print(f"{n:>9} " + " ".join(cells))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"suggest_latency_{args.space}_{args.clock}.json"
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
