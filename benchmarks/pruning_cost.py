"""Cost of pruning: ``should_prune()`` on a large study, and reports beside claims.

1. A study of N finished trials with S reported steps each (default 10,000 x 100)
   and R running trials: the time a worker takes to answer one report frame of its
   objective (the worker's ``ReportHandler``: keep or write the report, then the
   pruner's decision through ``StudyPruning``), for the median pruner (judges every
   step) and ASHA (reads the running trials at a rung), and the first decision of a
   fresh worker (which learns every finished trial once). "unbatched" writes every
   report at once (``store.report`` then ``should_prune``: the worst case, an
   objective reporting less often than once a second). Optuna's ``MedianPruner``
   and ``SuccessiveHalvingPruner`` on an in-memory study of the same size are timed
   beside it (optuna's ``RDBStorage`` would add a database round trip per call).
   The "next" trial shows the steady state of a worker that has run one. The first
   read alone (``reports_since``, and beside it ``changes_since``, which whole trials
   a worker read before) is timed too.
2. Claim and heartbeat latency on SQLite while 4 processes report into the same
   database: as workers do (``ReportHandler``: a write a second, each process
   reporting as fast as it can) and unbatched (every report a write); and, as a
   control, while 4 processes only burn CPU (no store calls), which separates what
   the reports cost the claims from what 4 busy processes cost them on 2 cores.

    python benchmarks/pruning_cost.py                       # 10,000 x 100
    python benchmarks/pruning_cost.py --trials 1000 --steps 50 --skip-peers
    python benchmarks/pruning_cost.py --claims-only         # part 2 only
    python benchmarks/pruning_cost.py --store mongo --trials 2000   # part 1 on MongoDB

``--store mongo`` runs part 1 on the MongoDB backend over TCP: against ``--url`` if
given, else a MongoDB-wire server (``secantusd-py``, as the tests and
``mongo_wire.py`` start it) on a free local port; part 2 (SQLite's single-writer
lock) is not run there.

The large study is written with one SQL transaction per 1,000 trials (the store's
own tables and encoding), not one ``report`` call per value, so that setting up
1,000,000 values takes seconds; on MongoDB with one ``insert_many`` of the store's
own documents per 1,000 trials, numbered by one ``changes_since`` (as a driver's
poll numbers every write).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpo_service.algorithms.pruners import ASHAPruner, MedianPruner, TrialProgress
from hpo_service.store import NewTrial, open_store
from hpo_service.store._sqlite import _PAIR
from hpo_service.worker._heartbeat import Lease
from hpo_service.worker._reports import ReportHandler, StudyPruning

RESULTS = Path(__file__).resolve().parent / "results"


def curve(rng: np.random.Generator, steps: int) -> np.ndarray:
    level = rng.uniform(0.1, 1.0)
    return level + 1.0 / np.arange(1, steps + 1) + rng.normal(0, 0.01, steps)


def build_study(
    url: str, n: int, steps: int, running: int, *, kept_last_step: bool = True
) -> list[Any]:
    """N finished trials with S reports each, then R running ones with S // 2.

    ``kept_last_step=False``: on MongoDB, the documents as a version before the
    store kept each trial's last step beside its reports wrote them (no
    ``last_step``), running trials' too."""
    rng = np.random.default_rng(0)
    with open_store(url) as store:
        store.create_study("big", {})
        for start in range(0, n, 1000):
            count = min(1000, n - start)
            if url.startswith("mongodb"):
                _insert_finished_mongo(store, count, steps, rng, kept_last_step)
            else:
                store.insert_trials("big", [NewTrial({"x": 0.0}, {"x": 0.0})] * count)
                _finish_in_bulk(store, start, count, steps, rng)
        store.changes_since("big", 0)  # numbers the writes, as a driver's poll does
        store.insert_trials("big", [NewTrial({"x": 0.0}, {"x": 0.0})] * (running + 1))
        live = [store.claim("w", 3600.0, study="big") for _ in range(running + 1)]
        for trial in live[:-1]:
            values = curve(rng, steps)[: steps // 2]
            pairs = [(step, float(value)) for step, value in enumerate(values)]
            assert store.report_many("big", trial.tid, trial.token, pairs)
        if url.startswith("mongodb") and not kept_last_step:
            unset = {"$unset": {"last_step": "", "last_step_token": ""}}
            store._trials.update_many({"study": "big"}, unset)
    return live


def _finish_in_bulk(store: Any, start: int, count: int, steps: int, rng: Any) -> None:
    conn = store._connection()
    conn.execute("BEGIN IMMEDIATE")
    token = uuid.uuid4().hex
    rows = []
    for tid in range(start, start + count):
        values = curve(rng, steps)
        data = b"".join(_PAIR.pack(s, float(v)) for s, v in enumerate(values))
        rows.append(
            (tid, data, json.dumps({"loss": float(values[-1]), "status": "ok"}))
        )
    conn.executemany(
        "UPDATE trials SET state = 'done', token = ?, attempts = 1, result = ?, "
        "version = (SELECT version + 1 FROM studies WHERE name = 'big') "
        "WHERE study = 'big' AND tid = ?",
        [(token, result, tid) for tid, _, result in rows],
    )
    conn.executemany(
        "INSERT INTO intermediate (study, tid, token, data) VALUES ('big', ?, ?, ?)",
        [(tid, token, data) for tid, data, _ in rows],
    )
    conn.execute("UPDATE studies SET version = version + 1 WHERE name = 'big'")
    conn.execute("COMMIT")


def _insert_finished_mongo(
    store: Any, count: int, steps: int, rng: Any, kept_last_step: bool = True
) -> None:
    """``count`` done trials with ``steps`` reports each, as the MongoDB store's own
    documents (its ``_new_doc``, encoding and last step kept beside the reports,
    unless ``kept_last_step`` is False), in one ``insert_many``."""
    from hpo_service.store._mongo import _encode, _last_step_fields

    first = store._allocate_tids("big", count)
    token, now = uuid.uuid4().hex, store.now()
    params = _encode({"x": 0.0}, "params")
    docs = []
    for tid in range(first, first + count):
        values = curve(rng, steps)
        doc = store._new_doc("big", tid, params, params, now, uuid.uuid4().hex)
        doc.update(
            state="done", token=token, attempts=1, started_at=now, finished_at=now,
            result=_encode({"loss": float(values[-1]), "status": "ok"}, "result"),
            intermediate={str(s): float(v) for s, v in enumerate(values)},
        )  # fmt: skip
        if kept_last_step:
            doc.update(_last_step_fields(steps - 1, token))
        else:
            doc.update(intermediate_token=token)
        docs.append(doc)
    store._trials.insert_many(docs, ordered=False)


def time_decisions(
    url: str, trial: Any, pruner: Any, steps: int, *, batched: bool
) -> tuple[dict[str, float], Any]:
    """Per-report cost over ``steps`` steps of a fresh worker's first trial (its
    first report teaches the pruner every finished trial), then of its next one.

    Returns:
        The timings, and ``trial`` claimed again (a fresh attempt) for the next use.
    """
    out: dict[str, float] = {}
    with open_store(url) as store:
        pruning = StudyPruning(store, "big", pruner)
        for which in ("first", "next"):
            answer = _answerer(store, trial, pruning, batched)
            rng = np.random.default_rng(1)
            values = curve(rng, steps) - 0.5  # a good trial: judged all the way
            times: list[float] = []
            for step, value in enumerate(values):
                started = time.perf_counter()
                answer(step, float(value))
                times.append(time.perf_counter() - started)
            if which == "first":
                out["first_report_ms"] = 1000 * times[0]
            out[f"{which}_trial_median_ms"] = 1000 * statistics.median(times[1:])
            out[f"{which}_trial_p95_ms"] = 1000 * float(np.percentile(times[1:], 95))
            out[f"{which}_trial_total_s"] = sum(times)
            trial = _fresh_attempt(url, trial)
    return out, trial


def _answerer(store: Any, trial: Any, pruning: Any, batched: bool) -> Any:
    """What answers one report: the worker's handler, or a write and a decision."""
    if batched:
        lease = Lease(trial.study, trial.tid, trial.token, 3600.0)
        handler = ReportHandler(trial, pruning, lease, lambda what, fn: fn())
        return lambda step, value: handler(
            {"kind": "report", "step": step, "value": value}
        )
    progress = TrialProgress(trial.tid)

    def answer(step: int, value: float) -> bool:
        store.report("big", trial.tid, trial.token, step, value)
        progress.intermediate[step] = value
        return pruning.should_prune(progress)

    return answer


def time_optuna(n: int, steps: int, pruner_name: str) -> dict[str, float]:
    import optuna
    from optuna.distributions import FloatDistribution

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    pruners = {
        "median": optuna.pruners.MedianPruner(),
        "sha": optuna.pruners.SuccessiveHalvingPruner(
            min_resource=1, reduction_factor=3
        ),
    }
    study = optuna.create_study(pruner=pruners[pruner_name])
    rng = np.random.default_rng(0)
    dist = {"x": FloatDistribution(0, 1)}
    trials = []
    for _ in range(n):
        values = curve(rng, steps)
        attrs = {}
        if pruner_name == "sha":  # what its own runs would have recorded at rungs
            attrs = {
                f"completed_rung_{k}": float(values[3**k])
                for k in range(5)
                if 3**k < steps
            }
        trials.append(
            optuna.trial.create_trial(
                params={"x": 0.5}, distributions=dist, value=float(values[-1]),
                intermediate_values={s: float(v) for s, v in enumerate(values)},
                system_attrs=attrs,
            )
        )  # fmt: skip
    study.add_trials(trials)
    trial = study.ask(dist)
    times = []
    for step, value in enumerate(curve(rng, steps) - 0.5):
        started = time.perf_counter()
        trial.report(float(value), step)
        trial.should_prune()
        times.append(time.perf_counter() - started)
    return {
        "first_ms": 1000 * times[0],
        "median_ms": 1000 * statistics.median(times[1:]),
        "p95_ms": 1000 * float(np.percentile(times[1:], 95)),
    }


# ---- claims and heartbeats beside reports -------------------------------------------


def _reporter(url: str, seconds: float, counter: Any, mode: str) -> None:
    """Report as fast as possible for ``seconds``: as a worker does (``"worker"``),
    a write per report (``"unbatched"``), or only use the CPU (``"cpu"``: the
    control, no store calls)."""
    if mode == "cpu":
        end, spins = time.monotonic() + seconds, 0
        while time.monotonic() < end:
            spins += sum(i * i for i in range(100)) > 0
        return
    with open_store(url) as store:
        store.insert_trials("busy", [NewTrial({}, {})])
        trial = store.claim(f"r-{uuid.uuid4().hex[:6]}", 3600.0, study="busy")
        lease = Lease("busy", trial.tid, trial.token, 3600.0)
        pruning = StudyPruning(store, "busy", MedianPruner())
        handler = ReportHandler(trial, pruning, lease, lambda what, fn: fn())
        end = time.monotonic() + seconds
        step = 0
        while time.monotonic() < end:
            value = 1.0 / (step + 1)
            if mode == "worker":
                handler({"kind": "report", "step": step, "value": value})
            else:
                store.report("busy", trial.tid, trial.token, step, value)
            step += 1
        with counter.get_lock():
            counter.value += step


def time_claims(
    url: str, reporters: int, mode: str, seconds: float = 8.0
) -> dict[str, float]:
    """Median and p95 latency of claim + heartbeat while ``reporters`` report."""
    with open_store(url) as store:
        store.insert_trials("claims", [NewTrial({}, {})] * 5000)
    counter = multiprocessing.Value("q", 0)
    procs = [
        multiprocessing.Process(target=_reporter, args=(url, seconds, counter, mode))
        for _ in range(reporters)
    ]
    for proc in procs:
        proc.start()
    time.sleep(1.0)
    claims, beats = [], []
    with open_store(url) as store:
        end = time.monotonic() + seconds - 2.0
        while time.monotonic() < end:
            started = time.perf_counter()
            trial = store.claim("c", 60.0, study="claims")
            claims.append(time.perf_counter() - started)
            started = time.perf_counter()
            store.heartbeat("claims", trial.tid, trial.token, 60.0)
            beats.append(time.perf_counter() - started)
            store.complete("claims", trial.tid, trial.token, {"loss": 1.0})
            time.sleep(0.005)
    for proc in procs:
        proc.join()
    return {
        "claim_median_ms": 1000 * statistics.median(claims),
        "claim_p95_ms": 1000 * float(np.percentile(claims, 95)),
        "heartbeat_median_ms": 1000 * statistics.median(beats),
        "heartbeat_p95_ms": 1000 * float(np.percentile(beats, 95)),
        "reports_per_s": counter.value / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--running", type=int, default=32)
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument(
        "--store",
        choices=("sqlite", "mongo"),
        default="sqlite",
        help="backend of part 1 (mongo: part 1 only)",
    )
    parser.add_argument(
        "--url", help="with --store mongo: a server's mongodb:// URL (default: start "
        "a MongoDB-wire server)",
    )  # fmt: skip
    parser.add_argument(
        "--claims-only", action="store_true", help="only part 2 (claims)"
    )
    args = parser.parse_args()
    out: dict[str, Any] = {"args": vars(args)}
    if args.store == "mongo":
        _decisions(args, out)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "pruning_cost_mongo.json").write_text(json.dumps(out, indent=1))
        return
    if not args.claims_only:
        _decisions(args, out)
    for reporters, mode in ((0, "worker"), (4, "worker"), (4, "unbatched"), (4, "cpu")):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'claims.sqlite'}"
            with open_store(url) as store:
                store.create_study("claims", {})
                store.create_study("busy", {})
            key = f"claims_{reporters}_{mode}"
            out[key] = time_claims(url, reporters, mode)
            print(f"claim/heartbeat, {reporters} x {mode}: {out[key]}")
    RESULTS.mkdir(exist_ok=True)
    name = "pruning_cost_claims.json" if args.claims_only else "pruning_cost.json"
    (RESULTS / name).write_text(json.dumps(out, indent=1))


