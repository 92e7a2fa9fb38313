"""Reports and pruning through real worker loops and objective processes (SQLite)."""

from __future__ import annotations

import logging
import threading

import pytest

from hpo_service.algorithms.pruners import ASHAPruner, MedianPruner, TrialProgress
from hpo_service.exceptions import WorkerError
from hpo_service.store import TrialState, open_store
from hpo_service.store._outage import reset_process_outage
from hpo_service.worker import run_worker
from hpo_service.worker._heartbeat import Heartbeat, Lease
from hpo_service.worker._reports import ReportHandler, StudyPruning

from .conftest import OBJ, make_study, wait_until

CURVE = f"{OBJ}:learning_curve"
#: What a worker's error says after a NaN or infinite report: how to end such a trial.
NOT_FINITE = (
    ": a pruner cannot rank it; to stop a trial that diverged, raise TrialPruned() "
    "(it keeps its last finite report) or return {'status': 'fail'}"
)
ASHA_9 = {
    "pruner": "asha",
    "pruner_settings": {"max_resource": 9, "reduction_factor": 3},
}


def test_reports_are_stored_and_asha_prunes(store):
    # Rungs at steps 1 and 3 (eta 3, max 9); rung values are level + 0.5 and + 0.25.
    # Hand-run: 5.0 is first (continues alone); 6.0, 7.0 are not the best of 2 and 3;
    # 0.3 is the best of 4 (rung 1) and of 2 (rung 3); 8.0 loses; 0.2 is in the top
    # 2 of 6, then the best of 3; 9.0 loses; 0.1 is top of 8, then of 4; 9.5 loses.
    levels = [5.0, 6.0, 7.0, 0.3, 8.0, 0.2, 9.0, 0.1, 9.5]
    make_study(store, "a", CURVE, [{"level": v} for v in levels], **ASHA_9)
    summary = run_worker(store, study="a", idle_timeout=0)
    trials = store.get_trials("a")
    pruned = [t for t in trials if t.state is TrialState.PRUNED]
    done = [t for t in trials if t.state is TrialState.DONE]
    assert (summary.done, summary.pruned) == (len(done), len(pruned))
    assert sorted(t.config["level"] for t in done) == [0.1, 0.2, 0.3, 5.0]
    assert sorted(t.config["level"] for t in pruned) == [6.0, 7.0, 8.0, 9.0, 9.5]
    for t in pruned:
        level = t.config["level"]
        assert t.intermediate == {0: level + 1.0, 1: level + 0.5}  # stopped at rung 1
        assert t.result["status"] == "pruned"
        assert (t.result["step"], t.result["loss"]) == (1, level + 0.5)
    for t in done:
        assert sorted(t.intermediate) == list(range(10))


def test_without_a_pruner_reports_are_stored_only(store):
    make_study(store, "n", CURVE, [{"level": v, "steps": 3} for v in (3.0, 1.0)])
    summary = run_worker(store, study="n", idle_timeout=0)
    assert (summary.done, summary.pruned) == (2, 0)
    assert [sorted(t.intermediate) for t in store.get_trials("n")] == [[0, 1, 2]] * 2


def test_bad_reports_in_a_worker_are_errors_naming_the_value(store):
    reports = [
        [["nan", 0]],  # NaN
        [[1.0, 3], [1.0, 2]],  # steps going backwards
        [[1.0, -1]],  # a negative step
        [["0.5", 0]],  # not a number
        [[1.0, str(2**63)]],  # beyond a 64-bit store column (an int in the child)
        [[1.0, 0], ["-inf", 1]],  # infinite (JSON cannot hold it)
        [["inf", 0]],
    ]
    make_study(store, "bad", f"{OBJ}:bad_reports", [{"reports": r} for r in reports],
               **ASHA_9)  # fmt: skip
    summary = run_worker(store, study="bad", idle_timeout=0)
    assert (summary.failed, summary.done, summary.pruned) == (7, 0, 0)
    errors = [t.error for t in store.get_trials("bad")]
    assert [e["type"] for e in errors] == ["ValueError"] * 7
    assert [e["message"] for e in errors] == [
        "`value` must be a finite number, but got value=nan (step=0)" + NOT_FINITE,
        "`step` must grow from one report to the next, but got step=2 after step=3",
        "`step` must be an int in [0, 2**63 - 1], but got step=-1",
        "`value` must be a number, but got value='0.5' (step=0)",
        "`step` must be an int in [0, 2**63 - 1], but got step=9223372036854775808",
        "`value` must be a finite number, but got value=-inf (step=1)" + NOT_FINITE,
        "`value` must be a finite number, but got value=inf (step=0)" + NOT_FINITE,
    ]
    intermediate = [t.intermediate for t in store.get_trials("bad")]
    assert intermediate == [{}, {3: 1.0}, {}, {}, {}, {0: 1.0}, {}]


