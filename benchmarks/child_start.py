"""Start cost of a worker's objective process (the child that runs the trials).

    python -m benchmarks.child_start --starts 20

A worker runs every trial in a child process that it reuses across trials; a new one
starts with the worker, after a trial timeout, a crash or a stop. Each round here
starts a child (``ChildRunner``), runs one trial in it and kills it, for two
objectives: :func:`bare` below (this module imports only the standard library: the
service's own start cost) and ``benchmarks.trivial:objective`` (its module imports
``hpo_service.hp``, so numpy).
Printed per objective: the median wall time from the start to the ready child and to
the trial's result, and the mean CPU seconds the child used (user + system, from
``getrusage`` of the reaped children). A bare ``python -c pass`` is the floor.

To compare two checkouts, copy this file into the other one's ``benchmarks/`` and
run it there (``cd OTHER && python -m benchmarks.child_start``).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time

OBJECTIVES = {
    "benchmarks.child_start:bare": 1.5,
    "benchmarks.trivial:objective": {"a": 1, "b": 0, "h": 0},
}


def bare(config: float) -> float:
    """An objective that needs no import."""
    return config


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_start(objective: str, config: object) -> tuple[float, float, float]:
    """Seconds to the ready child and to the trial's result, and the child's CPU s."""
    from hpo_service.worker._child import ChildRunner

    cpu = _children_cpu()
    start = time.perf_counter()
    runner = ChildRunner()
    try:
        runner.start()
        ready = time.perf_counter() - start
        outcome = runner.run(objective, config)
        done = time.perf_counter() - start
    finally:
        runner.close()  # kills and reaps the child: its CPU is now counted
    if outcome.kind != "result":
        raise SystemExit(f"{objective}: the trial failed: {outcome}")
    return ready, done, _children_cpu() - cpu


def bare_python(starts: int) -> tuple[float, float]:
    """Median wall seconds and mean CPU seconds of ``python -c pass``."""
    walls, cpu = [], _children_cpu()
    for _ in range(starts):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls), (_children_cpu() - cpu) / starts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=20, help="children per objective")
    args = parser.parse_args()
    import hpo_service

    print(f"hpo_service from {hpo_service.__file__}")
    wall, cpu = bare_python(args.starts)
    print(f"python -c pass: {wall * 1000:6.0f} ms wall, {cpu * 1000:6.0f} ms CPU")
    for objective, config in OBJECTIVES.items():
        rows = [one_start(objective, config) for _ in range(args.starts)]
        ready, done, cpu_s = zip(*rows, strict=True)
        print(
            f"{objective}: ready {statistics.median(ready) * 1000:6.0f} ms, "
            f"result {statistics.median(done) * 1000:6.0f} ms (median wall), "
            f"child CPU {statistics.mean(cpu_s) * 1000:6.0f} ms (mean), "
            f"{args.starts} starts"
        )


if __name__ == "__main__":
    main()
