"""Parallel efficiency: TPE with W asynchronous workers against the sequential run.

    python -m benchmarks.parallel_efficiency                 # 30 seeds, W = 4 16 64
    python -m benchmarks.parallel_efficiency --seeds 5 --workers 16 \
        --problems hartmann6 --algos ours --ours-settings '{"gamma": 0.1}'
    python -m benchmarks.parallel_efficiency --algos optuna \
        --optuna-settings '{"constant_liar": false}'      # a peer variant
    python -m benchmarks.parallel_efficiency --policy fixed:1 --algos ours

A discrete-event simulation of a study (so 30 seeds take minutes, not days) that replays
what the real parts do, in seconds of simulated time:

- workers: evaluation times are log-normal (median ``--eval-median`` s, log-sd
  ``--eval-sigma``; with the default 1.0 a tenth of the trials take 3.6x the median),
  so results arrive out of order; a worker that finds the queue empty polls again after
  0.1 s, then 1.5x longer each time up to 2 s (as ``hpo-worker``);
- the driver: polls every 20 ms, observes what finished, and refills the queue to the
  depth its policy gives (``--policy``: ``auto`` is the driver's own rule in
  ``hpo_service/driver/_queue.py``, ``fixed:K`` keeps K queued, ``per-worker`` is the
  old rule of one queued trial per live worker, at least 2); each suggestion takes
  ``--suggest-cost`` seconds, and it sees the queued and running trials as pending;
- the sequential run (``seq``) suggests each trial after the previous one finished.

Peers run the same simulation: optuna's ``TPESampler(constant_liar=True)`` (asked
trials are running until told). Reported: median simple regret after 100 and 300
finished trials, and the share of worker time spent idle before the last trial starts.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.problems import PROBLEMS, Problem
from hpo_service import hp
from hpo_service.algorithms import tpe
from hpo_service.driver._queue import CompletionRate, QueuePolicy
from hpo_service.driver._suggest import Suggester

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_PROBLEMS = ("branin", "hartmann6", "rosenbrock5", "ackley5", "decoy")
_DRIVER_POLL = 0.02
_MAX_PER_POLL = 32
_WORKER_POLL, _WORKER_POLL_MAX = 0.1, 2.0


# ---- samplers behind one interface ---------------------------------------------------


class _Ours:
    def __init__(self, problem: Problem, seed: int, settings: dict[str, Any]) -> None:
        self.problem = problem
        self.suggester = Suggester(
            problem.make_space(hp), partial(tpe.suggest, **settings)
        )
        self.rng = np.random.default_rng(seed)

    def ask(self, n: int, pending: list[Any]) -> list[Any]:
        return self.suggester.suggest(self.rng, n, [t.params for t in pending])

    def loss(self, trial: Any) -> float:
        return self.problem.loss(trial.config)

    def tell(self, trial: Any, loss: float) -> None:
        self.suggester.observe(trial.params, {"loss": loss, "status": "ok"})


class _Optuna:
    def __init__(self, problem: Problem, seed: int, settings: dict[str, Any]) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        warnings.simplefilter("ignore")
        options = {"constant_liar": True, **settings}
        sampler = optuna.samplers.TPESampler(seed=seed, **options)
        self.study = optuna.create_study(sampler=sampler)
        self.problem = problem

    def ask(self, n: int, pending: list[Any]) -> list[Any]:
        out = []
        for _ in range(n):
            trial = self.study.ask()
            out.append((trial, self.problem.optuna_config(trial)))
        return out

    def loss(self, trial: Any) -> float:
        return self.problem.loss(trial[1])

    def tell(self, trial: Any, loss: float) -> None:
        self.study.tell(trial[0], loss)


SAMPLERS: dict[str, Callable[..., Any]] = {"ours": _Ours, "optuna": _Optuna}


# ---- queue policies ------------------------------------------------------------------


class _Fixed:
    """A fixed depth, or (``per_worker``) the old rule: one per running worker, >= 2."""

    def __init__(self, depth: int, clock: Callable[[], float], per_worker: bool):
        self._depth, self._per_worker = depth, per_worker
        self.completions = CompletionRate(clock)

    def depth(self, running: int, queued: int) -> int:
        if not self._per_worker:
            return self._depth
        return max(2, running, math.ceil(self.completions.rate / 4))


def make_policy(name: str, clock: Callable[[], float]) -> Any:
    """``auto[:horizon[:floor[:growth]]]``, ``per-worker`` or ``fixed:K``."""
    kind, *args = name.split(":")
    if kind == "auto":
        options: dict[str, Any] = {}
        if args:
            options["horizon"] = float(args[0])
        if len(args) > 1:
            options["floor"] = int(args[1])
        if len(args) > 2:
            options["growth"] = int(args[2])
        return QueuePolicy(clock=clock, **options)
    if kind in ("fixed", "per-worker"):
        return _Fixed(int(args[0]) if args else 0, clock, kind == "per-worker")
    raise ValueError(f"`--policy` must be auto, per-worker or fixed:K, got {name!r}")


# ---- the simulation ------------------------------------------------------------------


@dataclass
class SimConfig:
    """One simulated study: workers, budget, timing model and queue policy."""

    workers: int
    evals: int
    policy: str = "auto"
    eval_median: float = 1.0
    eval_sigma: float = 1.0
    suggest_cost: float = 0.002


@dataclass
class _State:
    queue: deque = field(default_factory=deque)
    running: dict[int, Any] = field(default_factory=dict)  # worker -> trial
    unseen: list[tuple[Any, float]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    idle_since: dict[int, float] = field(default_factory=dict)
    idle: float = 0.0
    queued_at_ask: list[int] = field(default_factory=list)
    submitted: int = 0
    claimed: int = 0
    last_claim: float = 0.0
    started: set[int] = field(default_factory=set)  # workers that ran a trial
    ramp: float = 0.0  # when the last worker started its first trial
    idle_after_ramp: float = 0.0


class Simulation:
    """Event loop of driver polls, worker claims and trial completions."""

    def __init__(self, sampler: Any, config: SimConfig, seed: int) -> None:
        self.sampler, self.config = sampler, config
        self.times = np.random.default_rng([seed, 7])  # eval times and poll jitter
        self.now = 0.0
        self.policy = make_policy(config.policy, lambda: self.now)
        self.state = _State(idle_since=dict.fromkeys(range(config.workers), 0.0))
        self._events: list[tuple[float, int, str, Any]] = []
        self._seq = 0

    def _at(self, when: float, kind: str, data: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self._events, (when, self._seq, kind, data))

    def run(self) -> dict[str, Any]:
        self._at(0.0, "poll")
        for worker in range(self.config.workers):
            self._at(0.0, "claim", (worker, _WORKER_POLL))
        while len(self.state.losses) < self.config.evals:
            self.now, _, kind, data = heapq.heappop(self._events)
            getattr(self, f"_on_{kind}")(data)
        s = self.state
        busy_window = self.config.workers * max(s.last_claim, 1e-9)
        queued = float(np.mean(s.queued_at_ask)) if s.queued_at_ask else 0.0
        steady = self.config.workers * max(s.last_claim - s.ramp, 1e-9)
        return {
            "losses": s.losses,
            "idle_share": s.idle / busy_window,
            "steady_idle_share": s.idle_after_ramp / steady,
            "ramp_seconds": s.ramp,
            "mean_queued": queued,
        }

    def _on_poll(self, _: Any) -> None:
        s, cfg = self.state, self.config
        for trial, loss in s.unseen:
            self.sampler.tell(trial, loss)
            self.policy.completions.count()
        s.unseen.clear()
        room = min(
            self.policy.depth(len(s.running), len(s.queue)) - len(s.queue),
            cfg.evals - s.submitted,
            _MAX_PER_POLL,
        )
        if room <= 0:
            self._at(self.now + _DRIVER_POLL, "poll")
            return
        pending = list(s.queue) + list(s.running.values())
        s.queued_at_ask.extend(range(len(s.queue), len(s.queue) + room))
        new = self.sampler.ask(room, pending)
        s.submitted += room
        ready = self.now + cfg.suggest_cost * room
        self._at(ready, "insert", new)
        self._at(ready + (0.0 if room == _MAX_PER_POLL else _DRIVER_POLL), "poll")

    def _on_insert(self, new: list[Any]) -> None:
        self.state.queue.extend(new)

    def _on_claim(self, data: tuple[int, float]) -> None:
        worker, delay = data
        s = self.state
        if not s.queue:
            if s.claimed < self.config.evals:
                again = self.now + delay * self.times.uniform(0.8, 1.2)
                self._at(again, "claim", (worker, min(delay * 1.5, _WORKER_POLL_MAX)))
            return
        trial = s.queue.popleft()
        waited = self.now - s.idle_since.pop(worker)
        s.idle += waited
        if len(s.started) == self.config.workers:
            s.idle_after_ramp += waited
        s.started.add(worker)
        if len(s.started) == self.config.workers and not s.ramp:
            s.ramp = self.now
        s.claimed += 1
        s.last_claim = self.now
        s.running[worker] = trial
        cfg = self.config
        duration = cfg.eval_median * math.exp(cfg.eval_sigma * self.times.normal())
        self._at(self.now + duration, "finish", worker)

    def _on_finish(self, worker: int) -> None:
        s = self.state
        trial = s.running.pop(worker)
        loss = self.sampler.loss(trial)
        s.losses.append(loss)
        s.unseen.append((trial, loss))
        s.idle_since[worker] = self.now
        self._at(self.now, "claim", (worker, _WORKER_POLL))


def run_sequential(sampler: Any, evals: int) -> dict[str, Any]:
    """Suggest each trial after the previous one finished (no pending trials)."""
    losses = []
    for _ in range(evals):
        (trial,) = sampler.ask(1, [])
        loss = sampler.loss(trial)
        sampler.tell(trial, loss)
        losses.append(loss)
    return {"losses": losses, "idle_share": 0.0}


def _job(job: tuple[str, str, int, int, SimConfig, dict[str, Any]]) -> dict[str, Any]:
    algo, name, seed, workers, config, settings = job
    sampler = SAMPLERS[algo](PROBLEMS[name], seed, dict(settings))
    start = time.perf_counter()
    if workers == 1:
        out = run_sequential(sampler, config.evals)
    else:
        out = Simulation(sampler, config, seed).run()
    out.update(algo=algo, problem=name, seed=seed, workers=workers)
    out["seconds"] = time.perf_counter() - start
    return out


# ---- summary -------------------------------------------------------------------------


def _regret(run: dict[str, Any], budget: int) -> float:
    optimum = PROBLEMS[run["problem"]].optimum or 0.0
    return float(np.nanmin(run["losses"][:budget])) - optimum


def summarise(runs: list[dict[str, Any]], budgets: list[int]) -> dict[str, Any]:
    """Median regret per (problem, algo, workers, budget), and idle shares."""
    cells: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for run in runs:
        cells.setdefault((run["problem"], run["algo"], run["workers"]), []).append(run)
    table = {}
    for (name, algo, workers), group in sorted(cells.items()):
        success = PROBLEMS[name].success
        row: dict[str, Any] = {"seeds": len(group)}
        for budget in budgets:
            regrets = np.array([_regret(r, budget) for r in group])
            row[f"median_{budget}"] = float(np.median(regrets))
            if success is not None:
                row[f"success_{budget}"] = float(np.mean(regrets < success))
        row["idle_share"] = float(np.mean([r["idle_share"] for r in group]))
        row["seconds"] = float(np.median([r["seconds"] for r in group]))
        table[f"{name}/{algo}/{workers}"] = row
    return table


def _print(table: dict[str, Any], args: argparse.Namespace) -> None:
    cols = [(a, w) for w in [1, *args.workers] for a in args.algos]
    for budget in args.budgets:
        print(f"\nMedian regret after {budget} finished trials (decoy: share < 0.05)")
        head = " ".join(
            f"{a[:5] + ('/seq' if w == 1 else f'/{w}'):>13}" for a, w in cols
        )
        print(f"{'problem':<12} {head}")
        for name in args.problems:
            cells = []
            for algo, workers in cols:
                row = table.get(f"{name}/{algo}/{workers}")
                text = "-" if row is None else f"{row[f'median_{budget}']:.3g}"
                if row is not None and f"success_{budget}" in row:
                    text += f" {row[f'success_{budget}']:.0%}"
                cells.append(f"{text:>13}")
            print(f"{name:<12} " + " ".join(cells))
    print("\nMean idle share of worker time (before the last trial starts)")
    for algo, workers in cols:
        if workers > 1:
            shares = [
                table[k]["idle_share"]
                for k in table
                if k.endswith(f"/{algo}/{workers}")
            ]
            print(f"  {algo} W={workers}: {np.mean(shares):.2%}")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--seed-offset", type=int, default=0)
    parser.add_argument("--workers", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--budgets", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--problems", nargs="+", default=list(DEFAULT_PROBLEMS))
    parser.add_argument("--algos", nargs="+", default=["ours", "optuna"])
    parser.add_argument("--policy", default="auto")
    parser.add_argument("--eval-median", type=float, default=1.0)
    parser.add_argument("--eval-sigma", type=float, default=1.0)
    parser.add_argument("--suggest-cost", type=float, default=0.002)
    parser.add_argument("--no-seq", action="store_true", help="skip sequential runs")
    parser.add_argument("--ours-settings", default="{}", help="JSON for tpe.suggest")
    parser.add_argument(
        "--optuna-settings", default="{}", help="JSON for optuna's TPESampler"
    )
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--tag", default="")
    return parser.parse_args()


def main() -> None:
    args = _parse()
    settings = json.loads(args.ours_settings)
    by_algo = {"ours": settings, "optuna": json.loads(args.optuna_settings)}
    config = dict(
        evals=max(args.budgets),
        policy=args.policy,
        eval_median=args.eval_median,
        eval_sigma=args.eval_sigma,
        suggest_cost=args.suggest_cost,
    )
    jobs = [
        (algo, name, seed, w, SimConfig(workers=w, **config), by_algo[algo])
        for name in args.problems
        for seed in range(args.seed_offset, args.seed_offset + args.seeds)
        for w in ([] if args.no_seq else [1]) + args.workers
        for algo in args.algos
    ]
    jobs.sort(key=lambda j: -j[3] * (3 if j[0] == "optuna" else 1))  # slow first
    start = time.perf_counter()
    with Pool(args.processes) as pool:
        runs = pool.map(_job, jobs, chunksize=1)
    table = summarise(runs, args.budgets)
    _print(table, args)
    print(f"\nwall time {time.perf_counter() - start:.0f} s; settings={by_algo}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"parallel_efficiency{args.tag}.json"
    meta = {k: v for k, v in vars(args).items()}
    out.write_text(json.dumps({"meta": meta, "table": table, "runs": runs}))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
