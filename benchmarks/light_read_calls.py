"""Milliseconds of the store's light reads, called in process on an existing database.

    python benchmarks/light_read_calls.py FILE --study NAME [--calls 15]

Run it from inside a checkout (``git worktree add /tmp/old REV``, then
``PYTHONPATH=. python /path/to/benchmarks/light_read_calls.py ...``) to time that
checkout's code: the file is opened (and so upgraded to that code's schema: give
each code its own copy of the file), read once to warm SQLite's page cache, then each
read is called ``--calls`` times. Prints the minimum and median of each (the machine
is shared: the minimum is the least disturbed call). Process start-up and imports are
excluded, unlike ``status_reads.py``, whose whole-command timings they swamp.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from hpo_service.store import open_store


def _timed(call: Callable[[], Any], calls: int) -> tuple[float, float]:
    """``(min, median)`` milliseconds of ``calls`` calls."""
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return min(seconds) * 1000, statistics.median(seconds) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", help="an SQLite database (it is upgraded in place)")
    parser.add_argument("--study", required=True)
    parser.add_argument("--calls", type=int, default=15)
    args = parser.parse_args()
    with open_store(f"sqlite:///{args.file}") as store:
        store.summarise(args.study)
        reads = {
            "summarise": lambda: store.summarise(args.study),
            "best_trial": lambda: store.best_trial(args.study),
            "count_by_state": lambda: store.count_by_state(args.study),
            "done_results": lambda: store.done_results(args.study),
        }
        for name, call in reads.items():
            low, median = _timed(call, args.calls)
            print(f"{name:15s} min {low:8.1f} ms   median {median:8.1f} ms")


if __name__ == "__main__":
    main()
