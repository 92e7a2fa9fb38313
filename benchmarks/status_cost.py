"""Cost of ``hpo-driver status`` on a large pruned study, before and after a change
to how it counts what the pruner did (per rung, or where it pruned).

Builds the study of ``pruning_cost.py`` (default 10,000 finished trials with 100
reports each and 32 running trials; SQLite, or ``--backend mongodb``: a fresh
database on the MongoDB-wire server ``secantusd-py`` this script starts, or on
``--url``), gives it a pruner, then times the whole command (a fresh interpreter
each time, as a user runs it) from the code in ``--old`` and from this checkout,
alternating, and in this process: the new ``status`` summary, its pruning counts,
and the two reads of the counts alternating: the reports of every trial
(``running_intermediate`` and ``reports_since``, what the counts read until
``last_steps``) and ``last_steps`` (state and highest step per trial, one query);
on MongoDB also the ``find`` that ``last_steps`` sent until each trial's last step
was kept beside its reports (the reports, their keys converted).
``--written-before-last-step`` builds the MongoDB documents as older versions wrote
them (no kept step: ``last_steps`` then reads their reports too). Run it under the
timing lock, with an old checkout beside it::

    git worktree add -f /tmp/old-status REV
    flock /tmp/hpo-bench.lock python benchmarks/status_cost.py --old /tmp/old-status
    flock /tmp/hpo-bench.lock python benchmarks/status_cost.py --old /tmp/old-status \
        --backend mongodb --trials 2000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pruning_cost import build_study
from hpo_service.algorithms.pruners._ladder import last_step
from hpo_service.driver._output import status_summary, study_ladder
from hpo_service.store import open_store
from tests.helpers.mongo_wire import WireServer, with_database

REPO = Path(__file__).resolve().parents[1]
PRUNERS = {
    "asha": {
        "min_resource": 1,
        "max_resource": 100,
        "reduction_factor": 3,
        "min_early_stopping_rate": 0,
    },
    "median": {"n_startup_trials": 5, "n_warmup_steps": 0, "interval_steps": 1},
}


def time_command(checkout: Path, url: str) -> tuple[float, Any]:
    """Seconds one ``hpo-driver status --json`` takes from ``checkout``'s code, and
    the pruning counts it printed (old and new must print the same)."""
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "hpo_service.driver.cli", "status", "--db", url,
         "--study", "big", "--json"],
        cwd=checkout, capture_output=True, text=True, check=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    return seconds, json.loads(run.stdout)["pruning"]


def every_report(store: Any) -> list[tuple[int, str, int | None]]:
    """What the counts read before ``last_steps``: every trial's reports, decoded."""
    running = store.running_intermediate("big")
    finished, _ = store.reports_since("big")
    rows = {tid: (tid, "running", last_step(r)) for tid, r in running.items()}
    rows |= {t.tid: (t.tid, t.state.value, last_step(t.intermediate)) for t in finished}
    return sorted(rows.values())


def last_steps(store: Any) -> list[tuple[int, str, int | None]]:
    """The one query the counts read now (running and finished trials)."""
    return [(tid, state.value, last) for tid, state, last in store.last_steps("big")]


def reports_find(store: Any) -> list[tuple[int, str, int | None]]:
    """What MongoDB's ``last_steps`` read until each trial's last step was kept
    beside its reports: one ``find`` sending the reports, their keys converted."""
    from hpo_service.store._mongo import _OLD_LAST_STEP_FIELDS, _last_step

    query = {"study": "big", "state": {"$ne": "new"}}
    docs = store._trials.find(query, _OLD_LAST_STEP_FIELDS, sort=[("tid", 1)])
    return [(d["tid"], d["state"], _last_step(d)) for d in docs]


def time_parts(url: str, pruner: str, repeats: int) -> dict[str, float]:
    """Median seconds of the new status's summary, its pruning counts, and the old
    and new reads of the counts alternating, each on a fresh connection; checks the
    two reads give the same rows (running trials without a report aside)."""
    steps: dict[str, Any] = {
        "status_summary": lambda store: status_summary(store, "big"),
        "pruning_counts": lambda s: study_ladder(s, "big", pruner, PRUNERS[pruner]),
        "every_report": every_report,
        "last_steps": last_steps,
    }
    if url.startswith("mongodb"):
        steps["reports_find"] = reports_find
    parts: dict[str, list[float]] = {name: [] for name in steps}
    got = {}
    for _ in range(repeats):
        for name, step in steps.items():
            with open_store(url) as store:
                started = time.perf_counter()
                got[name] = step(store)
                parts[name].append(time.perf_counter() - started)
    reported = [
        row for row in got["last_steps"] if row[2] is not None or row[1] != "running"
    ]
    assert got["every_report"] == reported, "the two reads differ"
    assert got.get("reports_find", got["last_steps"]) == got["last_steps"]
    return {k: statistics.median(v) for k, v in parts.items()}


@contextlib.contextmanager
def study_url(backend: str, url: str | None) -> Iterator[str]:
    """Where to build the study: a temporary SQLite file, or a fresh database on
    ``url`` or on a wire server started here (dropped after)."""
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "sqlite":
            yield f"sqlite:///{Path(tmp) / 'big.sqlite'}"
            return
        with contextlib.ExitStack() as stack:
            if url is None:
                url = stack.enter_context(
                    WireServer.start(Path(tmp), test_commands=False)
                ).url
            url = with_database(url, f"bench_{uuid.uuid4().hex[:8]}")
            # the build's one numbering of 2,000 trials' writes outlasted pymongo's
            # 60 s socket timeout on the pure-Python server at nice 19, load 21-30
            sep = "&" if "?" in url else "?"
            yield f"{url}{sep}socketTimeoutMS=600000"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="old checkout")
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--running", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--backend", choices=("sqlite", "mongodb"), default="sqlite")
    parser.add_argument("--url", help="a MongoDB server (default: start one)")
    parser.add_argument(
        "--written-before-last-step",
        action="store_true",
        help="MongoDB: documents without the last step kept beside the reports, "
        "as older versions wrote them",
    )
    args = parser.parse_args()
    with study_url(args.backend, args.url) as url:
        started = time.perf_counter()
        kept = not args.written_before_last_step
        build_study(url, args.trials, args.steps, args.running, kept_last_step=kept)
        print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
        for pruner, settings in PRUNERS.items():
            with open_store(url) as store:
                store.update_study_settings(
                    "big", {"pruner": pruner, "pruner_settings": settings}
                )
            times: dict[str, list[float]] = {"old": [], "new": []}
            shown = {}
            for _ in range(args.repeats):
                for name, checkout in (("old", args.old), ("new", REPO)):
                    seconds, shown[name] = time_command(checkout, url)
                    times[name].append(seconds)
                assert shown["old"] == shown["new"], shown
            old, new = (statistics.median(times[k]) for k in ("old", "new"))
            parts = time_parts(url, pruner, args.repeats)
            print(
                f"{pruner}: status command old {old:.3f} s, new {new:.3f} s "
                f"(median of {args.repeats}, alternating); in process: summary "
                f"{parts['status_summary']:.3f} s, of which pruning counts "
                f"{parts['pruning_counts']:.3f} s; the counts' read: every report "
                f"{parts['every_report']:.3f} s, last_steps "
                f"{parts['last_steps']:.3f} s"
                + (
                    f", the reports' find (last_steps before the kept step) "
                    f"{parts['reports_find']:.3f} s"
                    if "reports_find" in parts
                    else ""
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
