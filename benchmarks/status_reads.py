"""Seconds and peak memory of ``hpo-driver status`` and ``best`` on a large, wide study.

    python -m benchmarks.status_reads                      # this checkout, both stores
    python -m benchmarks.status_reads --code /tmp/old      # another checkout's code
    python -m benchmarks.status_reads --stores sqlite --trials 2000
    python -m benchmarks.status_reads --listing   # trials --format csv / json instead
    python -m benchmarks.status_reads --listing --running 100   # and a filtered CSV

A study of ``--trials`` done trials (default 10,000) over a ``--params``-parameter
space (default 100: each trial's params and config hold 100 floats) with results that
carry 4 kB of objective output (``--objectives N``: N random losses each, so that
``best`` prints a Pareto front), as a long study of a wide space does, is written
with ``insert_finished`` (a warm import: no driver, no workers), with ``--running``
more trials claimed and left running (as many workers busy), on SQLite and on the
MongoDB-wire server (``secantusd-py``, started on a free port unless ``--url`` names
a server). The study is written by the code it then measures (``--code DIR``: a
directory holding an ``hpo_service`` package, e.g. ``git worktree add /tmp/old
<commit>``), since an older version refuses or does not rank a newer database.

Each command runs ``--repeats`` times as its own process (``python -m
hpo_service.driver.cli``); the script prints, per store and command, the median wall
seconds and the largest peak resident memory (``wait4``'s ``ru_maxrss``) of the
process, start-up included (the import alone is about 0.3-0.5 s and 60-70 MB); on
MongoDB, also the largest reply the server sent for ``summarise`` and ``best_trial``
(MongoDB refuses a reply document over 16 MB).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.mongo_wire import fresh_database, server

_BUILD = """
import random, sys
from hpo_service.store import FinishedTrial, NewTrial, open_store
url, trials, width, objectives, running = sys.argv[1], *map(int, sys.argv[2:6])
rng = random.Random(0)
with open_store(url) as store:
    settings = {"max_evals": trials}
    if objectives > 1:
        settings["n_objectives"] = objectives
    store.create_study("wide", settings)
    for start in range(0, trials, 250):
        batch = []
        for _ in range(start, min(trials, start + 250)):
            params = {f"layer_{i:03d}_lr": rng.random() for i in range(width)}
            loss = [rng.random() for _ in range(objectives)]
            result = {"loss": loss if objectives > 1 else loss[0], "status": "ok",
                      "duration": 0.25,
                      "output": "epoch 1: loss 0.25\\n" * 200}
            batch.append(FinishedTrial(params, dict(params), result))
        store.insert_finished("wide", batch)
    for start in range(0, running, 250):
        batch = []
        for _ in range(start, min(running, start + 250)):
            params = {f"layer_{i:03d}_lr": rng.random() for i in range(width)}
            batch.append(NewTrial(params, dict(params)))
        store.insert_trials("wide", batch)
    for i in range(running):
        assert store.claim(f"bench-host:{i}:w", 3600.0, study="wide") is not None
"""


_REPLIES = """
import sys, bson
from pymongo import monitoring
from hpo_service.store import open_store
class Largest(monitoring.CommandListener):
    size = 0
    def started(self, event): pass
    def succeeded(self, event):
        self.size = max(self.size, len(bson.encode(event.reply)))
    def failed(self, event): pass
replies = Largest()
with open_store(sys.argv[1], event_listeners=[replies]) as store:
    for call in ("summarise", "best_trial"):
        replies.size = 0
        getattr(store, call)("wide")
        print(call, replies.size)
"""


def largest_replies(code: Path, url: str) -> dict[str, int]:
    """The largest reply (bytes of BSON) the server sent for each light read."""
    command = [sys.executable, "-c", _REPLIES, url]
    out = subprocess.run(
        command,
        check=True,
        env=_env(code),
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),  # not this checkout: ``code``'s package
    ).stdout
    return {call: int(size) for call, size in map(str.split, out.splitlines())}


def build(
    code: Path, url: str, trials: int, width: int, objectives: int, running: int = 0
) -> float:
    """Write the study with ``code``'s store; return the seconds it took."""
    began = time.perf_counter()
    command = [sys.executable, "-c", _BUILD, url, str(trials), str(width)]
    command += [str(objectives), str(running)]
    subprocess.run(command, check=True, env=_env(code), cwd=tempfile.gettempdir())
    return time.perf_counter() - began


def _env(code: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(code))
    env.pop("HPO_DB", None)
    return env


def measure(code: Path, url: str, command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one ``hpo-driver`` command process."""
    argv = [sys.executable, "-m", "hpo_service.driver.cli", *command]
    argv += ["--db", url, "--study", "wide"]
    began = time.perf_counter()
    with open(os.devnull, "w") as sink:
        process = subprocess.Popen(
            argv, env=_env(code), stdout=sink, cwd=tempfile.gettempdir()
        )
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - began
    if process.returncode != 0:
        raise RuntimeError(f"{argv} exited {process.returncode}")
    return seconds, usage.ru_maxrss / 1024


def stores(kinds: list[str], url: str | None, tmp: str) -> Iterator[tuple[str, str]]:
    """Yield ``(name, URL)`` of each fresh store to measure."""
    if "sqlite" in kinds:
        yield "SQLite", f"sqlite:///{tmp}/wide.sqlite"
    if "mongodb" in kinds:
        with server(url) as served, fresh_database(served) as db:
            yield "MongoDB-wire", db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, default=Path(__file__).parents[1])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--params", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--objectives", type=int, default=1, help="losses per trial (>1: a front)"
    )
    parser.add_argument(
        "--running", type=int, default=0, help="trials claimed, left running"
    )
    parser.add_argument(
        "--listing",
        action="store_true",
        help="measure `trials --format csv/json` (every trial) instead",
    )
    parser.add_argument("--stores", nargs="+", default=["sqlite", "mongodb"])
    parser.add_argument("--url", help="a running MongoDB server (default: start one)")
    args = parser.parse_args()
    commands = {"status": ["status"], "status --json": ["status", "--json"]}
    commands.update({"best": ["best"], "best --json": ["best", "--json"]})
    if args.listing:
        commands = {
            "trials --format csv": ["trials", "--format", "csv"],
            "trials --format json": ["trials", "--format", "json"],
            # the header is the whole study's: every trial is read, few are shown
            "trials --format csv --state running": [
                "trials", "--format", "csv", "--state", "running",
            ],
        }  # fmt: skip
    print(
        f"code: {args.code.resolve()}; {args.trials} trials, {args.params} params, "
        f"{args.objectives} objective(s), {args.running} running"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name, url in stores(args.stores, args.url, tmp):
            seconds = build(
                args.code, url, args.trials, args.params, args.objectives, args.running
            )
            print(f"{name}: study written in {seconds:.1f} s", flush=True)
            if url.startswith("mongodb"):
                for call, size in largest_replies(args.code, url).items():
                    print(f"  {call}: largest reply {size / 1024:.1f} kB", flush=True)
            for label, command in commands.items():
                runs = [measure(args.code, url, command) for _ in range(args.repeats)]
                wall = statistics.median(s for s, _ in runs)
                peak = max(m for _, m in runs)
                print(f"  {label:<14} {wall:7.2f} s  {peak:7.1f} MB peak", flush=True)


if __name__ == "__main__":
    main()
