"""Pruning: training steps saved and final loss, ours vs optuna's pruners, with TPE.

Every method tunes the same learning-curve problems (``curves.py``) with the same
budget of training steps; trials report their loss after each step and stop when
their pruner says so. Runs are simulated in one process per (method, problem, seed):
W workers run trials asynchronously (each trial's steps take a per-trial duration
drawn from [0.5, 1.5) time units, so trials reach rungs at different moments, or
together), and a free worker starts a new trial while the steps used are below the
budget. Ours runs through the real store (an in-memory SQLite ``BaseTrialStore``)
with the worker's report path (``store.report`` then ``StudyPruning``), TPE through
the driver's ``Suggester``; optuna runs ``study.ask``/``trial.report``/
``trial.should_prune``/``study.tell`` with
``TPESampler(seed=..., constant_liar=W > 1)``.

Reported, per problem and worker count (medians over seeds):

- final loss: the best final value (after all steps) of the trials that completed,
  once a third of the budget, and all of it, was used;
- trials: trials started within the budget; saved: share of the steps that running
  every started trial to completion would have taken but were not spent;
- mistakes: share of seeds where the configuration with the best final value among
  those the run tried (the curves are known) was pruned.

    python benchmarks/pruning.py                    # 10 seeds, 1 and 4 workers
    python benchmarks/pruning.py --seeds 30         # the README's table
    python benchmarks/pruning.py --problems synthetic --methods ours:asha,optuna:sha
    python benchmarks/pruning.py --methods ours:asha,ours:asha:failure,ours:asha:ignore

Each run is appended to ``results/pruning<tag>.jsonl`` as it ends, seed by seed; the
same command run again skips the runs saved there (an interrupted run resumes), and
``--table-only`` prints the table of what is saved.
"""

from __future__ import annotations

import argparse
import heapq
import json
import logging
import multiprocessing
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.curves import PROBLEMS, CurveProblem, load_sgd_curves
from hpo_service.driver._suggest import SURVIVOR_WEIGHT

RESULTS = Path(__file__).resolve().parent / "results"
REDUCTION = 3
"""eta of ASHA/SHA and Hyperband in this benchmark, ours and optuna's alike, unless
a method sets ``reduction_factor``: 3, as in every table it recorded. It is not
ASHA's default any more (2 since 20d7da98): runs of the default name
``reduction_factor=2`` in the method (``ours:asha:reduction_factor=2``)."""
METHODS = [
    "ours:none",
    "ours:median",
    "ours:asha",
    "ours:hyperband",
    "optuna:none",
    "optuna:median",
    "optuna:sha",
    "optuna:hyperband",
]
"""``library:pruner[:rule[:sampling]][:name=value...]``; ours may add the pruned-trial
rule of TPE (``last``, the default, ``failure`` or ``ignore``) and, for hyperband, how
TPE samples (``bracket``: from the trial's own bracket, ``shared``: from every trial).
``name=value`` parts (ours) set a TPE setting (``gamma=0.1``, ``liar_width=above``)
or how running trials count as pending: ``pending=all``, every one as a full liar;
``pending=survivors``, leaving out those the pruner judged and kept (the driver's
rule before ``SURVIVOR_WEIGHT``); a number, ``pending=0.5``, counting those
survivors as liars of that weight (every other pending trial weighs 1); the default
is the driver's rule, ``SURVIVOR_WEIGHT`` (0.25). ``order=steps`` (ours) hands TPE
each pruned trial ranked as optuna's TPE ranks it: below every complete trial, a
later stop above an earlier one, then by value (TPE's split uses ranks only);
``rungmodel=drop|fail`` fits TPE on one budget (:class:`RungModelSuggester`). The
pruner ``optuna_sha`` (ours) is our TPE with optuna's ``SuccessiveHalvingPruner``
deciding, through a shadow optuna study (a diagnostic). The ``name=value`` parts
named in :data:`PRUNER_KEYS` (``min_resource=3``, ``reduction_factor=4``) are pruner
settings instead, for ours and optuna's ASHA/SHA and Hyperband alike (defaults:
``min_resource=1``, ``reduction_factor=3`` (:data:`REDUCTION`), ``max_resource`` the
problem's steps)."""