def test_a_refused_report_drops_the_attempt(store, db_url):
    make_study(store, "c", CURVE, [{"level": 1.0, "steps": 1000, "pause": 0.05}])

    def cancel_after_reports():
        with open_store(db_url) as other:
            wait_until(lambda: len(other.get_trial("c", 0).intermediate) >= 2)
            other.cancel("c", [0])

    canceller = threading.Thread(target=cancel_after_reports, daemon=True)
    canceller.start()
    summary = run_worker(store, study="c", max_trials=1)
    canceller.join()
    assert (summary.abandoned, summary.done, summary.pruned) == (1, 0, 0)
    trial = store.get_trial("c", 0)
    assert trial.state is TrialState.CANCELLED
    assert len(trial.intermediate) >= 2


def test_unusable_pruner_settings_burn_no_trial(store):
    bad = {"pruner": "asha", "pruner_settings": {"reduction_factor": 1}}
    make_study(store, "b", CURVE, [{"level": 1.0}], **bad)
    with pytest.raises(WorkerError, match="reduction_factor=1"):
        run_worker(store, study="b", idle_timeout=0)
    trial = store.get_trial("b", 0)
    assert (trial.state, trial.attempts) == (TrialState.NEW, 0)


def test_many_workers_reaching_a_rung_at_once(store, db_url):
    """Each writes its report before it reads the rung: the best third continues."""
    values = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6]
    make_study(store, "r", CURVE, [{}] * len(values))
    trials = [store.claim("w", 60.0, study="r") for _ in values]
    everyone_reported = threading.Barrier(len(values))
    kept: list[float] = []

    def worker(trial, value):
        with open_store(db_url) as own:
            pruning = StudyPruning(
                own, "r", ASHAPruner(max_resource=9, reduction_factor=3)
            )
            assert own.report("r", trial.tid, trial.token, 1, value)
            everyone_reported.wait(timeout=30)
            progress = TrialProgress(trial.tid, {1: value})
            if not pruning.should_prune(progress):
                kept.append(value)

    threads = [
        threading.Thread(target=worker, args=(t, v))
        for t, v in zip(trials, values, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(kept) == [0.1, 0.2, 0.3]


def test_pruning_learns_finished_trials_incrementally(store):
    make_study(store, "i", CURVE, [{}] * 3)
    pruning = StudyPruning(store, "i", ASHAPruner(max_resource=9, reduction_factor=3))
    first = store.claim("w", 60.0, study="i")
    store.report("i", first.tid, first.token, 1, 0.1)
    store.complete("i", first.tid, first.token, {"loss": 0.1})
    second = store.claim("w", 60.0, study="i")
    store.report("i", second.tid, second.token, 1, 0.5)
    assert pruning.should_prune(TrialProgress(second.tid, {1: 0.5}))
    third = store.claim("w", 60.0, study="i")
    store.report("i", third.tid, third.token, 1, 0.05)
    assert not pruning.should_prune(TrialProgress(third.tid, {1: 0.05}))


def test_an_attempt_sees_every_trial_finished_before_it(store):
    """A worker's pruner reads finished trials at most every refresh interval, but an
    attempt's first report always reads them: a trial that finished before this one
    started (here by the same worker, a moment ago) is never missed, as in process."""
    make_study(store, "m", CURVE, [{}] * 2)
    pruning = StudyPruning(
        store, "m", MedianPruner(n_startup_trials=1), refresh_seconds=3600
    )
    pruning.refresh()  # read while nothing had finished
    first = store.claim("w", 60.0, study="m")
    store.report("m", first.tid, first.token, 1, 0.1)
    store.complete("m", first.tid, first.token, {"loss": 0.1})
    second = store.claim("w", 60.0, study="m")
    lease = Lease("m", second.tid, second.token, 60.0)
    handler = ReportHandler(second, pruning, lease, lambda what, fn: fn())
    assert handler({"kind": "report", "step": 1, "value": 5.0})["prune"] is True


def test_a_worker_prunes_after_its_own_finished_trial(store, caplog):
    # One worker, trials of a few milliseconds: the second and third trials start
    # well within the refresh interval of the first one's end; the median pruner
    # (one startup trial) must compare them with it, as fmin with Trials() does.
    configs = [{"level": 0.0, "steps": 4}, {"level": 5.0}, {"level": 6.0}]
    settings = {"pruner": "median", "pruner_settings": {"n_startup_trials": 1}}
    make_study(store, "w1", CURVE, configs, **settings)
    with caplog.at_level(logging.INFO, logger="hpo_service.worker"):
        summary = run_worker(store, study="w1", idle_timeout=0)
    assert (summary.done, summary.pruned) == (1, 2)
    # Its last line counts them: it said "1 done, 0 failed", as if it ran one trial.
    assert (
        "worker stopped: no trial to claim for 0 s (--idle-timeout); 1 done, "
        "0 failed (status fail), 2 pruned, 0 error" in caplog.text
    )
    trials = store.get_trials("w1")
    assert [t.state for t in trials] == [TrialState.DONE] + [TrialState.PRUNED] * 2
    assert [t.intermediate for t in trials[1:]] == [{0: 6.0}, {0: 7.0}]


def test_reports_are_written_in_batches(store):
    """At the first report, then once per flush interval, before reading the other
    trials' reports (ASHA at a rung), and when the worker flushes at the end."""
    make_study(store, "f", CURVE, [{}] * 2)
    trial = store.claim("w", 60.0, study="f")
    other = store.claim("w", 60.0, study="f")
    store.report("f", other.tid, other.token, 1, 0.1)  # a better trial at rung 1
    writes = []

    def write(what, fn):
        writes.append(what)
        return fn()

    pruning = StudyPruning(
        store, "f", ASHAPruner(max_resource=9, reduction_factor=3), refresh_seconds=0
    )
    lease = Lease("f", trial.tid, trial.token, 60.0)
    handler = ReportHandler(trial, pruning, lease, write, flush_seconds=3600)
    assert handler({"kind": "report", "step": 0, "value": 0.9})["prune"] is False
    assert len(writes) == 1  # the first report is written at once
    assert handler({"kind": "report", "step": 1, "value": 0.5})["prune"] is True
    assert len(writes) == 2  # rung 1: written before the others were read
    assert store.get_trial("f", trial.tid).intermediate == {0: 0.9, 1: 0.5}
    assert handler({"kind": "report", "step": 2, "value": 0.4})["prune"] is True
    assert len(writes) == 2 and 2 not in store.get_trial("f", trial.tid).intermediate
    assert handler.flush() and len(writes) == 3
    assert store.get_trial("f", trial.tid).intermediate == {0: 0.9, 1: 0.5, 2: 0.4}
    assert handler.flush() and len(writes) == 3  # nothing kept: nothing written


def test_a_refused_batch_loses_the_lease(store):
    make_study(store, "s", CURVE, [{}])
    trial = store.claim("w", 60.0, study="s")
    store.cancel("s", [trial.tid])
    pruning = StudyPruning(store, "s", ASHAPruner(max_resource=9, reduction_factor=3))
    lease = Lease("s", trial.tid, trial.token, 60.0)
    handler = ReportHandler(trial, pruning, lease, lambda what, fn: fn())
    assert handler({"kind": "report", "step": 0, "value": 1.0})["prune"] is False
    assert lease.lost.is_set()
    assert handler({"kind": "report", "step": "x", "value": 1.0})["prune"] is False


def test_a_refused_batch_takes_the_trial_back_if_nobody_claimed_it(store):
    """The attempt's lease ran out and the trial was requeued, but no other attempt
    claimed it: the handler takes it back, the batch is written, the trial runs on."""
    make_study(store, "s", CURVE, [{}])
    trial = store.claim("w", 0.05, study="s")
    wait_until(lambda: store.requeue_expired(max_attempts=3, study="s").requeued)
    pruning = StudyPruning(store, "s", ASHAPruner(max_resource=9, reduction_factor=3))
    lease = Lease("s", trial.tid, trial.token, 60.0)
    beat = Heartbeat(store, owner="w")
    handler = ReportHandler(
        trial, pruning, lease, lambda what, fn: fn(),
        take_back=lambda: beat.take_back(lease),
    )  # fmt: skip
    assert handler({"kind": "report", "step": 0, "value": 1.0})["prune"] is False
    assert not lease.lost.is_set()
    got = store.get_trial("s", trial.tid)
    assert (got.state, got.token, got.attempts) == (TrialState.RUNNING, trial.token, 1)
    assert got.intermediate == {0: 1.0}


def test_an_objective_that_never_checks_the_pruner_is_told_once(store):
    # bad_reports reports and returns, never calling should_prune: trials 1 and 2
    # are not the best at rung 1 (step 1), so ASHA says stop, and both run on.
    curves = [[[level, step] for step in range(4)] for level in (5.0, 6.0, 7.0)]
    make_study(store, "i", f"{OBJ}:bad_reports", [{"reports": c} for c in curves],
               **ASHA_9)  # fmt: skip
    summary = run_worker(store, study="i", idle_timeout=0)
    assert (summary.done, summary.pruned) == (3, 0)
    outputs = [t.result.get("output", "") for t in store.get_trials("i")]
    assert outputs[0] == "" and outputs[2] == ""  # once per objective process
    assert outputs[1] == (
        "hpo-worker warning (shown once): the study's pruner said stop at step 1, "
        "but the objective never calls hpo_service.should_prune(), so the trial ran "
        "to the end: no trial stops early unless the objective checks after "
        "report(value, step): `if should_prune(): raise TrialPruned()`\n"
    )


def test_an_objective_that_checks_and_goes_on_is_not_warned(store):
    levels = [5.0, 6.0, 7.0]
    make_study(store, "c", CURVE, [{"level": v, "steps": 4} for v in levels],
               **ASHA_9)  # fmt: skip
    run_worker(store, study="c", idle_timeout=0)
    trials = store.get_trials("c")
    assert [t.state for t in trials][1:] == [TrialState.PRUNED] * 2
    assert all("output" not in t.result for t in trials)


@pytest.mark.parametrize("outage", [False, True])
def test_a_store_failure_while_judging_is_said_as_one_not_as_a_pruner_fault(
    mongo_url, caplog, outage
):
    """The pruner's read of the finished trials fails at the server (a write error
    a retry cannot fix at once, here OutOfDiskSpace): the report is answered "go on"
    and the log says the store failed, in one line; before, it said "the pruner
    failed" with a traceback, as for a bug in the pruner. Within an outage (another
    call failed first), the line says the outage's note instead, once: it said
    "the store failed; the store has failed for 0 s and 2 calls; ...)".
    """
    import uuid

    import pymongo

    from tests.helpers.mongo_wire import fail_point, fail_points_enabled

    if not fail_points_enabled(mongo_url):
        pytest.skip("the MongoDB server runs without test commands (fail points)")
    database, app = f"hpo_judge_{uuid.uuid4().hex[:10]}", "hpo-judge-test"
    try:
        with open_store(mongo_url, database=database, appname=app) as store:
            make_study(store, "s", CURVE, [{}], **ASHA_9)
            trial = store.claim("w", 60.0, study="s")
            pruning = StudyPruning(
                store, "s", ASHAPruner(max_resource=9, reduction_factor=3)
            )
            lease = Lease("s", trial.tid, trial.token, 60.0)
            handler = ReportHandler(
                trial, pruning, lease, lambda what, fn: fn(), flush_seconds=3600.0
            )  # written at the first report only
            data = {"failCommands": ["find"], "appName": app, "errorCode": 14031}
            reset_process_outage(every=0.0)  # every failure a warning
            steps = [0, 1] if outage else [0]  # the second judged within the outage
            with (
                caplog.at_level(logging.WARNING),
                fail_point(mongo_url, data, {"times": len(steps)}),
            ):
                for step in steps:
                    assert handler({"kind": "report", "step": step, "value": 1.0}) == {
                        "kind": "decision", "prune": False
                    }  # fmt: skip
            assert store.get_trial("s", trial.tid).intermediate == {0: 1.0}
    finally:
        with pymongo.MongoClient(mongo_url) as client:
            client.drop_database(database)
    said = [m for m in caplog.messages if "cannot judge it" in m]
    assert len(said) == len(steps), caplog.text
    again = "trial s/0: cannot judge it, judging it again at its next report"
    assert said[0].startswith(f"{again} (the store failed): ")
    if outage:
        assert said[1].startswith(
            f"{again} (the store has failed for 0 s and 2 calls; "
            "waiting: the pruner's read for trial s/0): "
        ), said[1]
    assert "the pruner failed" not in caplog.text and "Traceback" not in caplog.text