def _decisions(args: argparse.Namespace, out: dict[str, Any]) -> None:
    """Part 1: pruner decisions on the large study, ours and optuna's."""
    with _study_url(args) as url:
        started = time.perf_counter()
        live = build_study(url, args.trials, args.steps, args.running)
        built = time.perf_counter() - started
        print(f"built {args.trials} x {args.steps} in {built:.0f} s")
        out["first_read"] = time_first_read(url, 3 if args.store == "mongo" else 7)
        print(f"a fresh worker's read of the study: {out['first_read']}")
        mine = live[-1]
        for name, pruner in [
            ("median", MedianPruner),
            ("asha", lambda: ASHAPruner(max_resource=args.steps)),
        ]:
            for batched in (True, False):
                key = f"ours_{name}" + ("" if batched else "_unbatched")
                out[key], mine = time_decisions(
                    url, mine, pruner(), args.steps, batched=batched
                )
                print(f"ours {name}{'' if batched else ' unbatched'}: {out[key]}")
    if not args.skip_peers:
        for name in ("median", "sha"):
            out[f"optuna_{name}"] = time_optuna(args.trials, args.steps, name)
            print(f"optuna {name} (in memory): {out[f'optuna_{name}']}")


@contextlib.contextmanager
def _study_url(args: argparse.Namespace) -> Iterator[str]:
    """A fresh database for the large study: a SQLite file, or a MongoDB database
    (dropped at the end) on ``--url`` or on a MongoDB-wire server started here."""
    if args.store == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'big.sqlite'}"
        return
    from benchmarks.mongo_wire import fresh_database, server

    with server(args.url) as url, fresh_database(url) as database:
        yield database


def time_first_read(url: str, repeats: int = 7) -> dict[str, float]:
    """Seconds (median of ``repeats``, each on a fresh connection, the two calls
    alternating) a fresh worker's pruner takes to read the study: ``reports_since``
    (what it reads) and, beside it, ``changes_since`` (whole trials: what it read
    before)."""
    times: dict[str, list[float]] = {"reports_since": [], "changes_since": []}
    for _ in range(repeats):
        for call, seconds in times.items():
            with open_store(url) as store:
                started = time.perf_counter()
                getattr(store, call)("big", 0)
                seconds.append(time.perf_counter() - started)
    return {f"{call}_s": statistics.median(t) for call, t in times.items()}


def _fresh_attempt(url: str, trial: Any) -> Any:
    """Hand the trial back and claim it again: a new attempt with no reports."""
    with open_store(url) as store:
        store.release("big", trial.tid, trial.token)
        again = store.claim("w", 3600.0, study="big")
    assert again is not None and again.tid == trial.tid
    return again


if __name__ == "__main__":
    main()