PRUNER_KEYS = ("min_resource", "reduction_factor", "min_early_stopping_rate")
"""``name=value`` method parts that set the pruner rather than TPE."""


@dataclass
class Outcome:
    """What one simulated run did."""

    completed: list[tuple[int, float]] = field(default_factory=list)  # (steps, final)
    trials: int = 0
    steps: int = 0
    full_steps: int = 0
    tried: list[tuple[float, bool]] = field(
        default_factory=list
    )  # (true final, pruned)
    curves: set[bytes] = field(default_factory=set)  # distinct configurations' curves
    log: list[tuple[int, float, float]] = field(
        default_factory=list
    )  # (step stopped at, last value, true final), in finish order


# ---- the two libraries behind one small interface ------------------------------------


class OursRunner:
    """Our TPE and pruners, through the store as the driver and workers use them."""

    def __init__(
        self,
        problem: CurveProblem,
        pruner: str,
        rule: str,
        seed: int,
        workers: int,
        sampling: str = "shared",
        tpe: dict[str, Any] | None = None,
        pruner_settings: dict[str, Any] | None = None,
    ) -> None:
        from hpo_service.algorithms import resolve
        from hpo_service.algorithms.pruners import make_pruner
        from hpo_service.driver._suggest import Suggester
        from hpo_service.space import hp
        from hpo_service.store._sqlite import SQLiteTrialStore
        from hpo_service.worker._reports import StudyPruning

        self.store = SQLiteTrialStore(":memory:")
        self.store.create_study("b", {})
        name, settings = _pruner_settings(pruner, problem.steps, pruner_settings)
        shadowed = name == "optuna_sha"
        made = make_pruner("none" if shadowed else name, {} if shadowed else settings)
        groups = made.bracket_of if sampling == "bracket" else None
        tpe = dict(tpe or {})
        self.pending_rule = tpe.pop("pending", SURVIVOR_WEIGHT)
        model, model_min = tpe.pop("rungmodel", None), tpe.pop("rung_min", 10)
        self.order = tpe.pop("order", None)  # "steps": pruned trials as optuna ranks
        self.steps = problem.steps
        if model is None:
            self.suggester = Suggester(
                problem.make_space(hp),
                resolve("tpe", tpe),
                pruned_rule=rule,
                groups=groups,
            )
        else:
            budgets = [*made.rung_steps(), problem.steps]
            self.suggester = RungModelSuggester(
                problem.make_space(hp), resolve("tpe", tpe), budgets, model_min, model
            )
        self.pruning = (
            None
            if pruner in ("none", "optuna_sha")
            else StudyPruning(self.store, "b", made, refresh_seconds=0.0)
        )
        shadow = {k: v for k, v in settings.items() if k != "max_resource"}
        self.shadow = _ShadowPruner(**shadow) if pruner == "optuna_sha" else None
        self.rng = np.random.default_rng(seed)
        self.running: dict[int, Any] = {}
        self.pruner = None if pruner == "none" else made
        self.next_tid = 0  # the store numbers a study's trials 0, 1, 2, ...

    def ask(self) -> tuple[Any, dict[str, Any]]:
        from hpo_service.algorithms.pruners import TrialProgress

        pending = {tid: t.params for tid, (t, _) in self.running.items()}
        weights = None
        if self.pending_rule == "survivors":  # the driver's rule before
            from hpo_service.driver._suggest import liar_pending

            reports = self.store.running_intermediate("b")
            pending = liar_pending(pending, reports, self.pruner)
        elif isinstance(self.pending_rule, (int, float)):  # as the driver does
            from hpo_service.driver._suggest import survivor_weights

            reports = self.store.running_intermediate("b")
            weights = survivor_weights(
                pending, reports, self.pruner, float(self.pending_rule)
            )
        seed = int(self.rng.integers(2**31 - 1))
        rng = np.random.default_rng(seed)
        (new,) = self.suggester.suggest_for(rng, [self.next_tid], pending, weights)
        (tid,) = self.store.insert_trials("b", [new])
        assert tid == self.next_tid
        self.next_tid += 1
        trial = self.store.claim("w", 1e9, study="b")
        assert trial is not None
        self.running[trial.tid] = (trial, TrialProgress(trial.tid))
        if self.shadow is not None:
            self.shadow.start(trial.tid)
        return trial.tid, trial.config

    def report(self, handle: int, step: int, value: float) -> bool:
        trial, progress = self.running[handle]
        assert self.store.report("b", trial.tid, trial.token, step, value)
        progress.intermediate[step] = value
        if self.shadow is not None:
            return self.shadow.report(handle, step, value)
        return self.pruning is not None and self.pruning.should_prune(progress)

    def finish(self, handle: int, step: int, value: float, pruned: bool) -> None:
        trial, progress = self.running.pop(handle)
        if self.shadow is not None:
            self.shadow.finish(handle, value, pruned)
        if pruned:
            result = {"status": "pruned", "loss": value, "step": step}
            assert self.store.prune("b", trial.tid, trial.token, result)
            if self.order == "steps":  # below every complete trial, by step, value
                result = {**result, "loss": 1e6 * (1 + self.steps - step) + value}
        else:
            result = {"status": "ok", "loss": value}
            assert self.store.complete("b", trial.tid, trial.token, result)
        if isinstance(self.suggester, RungModelSuggester):
            self.suggester.observe_run(trial.params, result, progress.intermediate)
        else:
            self.suggester.observe(trial.params, result, tid=trial.tid)


