"""Regret and worker idle time of real studies: ``hpo-driver start`` + ``hpo-worker``.

Run through ``python -m benchmarks.e2e_throughput --problems ...`` (its docstring).
Each study: a fresh SQLite file, the driver (``--seed`` the run's seed, the variant's
``--algo-settings`` and ``--queue-depth``), and W ``hpo-worker`` processes started
beside it (remote workers to the driver: it sees them only as they claim); the
objective is :mod:`benchmarks.sleepy`'s. The variants of one seed run one after
another (problem, W, then variant innermost), so a change of the machine's load
falls on all of them alike.

From the store's timestamps (its own clock) each run records:

- ``losses``: in finishing order (regret after n finished trials, as
  ``parallel_efficiency.py``);
- ``idle_share``: the workers' time between finishing a trial and starting the next
  over their time from first to last start (the ramp-up left out; it holds the
  worker's own per-trial overhead as well as waits on an empty queue);
- ``pending_at_ask``: per modelled suggestion (made with at least ``n_startup_jobs``
  = 10 trials finished), the trials created before it and not finished when it was
  inserted, queued and running; the driver saw at least as many (it read the
  finishes a little earlier), so ``gate_share`` (the share with 10 or more, where
  ``prior_gate="count"`` acts) is a lower bound; ``queued_at_ask`` the queued part.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.parallel_efficiency import RESULTS
from benchmarks.problems import PROBLEMS
from hpo_service.store import Trial, TrialState, open_store

REPO = Path(__file__).resolve().parents[1]
_STARTUP = 10  # TPE's n_startup_jobs, and prior_gate="count"'s threshold
_WAIT = 600.0  # seconds a study may take before the run is abandoned


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the regret-and-idle mode (``--problems`` selects it)."""
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--seed-offset", type=int, default=0)
    parser.add_argument("--sleep-median", type=float, default=0.02)
    parser.add_argument("--sleep-sigma", type=float, default=1.0)
    parser.add_argument(
        "--variant",
        nargs=3,
        action="append",
        metavar=("NAME", "SETTINGS", "DEPTH"),
        help="a variant: its name, --algo-settings JSON and --queue-depth ('auto', "
        "or 'W': the study's worker count); repeatable [default: 'default' {} auto]",
    )
    parser.add_argument("--tag", default="")


def run(args: argparse.Namespace) -> None:
    """Run every (seed, problem, W, variant) study; print and write the results."""
    variants = args.variant or [["default", "{}", "auto"]]
    runs: dict[str, list[dict[str, Any]]] = {v[0]: [] for v in variants}
    started = time.perf_counter()
    for seed in range(args.seed_offset, args.seed_offset + args.seeds):
        for problem in args.problems:
            for workers in args.workers:
                for name, settings, depth in variants:
                    out = one_study(args, problem, workers, seed, settings, depth)
                    out.update(algo=name, problem=problem, seed=seed, workers=workers)
                    runs[name].append(out)
                    _say(out)
        _write(args, runs)
    print(f"wall time {time.perf_counter() - started:.0f} s")
    _summary(runs, args.workers, args.problems)


def one_study(
    args: argparse.Namespace,
    problem: str,
    workers: int,
    seed: int,
    settings: str,
    depth: str,
) -> dict[str, Any]:
    """One study of ``args.trials`` trials: its losses, idle share, pending counts."""
    env = dict(os.environ, HPO_SLEEP_MEDIAN=str(args.sleep_median))
    env["HPO_SLEEP_SIGMA"] = str(args.sleep_sigma)
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/bench.sqlite"
        driver = [
            sys.executable, "-m", "hpo_service.driver.cli", "start", "--db", db,
            "--study", "bench", "--objective", f"benchmarks.sleepy:{problem}",
            "--space", f"benchmarks.sleepy:{problem}_space", "--algo", "tpe",
            "--algo-settings", settings, "--max-evals", str(args.trials),
            "--seed", str(seed), "--no-progress",
        ]  # fmt: skip
        if depth != "auto":
            driver += ["--queue-depth", str(workers) if depth == "W" else depth]
        worker = [
            sys.executable, "-m", "hpo_service.worker", "--db", db,
            "--study", "bench", "--idle-timeout", "60", "-q",
            "--no-objective-output",
        ]  # fmt: skip
        clock = time.perf_counter()
        _run_all([driver] + [worker] * workers, env)
        wall = time.perf_counter() - clock
        with open_store(db) as store:
            trials = store.get_trials("bench", [TrialState.DONE])
    out = measure(trials)
    out["seconds"] = wall
    return out


