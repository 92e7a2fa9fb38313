"""Cost of a filtered ``hpo-driver trials`` CSV (``--status`` / ``--state``) on a
large study, from an old checkout and from this one, alternating.

Until the store filtered them (7e1c0c1), a filtered CSV read every trial of the
study (its header is that of the whole study) in windows of 500 tids and chose the
rows in Python. Now one store call, ``export_trials``, gives the trials shown and
the keys of the whole study in one pass: SQLite chooses the trials in the database
(``json_extract`` of the result's status) and gathers the keys there
(``trial_keys``), so the command decodes only the trials it shows; MongoDB reads the
study through one cursor and gathers the keys as the documents pass (on the
MongoDB-wire server each query costs about a scan of the collection).

Builds a study (default 50,000 finished trials: 8 uniform parameters and a choice,
results with three extra keys; 1% ``fail``, 5% pruned, 1% error) on SQLite, or
with ``--backend mongodb`` in a fresh database on the MongoDB-wire server
``secantusd-py`` this script starts (or on ``--url``). Then times each filter's
whole command (a fresh interpreter each time, as a user runs it) from ``--old``
and from this checkout, alternating, and checks that both print the same CSV,
byte for byte. Run it under the timing lock, with an old checkout beside it::

    git worktree add -f /tmp/old-export REV
    flock /tmp/hpo-bench.lock nice -n 19 python benchmarks/filtered_export.py \
        --old /tmp/old-export
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.status_cost import study_url
from hpo_service.driver._study import space_settings
from hpo_service.space import hp
from hpo_service.store import FinishedTrial, TrialState, open_store

REPO = Path(__file__).resolve().parents[1]
STUDY = "big"
FILTERS = {
    "--status fail (1%)": ["--status", "fail"],
    "--state pruned (5%)": ["--state", "pruned"],
    "--state done (93%)": ["--state", "done"],
    "no filter (100%)": [],
}
_BATCH = 2_000
LABELS = [f"x{i}" for i in range(8)]


def space() -> dict[str, Any]:
    """The study's space: eight uniform parameters and a choice."""
    parts: dict[str, Any] = {label: hp.uniform(label, 0, 1) for label in LABELS}
    parts["kind"] = hp.choice("kind", ["a", "b", "c"])
    return parts


def trial(i: int) -> FinishedTrial:
    """Trial ``i``: every 100th failed, every 20th pruned, every 97th an error."""
    params: dict[str, Any] = {label: (i * 7 + j) % 1000 / 1000 for j, label in
                              enumerate(LABELS)}  # fmt: skip
    params["kind"] = i % 3
    extra = {"duration": 0.01 * (i % 50), "accuracy": 1 - i % 89 / 100,
             "output": f"run {i}: " + "x" * 150}  # fmt: skip
    if i % 97 == 0:
        error = {"type": "ValueError", "message": f"bad {i}"}
        return FinishedTrial(params, None, None, TrialState.ERROR, error)
    if i % 100 == 1:
        return FinishedTrial(params, None, {"status": "fail", **extra})
    if i % 20 == 2:
        result = {"status": "pruned", "loss": i % 13 / 13, "step": 5, **extra}
        return FinishedTrial(params, None, result, TrialState.PRUNED)
    return FinishedTrial(params, None, {"status": "ok", "loss": i % 101 / 7, **extra})


def build_study(url: str, n: int) -> None:
    """A study of ``n`` finished trials (:func:`trial`) with its space."""
    settings = {"objective": "m:f", "max_evals": n, **space_settings(space())}
    with open_store(url) as store:
        store.create_study(STUDY, settings)
        for start in range(0, n, _BATCH):
            batch = [trial(i) for i in range(start, min(start + _BATCH, n))]
            store.insert_finished(STUDY, batch)


def cpu_of_children() -> float:
    """CPU seconds (user + system) of this process's ended children so far."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def cpu_of_server() -> float:
    """CPU seconds (user + system) so far of this process's running children: the
    MongoDB-wire server it started (none on SQLite or with ``--url``: 0). Read
    between two commands, when no command runs."""
    total = 0
    for children in Path("/proc/self/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:  # ended meanwhile
                continue
            fields = stat.rsplit(")", 1)[1].split()  # from the state (field 3) on
            total += int(fields[11]) + int(fields[12])  # utime, stime (14, 15)
    return total / os.sysconf("SC_CLK_TCK")


def time_command(
    checkout: Path, url: str, flags: list[str]
) -> tuple[float, float, float, str]:
    """Wall-clock seconds of one ``hpo-driver trials`` (CSV) from ``checkout``'s
    code, its CPU seconds, the CPU seconds the wire server spent meanwhile (0 on
    SQLite), and what it printed. On a loaded machine the CPU seconds (the
    command's own, a SQLite store's reads included) are the steadier."""
    cpu, server, started = cpu_of_children(), cpu_of_server(), time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "hpo_service.driver.cli", "trials", "--db", url,
         "--study", STUDY, *flags],
        cwd=checkout, capture_output=True, text=True, check=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    return wall, cpu_of_children() - cpu, cpu_of_server() - server, run.stdout


def main() -> None:
    """Build one study of ``--trials`` trials, then time each filter's export
    with the old and the new checkout alternately (``--repeats`` each) and print
    the medians (CPU, server CPU on MongoDB, wall seconds); the CSVs must match."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="old checkout")
    parser.add_argument("--trials", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backend", choices=("sqlite", "mongodb"), default="sqlite")
    parser.add_argument("--url", help="a MongoDB server (default: start one)")
    parser.add_argument("--only", help="time only the filter whose name starts so")
    args = parser.parse_args()
    with study_url(args.backend, args.url) as url:
        started = time.perf_counter()
        build_study(url, args.trials)
        print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
        for name, flags in FILTERS.items():
            if args.only and not name.startswith(args.only):
                continue
            wall: dict[str, list[float]] = {"old": [], "new": []}
            cpu: dict[str, list[float]] = {"old": [], "new": []}
            server: dict[str, list[float]] = {"old": [], "new": []}
            for _ in range(args.repeats):
                shown = {}
                for which, checkout in (("old", args.old), ("new", REPO)):
                    seconds, used, served, shown[which] = time_command(
                        checkout, url, flags
                    )
                    wall[which].append(seconds)
                    cpu[which].append(used)
                    server[which].append(served)
                assert shown["old"] == shown["new"], f"{name}: the CSVs differ"
            rows = shown["new"].count("\n") - 1
            served = (
                f"; server CPU old {_median(server['old'])}, new "
                f"{_median(server['new'])}"
                if any(server["new"])
                else ""
            )
            print(
                f"{name}: {rows} rows; CPU old {_median(cpu['old'])}, new "
                f"{_median(cpu['new'])}{served}; wall old {_median(wall['old'])}, "
                f"new {_median(wall['new'])} (median [min-max] of {args.repeats}, "
                "alternating)",
                flush=True,
            )


def _median(values: list[float]) -> str:
    """``median s [min-max]``."""
    return f"{statistics.median(values):.2f} s [{min(values):.2f}-{max(values):.2f}]"


if __name__ == "__main__":
    main()