class RungModelSuggester:
    """A BOHB-style model (Falkner et al. 2018, "BOHB: Robust and Efficient
    Hyperparameter Optimization at Scale", ICML, section 4.2) for screening: TPE is
    fitted on the highest budget (a rung's step, or a complete trial's) that at
    least ``n_min`` trials reached, each trial's loss being its value at that budget
    (the first report at or past it). Trials that stopped below the budget are left
    out (``below="drop"``, as BOHB) or count as failures (``below="fail"``: ranks
    within the rung a trial reached, coarsely). Before any budget has ``n_min``
    values, the driver's ``last`` rule (pruned trials at their last value) is used.
    A benchmark-only variant, not a product rule (see benchmarks/README)."""

    def __init__(
        self, space: Any, algorithm: Any, budgets: list[int], n_min: int, below: str
    ) -> None:
        from hpo_service.algorithms._history import History
        from hpo_service.driver._suggest import Suggester

        if below not in ("drop", "fail"):
            raise ValueError(f"rungmodel must be drop or fail, but got {below!r}")
        self.base = Suggester(space, algorithm)
        self.budgets, self.n_min, self.below = budgets, n_min, below
        self.histories = {b: History(self.base.compiled) for b in budgets}
        self.counts = dict.fromkeys(budgets, 0)
        self.algorithm = algorithm

    def observe_run(
        self, params: Any, result: dict[str, Any], intermediate: dict[int, float]
    ) -> None:
        from hpo_service.algorithms.pruners._asha import rung_value

        self.base.observe(params, result)
        for budget in self.budgets:
            value = rung_value(intermediate, budget)
            if value is not None:
                self.histories[budget].add(params, value)
                self.counts[budget] += 1
            elif self.below == "fail":
                self.histories[budget].add(params, None)

    def suggest_for(self, rng, tids, pending, weights=None) -> list[Any]:
        from hpo_service.space import space_eval, validate_params
        from hpo_service.store._base import NewTrial

        enough = [b for b in self.budgets if self.counts[b] >= self.n_min]
        history = self.histories[enough[-1]] if enough else self.base.history
        listed = None if weights is None else [weights[t] for t in pending]
        history.set_pending(list(pending.values()), listed)
        picks = self.algorithm(self.base.compiled, history, rng, len(tids))
        compiled, space = self.base.compiled, self.base.space
        chosen = [validate_params(compiled, params) for params in picks]
        return [NewTrial(params=c, config=space_eval(space, c)) for c in chosen]


