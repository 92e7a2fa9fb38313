"""Parallel efficiency: does TPE with K asynchronous workers find as good a loss?

    python -m benchmarks.parallel_efficiency --seeds 30 --evals 100 --workers 4

Replays the driver's policy in a discrete-event simulation (so 30 seeds take seconds,
not hours): a queue kept at one trial per worker, refilled after every completion with
suggestions that treat every queued and running trial as pending (the constant liar),
and workers whose evaluation times vary uniformly in [0.5, 1.5]. Compares the median
best loss after ``--evals`` trials with the sequential run (one worker, queue of one).
"""

from __future__ import annotations

import argparse
import heapq
import statistics
from multiprocessing import Pool

import numpy as np

from benchmarks.problems import PROBLEMS
from hpo_service import hp
from hpo_service.algorithms import tpe
from hpo_service.driver._suggest import Suggester


def simulate(problem_name: str, seed: int, evals: int, workers: int) -> float:
    """Best loss after ``evals`` trials run by ``workers`` simulated workers."""
    problem = PROBLEMS[problem_name]
    space = problem.make_space(hp)
    suggester = Suggester(space, tpe.suggest)
    rng = np.random.default_rng(seed)
    depth = 1 if workers == 1 else max(2, workers)
    queue, running, clock, submitted, best = [], [], 0.0, 0, float("inf")
    for _ in range(evals):
        room = min(depth - len(queue), evals - submitted)
        if room > 0:
            pending = [t.params for t in queue] + [t.params for _, _, t in running]
            queue += suggester.suggest(rng, room, pending)
            submitted += room
        while queue and len(running) < workers:
            trial = queue.pop(0)
            heapq.heappush(running, (clock + rng.uniform(0.5, 1.5), id(trial), trial))
        clock, _, trial = heapq.heappop(running)
        loss = problem.loss(trial.config)
        suggester.observe(trial.params, {"loss": loss, "status": "ok"})
        best = min(best, loss)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--evals", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--problems", nargs="+", default=["branin", "hartmann6"])
    args = parser.parse_args()
    print("problem       median best loss      median regret     loss gap")
    par = f"{args.workers}w"
    print(f"{'':12} {'seq':>8} {par:>8}  {'seq':>8} {par:>8}")
    with Pool(2) as pool:
        for name in args.problems:
            seq, par = (_median_best(pool, name, args, w) for w in (1, args.workers))
            optimum = PROBLEMS[name].optimum or 0.0
            gap = abs(par - seq) / abs(seq)
            print(
                f"{name:<12} {seq:>8.4f} {par:>8.4f}  {seq - optimum:>8.4f} "
                f"{par - optimum:>8.4f}  {gap:>7.1%}"
            )


def _median_best(
    pool: Pool, name: str, args: argparse.Namespace, workers: int
) -> float:
    jobs = [(name, seed, args.evals, workers) for seed in range(args.seeds)]
    return statistics.median(pool.starmap(simulate, jobs))


if __name__ == "__main__":
    main()