def _run_all(commands: list[list[str]], env: dict[str, str]) -> None:
    """Run ``commands`` side by side until each exits 0.

    Raises:
        RuntimeError: One exited otherwise (the others are killed then, and on a
            timeout or Ctrl-C: none outlives its study's temporary directory).
        subprocess.TimeoutExpired: One ran longer than ``_WAIT`` seconds.
    """
    procs = [_spawn(command, env) for command in commands]
    try:
        for proc in procs:
            if proc.wait(timeout=_WAIT) != 0:
                raise RuntimeError(f"{proc.args[3:5]} exited {proc.returncode}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def measure(trials: list[Trial]) -> dict[str, Any]:
    """Losses in finishing order, the idle share, and the pending counts at each
    modelled suggestion (see the module docstring)."""
    by_finish = sorted(trials, key=lambda t: t.finished_at or 0.0)
    losses = [float((t.result or {})["loss"]) for t in by_finish]
    pending, queued = _pending_at_ask(sorted(trials, key=lambda t: t.tid))
    times = [
        [t.tid, t.owner, t.created_at, t.started_at, t.finished_at] for t in trials
    ]
    return {
        "losses": losses,
        "idle_share": idle_share(trials),
        "pending_at_ask": pending,
        "queued_at_ask": queued,
        "times": times,
        "starved_share": starved_share(times),
        "gate_share": float(np.mean([p >= _STARTUP for p in pending]))
        if pending
        else 0.0,
    }


def idle_share(trials: list[Trial]) -> float:
    """Sum over workers of the gaps between a finish and the next start, over the
    sum of their first-to-last-start spans."""
    by_owner: dict[str, list[Trial]] = {}
    for t in trials:
        by_owner.setdefault(t.owner or "", []).append(t)
    idle = span = 0.0
    for own in by_owner.values():
        own.sort(key=lambda t: t.started_at or 0.0)
        span += (own[-1].started_at or 0.0) - (own[0].started_at or 0.0)
        idle += sum(
            (b.started_at or 0.0) - (a.finished_at or 0.0)
            for a, b in itertools.pairwise(own)
        )
    return idle / span if span > 0 else 0.0


def starved_share(times: list[list[Any]]) -> float:
    """Like :func:`idle_share`, counting only the part of each gap during which no
    trial was queued (from the finish until a trial is next created, at most until
    the worker's next start): the waits the queue depth causes, without the worker's
    own per-trial overhead. ``times``: ``[tid, owner, created, started, finished]``
    per trial, as ``measure`` records them."""
    created = np.sort([row[2] for row in times])
    started = np.array([row[3] for row in times])
    by_owner: dict[str, list[list[Any]]] = {}
    for row in times:
        by_owner.setdefault(row[1] or "", []).append(row)
    starved = span = 0.0
    for own in by_owner.values():
        own.sort(key=lambda row: row[3])
        span += own[-1][3] - own[0][3]
        for a, b in itertools.pairwise(own):
            free, next_start = a[4], b[3]
            queued = np.sum(created <= free) - np.sum(started <= free)
            if queued > 0:
                continue
            later = created[created > free]
            refill = later[0] if later.size else next_start
            starved += max(0.0, min(refill, next_start) - free)
    return starved / span if span > 0 else 0.0


def _pending_at_ask(in_order: list[Trial]) -> tuple[list[int], list[int]]:
    pending, queued = [], []
    for k, trial in enumerate(in_order):
        made = trial.created_at or 0.0
        earlier = in_order[:k]
        finished = sum((t.finished_at or 0.0) <= made for t in earlier)
        if finished < _STARTUP:
            continue
        pending.append(len(earlier) - finished)
        queued.append(sum((t.started_at or made + 1) > made for t in earlier))
    return pending, queued


def _say(out: dict[str, Any]) -> None:
    optimum = PROBLEMS[out["problem"]].optimum or 0.0
    at = [f"@{n} {min(out['losses'][:n]) - optimum:.3g}" for n in (100, 300)]
    pend = np.mean(out["pending_at_ask"]) if out["pending_at_ask"] else 0.0
    print(
        f"{out['algo']:>10} {out['problem']:<10} W={out['workers']:<2} "
        f"seed {out['seed']}: {' '.join(at)}, idle {out['idle_share']:.1%}, "
        f"pending {pend:.1f}, gate {out['gate_share']:.0%}, {out['seconds']:.0f} s",
        flush=True,
    )


def _write(args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]]) -> None:
    RESULTS.mkdir(exist_ok=True)
    meta = {k: v for k, v in vars(args).items()}
    for name, group in runs.items():
        out = RESULTS / f"e2e_quality{args.tag}_{name}.json"
        out.write_text(json.dumps({"meta": meta, "runs": group}))


def _summary(
    runs: dict[str, list[dict[str, Any]]], workers: list[int], problems: list[str]
) -> None:
    print("variant problem W: median regret @100 / @300, mean idle share,")
    print("mean pending and queued at a modelled suggestion, share with >= 10 pending")
    for name, group in runs.items():
        for problem in problems:
            optimum = PROBLEMS[problem].optimum or 0.0
            for w in workers:
                cell = [
                    r for r in group if r["problem"] == problem and r["workers"] == w
                ]
                if not cell:
                    continue
                regret = [
                    np.median([min(r["losses"][:n]) - optimum for r in cell])
                    for n in (100, 300)
                ]
                mean = {
                    key: np.mean([np.mean(r[key] or [0]) for r in cell])
                    for key in ("idle_share", "pending_at_ask", "queued_at_ask")
                }
                gate = np.mean([r["gate_share"] for r in cell])
                print(
                    f"{name:>10} {problem:<10} W={w:<2} {regret[0]:.3g} / "
                    f"{regret[1]:.3g}, idle {mean['idle_share']:.1%}, pending "
                    f"{mean['pending_at_ask']:.1f}, queued {mean['queued_at_ask']:.1f}"
                    f", gate {gate:.0%} ({len(cell)} seeds)"
                )