class _ShadowPruner:
    """Optuna's SuccessiveHalvingPruner deciding for our trials (a diagnostic: our
    TPE with optuna's pruner), through a shadow optuna study that holds only the
    trials' reports."""

    def __init__(self, **rungs: Any) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        self.optuna = optuna
        rungs = {"min_resource": 1, "reduction_factor": REDUCTION, **rungs}
        self.study = optuna.create_study(
            pruner=optuna.pruners.SuccessiveHalvingPruner(**rungs)
        )
        self.trials: dict[int, Any] = {}

    def start(self, tid: int) -> None:
        self.trials[tid] = self.study.ask()

    def report(self, tid: int, step: int, value: float) -> bool:
        self.trials[tid].report(value, step)
        return bool(self.trials[tid].should_prune())

    def finish(self, tid: int, value: float, pruned: bool) -> None:
        state = self.optuna.trial.TrialState
        trial = self.trials.pop(tid)
        if pruned:
            self.study.tell(trial, state=state.PRUNED)
        else:
            self.study.tell(trial, value)


class OptunaRunner:
    """Optuna's TPESampler with its pruners, through ask and tell."""

    def __init__(
        self,
        problem: CurveProblem,
        pruner: str,
        seed: int,
        workers: int,
        pruner_settings: dict[str, Any] | None = None,
    ) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        warnings.filterwarnings(
            "ignore", category=optuna.exceptions.ExperimentalWarning
        )
        rungs = {"min_resource": 1, "reduction_factor": REDUCTION}
        rungs.update(pruner_settings or {})
        if pruner_settings and pruner not in ("sha", "hyperband"):
            raise ValueError(f"{pruner!r} takes no {', '.join(pruner_settings)}")
        hyperband = {k: v for k, v in rungs.items() if k != "min_early_stopping_rate"}
        pruners = {
            "none": optuna.pruners.NopPruner,
            "median": optuna.pruners.MedianPruner,
            "sha": lambda: optuna.pruners.SuccessiveHalvingPruner(**rungs),
            "hyperband": lambda: optuna.pruners.HyperbandPruner(
                max_resource=problem.steps, **hyperband
            ),
        }
        sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=workers > 1)
        self.study = optuna.create_study(
            study_name=f"seed{seed}", sampler=sampler, pruner=pruners[pruner]()
        )  # named: HyperbandPruner hashes the name into its brackets
        self.problem = problem
        self.optuna = optuna

    def ask(self) -> tuple[Any, dict[str, Any]]:
        trial = self.study.ask()
        return trial, self.problem.optuna_config(trial)

    def report(self, handle: Any, step: int, value: float) -> bool:
        handle.report(value, step)
        return bool(handle.should_prune())

    def finish(self, handle: Any, step: int, value: float, pruned: bool) -> None:
        state = self.optuna.trial.TrialState
        if pruned:
            self.study.tell(handle, state=state.PRUNED)
        else:
            self.study.tell(handle, value)


