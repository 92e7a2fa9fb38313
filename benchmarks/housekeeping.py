"""An idle worker's housekeeping on MongoDB with many studies and running trials.

    python -m benchmarks.housekeeping                     # starts its own server
    python -m benchmarks.housekeeping --url mongodb://127.0.0.1:27017/

An idle ``hpo-worker`` looks after the studies it serves every 2 s: it reads the
running trials it may requeue (expired leases, and owners of its own namespace, to
requeue at once those of workers certainly dead: ``hpo_service.store._dead_owners``)
and requeues expired leases.
This times one such pass (``Worker._maintain``, settings already cached as in the
steady state) of a worker of any study (all ``S`` studies) and of a worker of one
study (``--study``), with ``R`` running trials per study held by live workers of
other nodes (ids of another namespace: nobody here can take them for dead). It
reports the commands pymongo sent, the bytes of the replies, and seconds (median of
``--repeat`` passes), beside SQLite; and the same for the read of the running
trials alone, the part the dead-worker check adds.

The wire server (``secantusd-py``) is written in Python and scans where MongoDB uses
an index: its seconds are an upper bound, the commands and bytes are the store's.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import bson
from pymongo import monitoring

from benchmarks.mongo_wire import fresh_database, server
from hpo_service._common.settings import StudySettings
from hpo_service.store import BaseTrialStore, NewTrial, open_store
from hpo_service.worker import Worker

#: A live worker of another node: another namespace, so never certainly dead here.
OTHER_NODE = "node{j:03d}:{pid}:abcdef12/0123456789ab-1f3a2b"


class Traffic(monitoring.CommandListener):
    """Commands sent and reply bytes received since the last :meth:`reset`."""

    def __init__(self) -> None:
        self.commands = 0
        self.received = 0

    def reset(self) -> None:
        self.commands = self.received = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands += 1

    def succeeded(self, event: Any) -> None:
        self.received += len(bson.encode(event.reply))

    def failed(self, event: Any) -> None:
        pass


def fill(store: BaseTrialStore, studies: int, running: int) -> list[str]:
    """``studies`` studies, each with ``running`` trials claimed by workers of other
    nodes (one claim per trial: the store's own writes, whatever the backend)."""
    settings = StudySettings(
        objective="benchmarks.trivial:objective", space={},
        space_fingerprint="bench", max_evals=10 * running + 10, lease_seconds=3600,
    ).to_dict()  # fmt: skip
    names = [f"study-{i:03d}" for i in range(studies)]
    for name in names:
        store.create_study(name, settings)
        store.insert_trials(name, [NewTrial({"x": 0.0}, {"x": 0.0})] * running)
        for j in range(running):
            owner = OTHER_NODE.format(j=j, pid=1000 + j)
            assert store.claim(owner, 3600.0, study=name) is not None
    return names


def timed(call: Callable[[], Any], traffic: Traffic | None, repeat: int) -> str:
    """Median seconds of ``repeat`` calls, and the commands and reply bytes of one."""
    call()  # warm: the worker reads and keeps each study's settings
    times = []
    for _ in range(repeat):
        if traffic is not None:
            traffic.reset()
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    shown = f"{statistics.median(times) * 1e3:9.1f} ms"
    if traffic is not None:
        shown += f" {traffic.commands:6d} commands {traffic.received / 1e3:9.1f} kB"
    return shown


def one_pass(worker: Worker) -> Callable[[], Any]:
    def run() -> Any:
        worker._next_maintenance = 0.0  # due now
        return worker._maintain()

    return run


def measure(
    db: str, studies: int, running: int, repeat: int, traffic: Traffic | None
) -> list[tuple[str, str]]:
    extra = {"event_listeners": [traffic]} if traffic is not None else {}
    with open_store(db, **extra) as store:
        names = fill(store, studies, running)
        rows = []
        for label, study in (("any study", None), ("--study", names[0])):
            worker = Worker(store, study=study, show_output=False)
            rows.append((f"pass, {label}", timed(one_pass(worker), traffic, repeat)))
        read = lambda: [store.running_trials(name) for name in names]  # noqa: E731
        rows.append(("running_trials, every study", timed(read, traffic, repeat)))
        return rows


@contextlib.contextmanager
def databases(url: str, tmp: str) -> Iterator[tuple[str, str]]:
    with fresh_database(url) as mongo:
        yield f"sqlite:///{tmp}/hk-{uuid.uuid4().hex[:8]}.sqlite", mongo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument(
        "--cases",
        nargs="+",
        default=["1x10", "100x10", "10x100", "1x1000"],
        help="STUDIESxRUNNING: studies, and running trials in each",
    )
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with server(args.url) as url, tempfile.TemporaryDirectory() as tmp:
        for case in args.cases:
            studies, running = (int(n) for n in case.split("x"))
            print(f"{studies} studies x {running} running trials")
            with databases(url, tmp) as (sqlite, mongo):
                for kind, db, traffic in (
                    ("sqlite", sqlite, None),
                    ("mongodb-wire", mongo, Traffic()),
                ):
                    for what, shown in measure(
                        db, studies, running, args.repeat, traffic
                    ):
                        print(f"  {kind:<13} {what:<28} {shown}", flush=True)


if __name__ == "__main__":
    main()