def _pruner_settings(
    pruner: str, steps: int, extra: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """The pruner's name and settings (``extra`` overrides ASHA's and Hyperband's);
    ``median_step`` is the median pruner comparing values at the step (as optuna)
    instead of running averages."""
    if extra and pruner not in ("asha", "hyperband", "optuna_sha"):
        raise ValueError(f"{pruner!r} takes no {', '.join(extra)}")
    if pruner in ("asha", "hyperband", "optuna_sha"):
        settings = {"max_resource": steps, "reduction_factor": REDUCTION}
        return pruner, {**settings, **(extra or {})}
    if pruner == "median_step":
        return "median", {"running_average": False}
    return pruner, {}


def _tpe_setting(text: str) -> tuple[str, Any]:
    """``name=value`` of a TPE setting (a method's extra part), value as JSON."""
    name, value = text.split("=", 1)
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def make_runner(method: str, problem: CurveProblem, seed: int, workers: int) -> Any:
    """The runner of ``method`` (a :data:`METHODS` string, ``library:pruner[:...]``)
    for one run: :class:`OursRunner` or :class:`OptunaRunner`, with ``workers``
    asynchronous workers and ``seed`` for its sampler.

    Raises:
        ValueError: An optuna method given a rule or a TPE setting (only pruner
            settings, :data:`PRUNER_KEYS`), or pruner settings its pruner does not
            take.
    """
    library, pruner, *extra = method.split(":")
    named = dict(_tpe_setting(e) for e in extra if "=" in e)
    rungs = {k: v for k, v in named.items() if k in PRUNER_KEYS}
    tpe = {k: v for k, v in named.items() if k not in PRUNER_KEYS}
    extra = [e for e in extra if "=" not in e]
    if library == "ours":
        rule = extra[0] if extra else "last"
        sampling = extra[1] if len(extra) > 1 else "shared"
        return OursRunner(problem, pruner, rule, seed, workers, sampling, tpe, rungs)
    if extra or tpe:
        raise ValueError(f"optuna methods take no rule or TPE setting: {method!r}")
    pruner = "sha" if pruner == "asha" else pruner
    return OptunaRunner(problem, pruner, seed, workers, rungs)


# ---- the simulation ------------------------------------------------------------------


def simulate(
    method: str, problem: CurveProblem, seed: int, workers: int, budget: int
) -> Outcome:
    """Run asynchronous workers until the budget of steps is spent and all finished."""
    runner = make_runner(method, problem, seed, workers)
    durations = np.random.default_rng(seed + 10_000)
    out = Outcome()
    events: list[tuple[float, int, Any]] = []  # (time of the next step, order, state)
    order = 0
    for _ in range(workers):
        order = _start(runner, problem, durations, events, 0.0, order, out, budget)
    while events:
        now, _, state = heapq.heappop(events)
        if _step(runner, problem, state, out):
            heapq.heappush(events, (now + state["duration"], order, state))
            order += 1
        else:
            order = _start(runner, problem, durations, events, now, order, out, budget)
    return out


def _start(runner, problem, durations, events, now, order, out, budget) -> int:
    """Start a trial at time ``now`` on a free worker while ``out.steps`` is below
    ``budget`` (steps); the next event order."""
    if out.steps >= budget:
        return order
    handle, config = runner.ask()
    curve = problem.curve(config)
    out.curves.add(np.asarray(curve, dtype=float).tobytes())
    state = {"handle": handle, "curve": curve, "step": 0}
    state["duration"] = float(durations.uniform(0.5, 1.5))
    out.trials += 1
    out.full_steps += problem.steps
    heapq.heappush(events, (now + state["duration"], order, state))
    return order + 1


def _step(runner, problem, state, out) -> bool:
    """Train one step of a trial; False when it ended (pruned or complete)."""
    state["step"] += 1
    step, curve = state["step"], state["curve"]
    value = float(curve[step - 1])
    out.steps += 1
    pruned = runner.report(state["handle"], step, value)
    if pruned or step == problem.steps:
        runner.finish(state["handle"], step, value, pruned)
        out.tried.append((float(curve[-1]), pruned))
        out.log.append((step, value, float(curve[-1])))
        if not pruned:
            out.completed.append((out.steps, value))
        return False
    return True


# ---- summaries -----------------------------------------------------------------------


def summarise(outcome: Outcome, budget: int) -> dict[str, Any]:
    """One run's figures (see the module docstring)."""

    def best_within(steps: float) -> float:
        finals = [v for s, v in outcome.completed if s <= steps]
        return min(finals) if finals else float("nan")

    best_true = min(outcome.tried)
    return {
        "final_third": best_within(budget / 3),
        "final": best_within(float("inf")),
        "trials": outcome.trials,
        "steps": outcome.steps,
        "saved": 1.0 - outcome.steps / outcome.full_steps,
        "mistake": bool(best_true[1]),
        "distinct": len(outcome.curves),
        "best_true": best_true[0],
    }


def run_one(task: tuple[str, str, int, int, int, bool]) -> dict[str, Any]:
    """One simulated run, for the process pool: ``task`` is ``(method, problem,
    seed, workers, budget in steps, trace)``; its :func:`summarise` figures with
    those keys and ``seconds`` (wall time of the run), and with ``trace`` each
    trial's ``[stop step, last value, true final]`` under ``log``."""
    method, problem_name, seed, workers, budget, trace = task
    problem = PROBLEMS[problem_name]
    started = time.perf_counter()
    outcome = simulate(method, problem, seed, workers, budget)
    summary = summarise(outcome, budget)
    summary.update(
        method=method,
        problem=problem_name,
        seed=seed,
        workers=workers,
        seconds=time.perf_counter() - started,
    )
    if trace:  # each trial, in finish order: step stopped at, last value, true final
        summary["log"] = [[s, round(v, 6), round(f, 6)] for s, v, f in outcome.log]
    return summary


def table(rows: list[dict[str, Any]], methods: list[str]) -> str:
    """A Markdown table per (problem, worker count) of ``rows`` (:func:`run_one`'s),
    one line per method in ``methods``' order: medians over seeds of the final loss
    at a third of the budget and at all of it, the trials and the steps saved, and
    in how many seeds the best configuration tried was pruned."""
    lines = []
    groups = sorted({(r["problem"], r["workers"]) for r in rows})
    for problem, workers in groups:
        lines.append(f"\n{problem}, {workers} worker(s):")
        lines.append(
            "| method | final loss at 1/3 budget | final loss | trials | steps saved "
            "| best config pruned |"
        )
        lines.append("| --- | --- | --- | --- | --- | --- |")
        for method in methods:
            mine = [
                r
                for r in rows
                if (r["problem"], r["workers"], r["method"])
                == (problem, workers, method)
            ]
            if not mine:
                continue
            med = {k: float(np.nanmedian([r[k] for r in mine])) for k in (
                "final_third", "final", "trials", "saved")}  # fmt: skip
            mistakes = sum(r["mistake"] for r in mine)
            lines.append(
                f"| {method} | {med['final_third']:.4f} | {med['final']:.4f} | "
                f"{med['trials']:.0f} | {med['saved']:.0%} | "
                f"{mistakes}/{len(mine)} |"
            )
    return "\n".join(lines)


PEERS = [
    ("ours:median", "optuna:median"),
    ("ours:asha", "optuna:sha"),
    ("ours:hyperband", "optuna:hyperband"),
    ("ours:none", "optuna:none"),
]
"""Our pruner and the peer it is compared with at equal total steps."""


def targets(rows: list[dict[str, Any]]) -> str:
    """The issue's targets, per problem and worker count.

    1. ASHA+TPE's median final loss within a third of the budget of steps against
       TPE without pruning with the whole budget (met if not worse);
    2. ours against optuna's pruner at equal total steps: medians of the final loss,
       per-seed wins/ties/losses and the two-sided Wilcoxon signed-rank p-value.
    """
    from scipy.stats import wilcoxon

    lines = []
    for problem, workers in sorted({(r["problem"], r["workers"]) for r in rows}):
        by_method: dict[str, dict[int, dict[str, Any]]] = {}
        for r in rows:
            if (r["problem"], r["workers"]) == (problem, workers):
                by_method.setdefault(r["method"], {})[r["seed"]] = r
        lines.append(f"\n{problem}, {workers} worker(s):")
        lines += _third_lines(by_method)
        for ours, peer in PEERS + _variant_peers(by_method):
            a, b = by_method.get(ours, {}), by_method.get(peer, {})
            seeds = sorted(a.keys() & b.keys())
            if not seeds:
                continue
            x = np.array([a[s]["final"] for s in seeds])
            y = np.array([b[s]["final"] for s in seeds])
            wins, ties = int(np.sum(x < y)), int(np.sum(x == y))
            p = wilcoxon(x, y).pvalue if np.any(x != y) else 1.0
            lines.append(
                f"- {ours} {np.median(x):.4f} vs {peer} {np.median(y):.4f}: "
                f"wins/ties/losses {wins}/{ties}/{len(seeds) - wins - ties} "
                f"over {len(seeds)} seeds, Wilcoxon p={p:.2g}"
            )
    return "\n".join(lines)


def _third_lines(by_method: dict[str, dict[int, dict[str, Any]]]) -> list[str]:
    """Target 1 for ``ours:asha`` and every ASHA/SHA variant (``ours:asha:...``,
    ``optuna:sha:...``): its final loss at a third of the steps against its library's
    TPE without pruning at all of them (medians; paired per seed, Wilcoxon p)."""
    from scipy.stats import wilcoxon

    lines = []
    for method in sorted(by_method):
        library, pruner = method.split(":")[:2]
        none = by_method.get(f"{library}:none", {})
        if pruner not in ("asha", "sha") or not none:
            continue
        runs = by_method[method]
        seeds = sorted(runs.keys() & none.keys())
        x = np.array([runs[s]["final_third"] for s in seeds])
        y = np.array([none[s]["final"] for s in seeds])
        third, full = float(np.nanmedian(x)), float(np.nanmedian(y))
        wins, ties = int(np.sum(x < y)), int(np.sum(x == y))
        p = wilcoxon(x, y, nan_policy="omit").pvalue if np.any(x != y) else 1.0
        lines.append(
            f"- {method} at 1/3 of the steps {third:.4f} vs {library}:none at all of "
            f"them {full:.4f}: {'met' if third <= full else 'NOT met'} "
            f"({wins}/{ties}/{len(seeds) - wins - ties} over {len(seeds)} seeds, "
            f"Wilcoxon p={p:.2g})"
        )
    return lines


def _variant_peers(
    by_method: dict[str, dict[int, dict[str, Any]]],
) -> list[tuple[str, str]]:
    """``(ours, optuna)`` pairs of methods with the same pruner settings beyond the
    defaults (``ours:asha:min_resource=3`` and ``optuna:sha:min_resource=3``)."""
    peer_name = {"asha": "sha", "median": "median", "hyperband": "hyperband"}
    pairs = []
    for method in sorted(by_method):
        library, pruner, *extra = method.split(":")
        if library != "ours" or not extra or pruner not in peer_name:
            continue
        if not all(e.split("=")[0] in PRUNER_KEYS for e in extra):
            continue
        peer = ":".join(["optuna", peer_name[pruner], *extra])
        if peer in by_method:
            pairs.append((method, peer))
    return pairs


def _parse() -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds per method")
    parser.add_argument("--seed-offset", type=int, default=0)
    parser.add_argument(
        "--budget", type=int, default=40, help="budget in complete trials' steps"
    )
    parser.add_argument("--workers", default="1,4", help="worker counts, e.g. 1,4")
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--tag", default="", help="suffix of the results file name")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="save every trial's stop step, last value and true final (key 'log')",
    )
    parser.add_argument(
        "--table-only",
        action="store_true",
        help="print the table of the runs saved so far, run nothing",
    )
    return parser.parse_args()


def _load_saved(path: Path) -> list[dict[str, Any]]:
    """The runs saved by an earlier (possibly interrupted) invocation."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a kill
            continue
    return rows


def _key(row: dict[str, Any]) -> tuple[str, str, int, int]:
    """What identifies a saved run: method, problem, seed, workers."""
    return (row["method"], row["problem"], row["seed"], row["workers"])


def main() -> None:
    """Run the (method, problem, seed, workers) runs not saved yet in a process
    pool, appending each to ``results/pruning<--tag>.jsonl`` as it ends, then print
    :func:`table` and :func:`targets` of the saved and new runs (``--table-only``:
    of the saved ones, running nothing)."""
    args = _parse()
    logging.basicConfig(level=logging.WARNING)
    problems = args.problems.split(",")
    methods = args.methods.split(",")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"pruning{args.tag}.jsonl"
    saved = _load_saved(path)
    if args.table_only:
        print(table(saved, methods))
        print(targets(saved))
        print(f"\n{len(saved)} runs saved in {path}")
        return
    done = {_key(r) for r in saved}
    tasks = [
        (
            method,
            problem,
            seed,
            int(workers),
            args.budget * PROBLEMS[problem].steps,
            args.trace,
        )
        for seed in range(args.seed_offset, args.seed_offset + args.seeds)
        for problem in problems
        for workers in args.workers.split(",")
        for method in methods
        if (method, problem, seed, int(workers)) not in done
    ]
    started = time.perf_counter()
    if "sgd" in problems:
        load_sgd_curves(args.processes)  # before the pool forks: workers share them
    rows = [r for r in saved if r["problem"] in problems and r["method"] in methods]
    with multiprocessing.Pool(args.processes) as pool, path.open("a") as out:
        # one line per run as it ends (seed by seed), so a cut-short run keeps them
        for row in pool.imap(run_one, tasks, chunksize=1):
            out.write(json.dumps(row) + "\n")
            out.flush()
            rows.append(row)
    elapsed = time.perf_counter() - started
    print(table(rows, methods))
    print(targets(rows))
    print(f"\n{len(tasks)} runs in {elapsed:.0f} s ({len(rows)} in {path})")


if __name__ == "__main__":
    main()
