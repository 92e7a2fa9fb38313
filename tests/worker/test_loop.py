"""run_worker in-process against a SQLite store, with real objective processes."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from hpo_service._common.processes import namespace_key
from hpo_service.exceptions import (
    ObjectiveImportError,
    StoreConnectionError,
    WorkerError,
)
from hpo_service.store import NewTrial, TrialState, _faults, open_store
from hpo_service.worker import Worker, _loop, default_worker_id, run_worker

from .conftest import OBJ, lines, make_study, wait_until


def in_thread(fn):
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread


def test_completes_queued_trials_and_records_results(store):
    xs = [0.0, 1.5, 3.0, 4.0, 7.0]
    make_study(store, "q", f"{OBJ}:quadratic", [{"x": x} for x in xs])
    summary = run_worker(store, study="q", idle_timeout=0, worker_id="w1")
    assert (summary.done, summary.failed, summary.released) == (5, 0, 0)
    trials = store.get_trials("q")
    assert [t.state for t in trials] == [TrialState.DONE] * 5
    assert [t.result["loss"] for t in trials] == [(x - 3) ** 2 for x in xs]
    assert all(t.result["status"] == "ok" for t in trials)
    assert all(t.result["duration"] >= 0 for t in trials)
    assert {(t.owner, t.attempts) for t in trials} == {(summary.worker_id, 1)}
    assert summary.worker_id.startswith(f"w1/{socket.gethostname()}:{os.getpid()}:")


def test_a_results_own_duration_is_kept(store, caplog):
    """The worker times each call, but a ``duration`` the objective returned (as
    hyperopt keeps every key of a result) is the user's and stays."""
    own = ["3 epochs", 42.5]
    make_study(
        store, "d", f"{OBJ}:returns_own_duration", [{"duration": d} for d in own]
    )
    with caplog.at_level("INFO", logger="hpo_service.worker"):
        assert run_worker(store, study="d", idle_timeout=0).done == 2
    assert [t.result["duration"] for t in store.get_trials("d")] == own
    logged = [r.getMessage() for r in caplog.records]  # each one formats
    assert sum(" ok: loss=1.0 " in m for m in logged) == 2


def test_claims_only_its_study_or_any(store):
    make_study(store, "a", f"{OBJ}:quadratic", [{"x": 1.0}] * 2)
    make_study(store, "b", f"{OBJ}:quadratic", [{"x": 2.0}] * 2)
    assert run_worker(store, study="a", idle_timeout=0).done == 2
    assert store.count_by_state("b")[TrialState.NEW] == 2
    assert run_worker(store, idle_timeout=0).done == 2
    assert store.count_by_state("b")[TrialState.DONE] == 2


def test_waits_for_a_study_that_does_not_exist_yet(store, db_url, caplog):
    waiting = "study 'later' does not exist (yet)"

    def create_later():  # once the worker said it waits for it (it slept 0.3 s)
        try:
            wait_until(lambda: waiting in caplog.text)
        finally:
            with open_store(db_url) as other:
                make_study(other, "later", f"{OBJ}:quadratic", [{"x": 3.0}] * 2)

    creator = in_thread(create_later)
    with caplog.at_level(logging.WARNING, logger="hpo_service.worker"):
        summary = run_worker(store, study="later", max_trials=2, poll_interval=0.05)
    creator.join()
    assert waiting in caplog.text  # it did wait for the study
    assert summary.done == 2
    assert store.count_by_state("later")[TrialState.DONE] == 2


def test_stops_after_max_trials(store):
    make_study(store, "m", f"{OBJ}:quadratic", [{"x": 1.0}] * 4)
    summary = run_worker(store, study="m", max_trials=2)
    assert (summary.done, summary.stop_reason) == (2, "max_trials")
    assert store.count_by_state("m")[TrialState.NEW] == 2


def test_misbehaving_objectives_become_errors_and_the_worker_goes_on(store):
    calls = ["raises", "returns_nan", "returns_bad", "exits", "hangs", "quadratic"]
    configs = [{"call": c, "x": 3.0, "message": "bad lr"} for c in calls]
    make_study(store, "mix", f"{OBJ}:dispatch", configs, trial_timeout=0.5)
    summary = run_worker(store, study="mix", idle_timeout=0)
    assert (summary.done, summary.failed) == (1, 5)
    trials = store.get_trials("mix")
    errors = [t.error for t in trials[:5]]
    assert [e["type"] for e in errors] == [
        "ValueError",
        "InvalidLoss",
        "InvalidResultError",
        "ChildProcessDied",
        "TrialTimeout",
    ]
    assert errors[0]["message"] == "bad lr"
    assert 'raise ValueError(config.get("message", "boom"))' in errors[0]["traceback"]
    assert errors[3]["message"] == "exit code 13"
    assert all(e["duration"] >= 0 for e in errors)
    assert [t.state for t in trials] == [TrialState.ERROR] * 5 + [TrialState.DONE]
    assert trials[5].result["loss"] == 0.0


def test_captured_output_is_kept_with_the_result(store):
    make_study(store, "p", f"{OBJ}:prints", [{"lines": 2}])
    run_worker(store, study="p", idle_timeout=0)
    output = store.get_trial("p", 0).result["output"]
    assert "out line 1\n" in output and "err line\n" in output


def test_import_failure_hands_the_trial_back_untouched(store):
    make_study(store, "bad", "no_such_module_xyz:fn", [{"x": 1}])
    with pytest.raises(ObjectiveImportError) as e:
        run_worker(store, study="bad", idle_timeout=0)
    assert str(e.value).startswith(
        "cannot import objective 'no_such_module_xyz:fn' for study 'bad': "
        "ModuleNotFoundError: No module named 'no_such_module_xyz'"
    )
    trial = store.get_trial("bad", 0)
    assert (trial.state, trial.attempts, trial.result) == (TrialState.NEW, 0, None)


def test_takes_the_studys_lease_right_after_claiming(store, db_url, tmp_path):
    log = tmp_path / "log"
    make_study(
        store,
        "l",
        f"{OBJ}:sleeps",
        [{"seconds": 1.0, "log": str(log)}],
        lease_seconds=4,
    )
    seen = {}

    def watch():
        wait_until(lambda: lines(log))
        with open_store(db_url) as other:
            seen["left"] = other.get_trial("l", 0).lease_expires_at - other.now()

    watcher = in_thread(watch)
    run_worker(store, study="l", idle_timeout=0)
    watcher.join()
    assert 0 < seen["left"] <= 4.0


def test_cancelled_trial_is_abandoned_and_stays_cancelled(store, db_url, tmp_path):
    log = tmp_path / "log"
    configs = [{"seconds": 60, "log": str(log)}]
    make_study(store, "c", f"{OBJ}:sleeps", configs, lease_seconds=0.6)

    def cancel_when_started():
        wait_until(lambda: lines(log))
        with open_store(db_url) as other:
            assert other.cancel("c", [0]) == 1

    canceller = in_thread(cancel_when_started)
    summary = run_worker(store, study="c", idle_timeout=0)
    canceller.join()
    assert (summary.abandoned, summary.done, summary.failed) == (1, 0, 0)
    trial = store.get_trial("c", 0)
    assert (trial.state, trial.result, trial.error) == (
        TrialState.CANCELLED,
        None,
        None,
    )
    assert lines(log) == ["start "]


def test_lone_worker_requeues_a_dead_workers_trial(store):
    make_study(store, "d", f"{OBJ}:quadratic", [{"x": 5.0}], max_attempts=3)
    ghost = store.claim("dead-worker", 0.2, study="d")
    assert ghost is not None
    summary = run_worker(store, study="d", idle_timeout=10, worker_id="alive")
    assert summary.done == 1
    trial = store.get_trial("d", 0)
    assert (trial.state, trial.owner, trial.attempts) == (
        TrialState.DONE, summary.worker_id, 2
    )  # fmt: skip
    assert trial.owner.startswith("alive/")


@pytest.mark.skipif(namespace_key() is None, reason="needs Linux's /proc")
def test_a_worker_of_any_study_requeues_the_trials_of_every_study(store):
    """One read of every study's running trials per housekeeping: an expired lease
    in one study, a certainly dead worker's trial (lease 600 s) in another, and a
    live worker's in a third, which is left running."""
    reaped = subprocess.Popen([sys.executable, "-c", "pass"])
    reaped.wait()
    dead = f"{socket.gethostname()}:{reaped.pid}:aaaaaaaa/{namespace_key()}-1"
    for name, owner, lease in (
        ("expired", "gone-worker", 0.2),
        ("dead", dead, 600.0),
        ("alive", default_worker_id(), 600.0),
    ):
        make_study(store, name, f"{OBJ}:quadratic", [{"x": 5.0}], max_attempts=3)
        assert store.claim(owner, lease, study=name) is not None
    summary = run_worker(store, max_trials=2, idle_timeout=60)
    assert (summary.done, summary.stop_reason) == (2, "max_trials")
    for name in ("expired", "dead"):
        trial = store.get_trial(name, 0)
        assert (trial.state, trial.attempts) == (TrialState.DONE, 2), name
    assert store.get_trial("alive", 0).state is TrialState.RUNNING


def test_exits_when_its_study_is_finished(store):
    make_study(store, "f", f"{OBJ}:quadratic", [{"x": 1.0}] * 2)
    summary = run_worker(store, study="f", idle_timeout=30)
    assert (summary.done, summary.stop_reason) == (2, "study_finished")


WARM = "warm stop: finishing the current trial"


def test_first_sigterm_finishes_the_trial_then_stops(store, tmp_path, caplog):
    """The trial runs until the worker has taken the SIGTERM as a warm stop (its
    gate file is made then): it slept 0.5 s, which a loaded machine could spend
    before the signal was handled, so that the next trial was claimed."""
    log, gate = tmp_path / "log", tmp_path / "gate"
    configs = [{"seconds": 120, "gate": str(gate), "log": str(log), "loss": 1.0}] * 2
    make_study(store, "t", f"{OBJ}:sleeps", configs)

    def terminate_when_started():
        wait_until(lambda: lines(log))
        os.kill(os.getpid(), signal.SIGTERM)
        wait_until(lambda: WARM in caplog.text, timeout=120)
        gate.touch()

    previous = signal.getsignal(signal.SIGTERM)
    sender = in_thread(terminate_when_started)
    with caplog.at_level("INFO", logger="hpo_service.worker"):
        summary = run_worker(store, study="t")
    sender.join()
    assert (summary.done, summary.stop_reason) == (1, "warm_stop")
    assert store.get_trial("t", 0).result["loss"] == 1.0
    assert store.get_trial("t", 1).state is TrialState.NEW
    assert signal.getsignal(signal.SIGTERM) is previous


def test_second_sigterm_kills_the_objective_and_hands_the_trial_back(
    store, tmp_path, caplog
):
    log = tmp_path / "log"
    make_study(store, "t2", f"{OBJ}:sleeps", [{"seconds": 60, "log": str(log)}])

    def terminate_twice_when_started():
        wait_until(lambda: lines(log))
        os.kill(os.getpid(), signal.SIGTERM)
        # Two signals before the first is handled arrive as one: the second waits
        # for the first's warm stop (it waited a fixed 0.3 s).
        wait_until(lambda: WARM in caplog.text, timeout=120)
        os.kill(os.getpid(), signal.SIGTERM)

    sender = in_thread(terminate_twice_when_started)
    with caplog.at_level("INFO", logger="hpo_service.worker"):
        summary = run_worker(store, study="t2")
    sender.join()
    assert (summary.released, summary.stop_reason) == (1, "cold_stop")
    trial = store.get_trial("t2", 0)
    assert (trial.state, trial.attempts) == (TrialState.NEW, 0)
    assert lines(log) == ["start "]


class FlakyStore:
    """Delegates to a store; ``complete`` raises a connection error ``n`` times."""

    def __init__(self, store, n):
        self._store = store
        self.failures_left = n

    def __getattr__(self, name):
        return getattr(self._store, name)

    def complete(self, *args, **kwargs):
        if self.failures_left:
            self.failures_left -= 1
            raise StoreConnectionError("store unreachable (test)")
        return self._store.complete(*args, **kwargs)


def test_result_is_kept_and_retried_while_the_store_is_unreachable(store, monkeypatch):
    monkeypatch.setattr(_faults, "FIRST_RETRY_DELAY", 0.01)
    make_study(store, "r", f"{OBJ}:quadratic", [{"x": 2.0}])
    flaky = FlakyStore(store, 3)
    summary = run_worker(flaky, study="r", idle_timeout=0)
    assert (flaky.failures_left, summary.done) == (0, 1)
    assert store.get_trial("r", 0).result["loss"] == 1.0


def test_stale_result_is_not_counted(store):
    make_study(store, "s", f"{OBJ}:quadratic", [{"x": 2.0}])

    class StaleStore(FlakyStore):
        def complete(self, *args, **kwargs):
            return False

    summary = run_worker(StaleStore(store, 0), study="s", idle_timeout=0)
    assert (summary.done, summary.abandoned) == (0, 1)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_trials": 0}, {"idle_timeout": -1.0}, {"poll_interval": 0.0}],
)
def test_out_of_range_arguments_are_refused(store, kwargs):
    with pytest.raises(ValueError, match="must be"):
        Worker(store, **kwargs)


def test_objective_process_that_cannot_start_burns_nothing(store, monkeypatch):
    from hpo_service.worker import _child

    boot = "import sys; sys.stderr.write('broken install'); sys.exit(5)"
    monkeypatch.setattr(_child, "_BOOT", boot)
    make_study(store, "b", f"{OBJ}:quadratic", [{"x": 1.0}])
    with pytest.raises(WorkerError, match=r"exit code 5(.|\n)*broken install"):
        run_worker(store, study="b")
    trial = store.get_trial("b", 0)
    assert (trial.state, trial.attempts) == (TrialState.NEW, 0)


def test_a_worker_runs_once(store):
    worker = Worker(store, idle_timeout=0)
    assert worker.run().stop_reason == "idle_timeout"
    with pytest.raises(RuntimeError, match="runs once"):
        worker.run()


@pytest.mark.parametrize("backend", ["sqlite", "mongomock"])
def test_heartbeats_keep_a_trial_longer_than_its_lease(backend, db_url, tmp_path):
    url = db_url if backend == "sqlite" else f"mongomock://{tmp_path.name}"
    with open_store(url) as store:
        configs = [{"seconds": 1.0, "loss": 2.0}]
        make_study(store, "h", f"{OBJ}:sleeps", configs, lease_seconds=0.3)
        stop = threading.Event()

        def reaper():  # what a driver does: requeue every expired lease, often
            while not stop.wait(0.05):
                store.requeue_expired(max_attempts=1, study="h")

        thread = in_thread(reaper)
        try:
            summary = run_worker(store, study="h", idle_timeout=0)
        finally:
            stop.set()
            thread.join()
        trial = store.get_trial("h", 0)
    assert summary.done == 1
    assert (trial.state, trial.attempts, trial.result["loss"]) == (
        TrialState.DONE,
        1,
        2.0,
    )


def test_a_worker_fresh_from_a_trial_polls_again_soon(store, monkeypatch):
    """Right after a trial the empty queue is polled again after 1/16 of the poll
    interval, doubling up to it, then growing x1.5 (jitter: x0.8-1.2)."""
    make_study(store, "soon", f"{OBJ}:quadratic", [{"x": 1.0}], max_evals=2)
    pauses = []

    def record(self, seconds, *, until):
        pauses.append(seconds)
        if len(pauses) == 7:
            self.request_stop()

    monkeypatch.setattr(_loop.Worker, "_sleep", record)
    summary = run_worker(store, study="soon", poll_interval=0.8)
    assert summary.done == 1
    expected = [0.05, 0.1, 0.2, 0.4, 0.8, 1.2, 1.8]
    assert len(pauses) == len(expected)
    for pause, want in zip(pauses, expected, strict=True):
        assert 0.8 * want <= pause <= 1.2 * want


def test_housekeeping_between_fast_trials_runs_at_most_twice_a_second(store, db_url):
    """The queue empties after every trial here; the study count of the housekeeping
    (O(study size)) must not run after each of them."""
    make_study(store, "fast", f"{OBJ}:quadratic", [{"x": 0.0}], max_evals=30)
    counted = []
    original = store.count_by_state

    def counting(study):
        counted.append(study)
        return original(study)

    def feed():  # one queued trial at a time, the next once the last is done
        with open_store(db_url) as other:
            for _ in range(29):
                wait_until(lambda: other.count_by_state("fast")[TrialState.NEW] == 0)
                other.insert_trials("fast", [NewTrial(params={}, config={"x": 1.0})])

    feeder = in_thread(feed)
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store, "count_by_state", counting)
        summary = run_worker(store, study="fast", max_trials=30, poll_interval=0.05)
    elapsed = time.monotonic() - started
    feeder.join()
    assert summary.done == 30
    assert len(counted) <= 2 + elapsed / _loop._MAINTENANCE_AFTER_TRIAL


def test_a_fault_in_the_housekeeping_code_surfaces_instead_of_a_skipped_pass(store):
    """Only a study gone or settings it cannot read skip a housekeeping pass: a
    TypeError of a bug there (one hid behind a name clash once) ends the worker."""
    make_study(store, "h", f"{OBJ}:quadratic", [], max_evals=1)

    def broken(**filters):
        raise TypeError("a bug in housekeeping")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store, "running_by_study", broken)
        with pytest.raises(TypeError, match="a bug in housekeeping"):
            run_worker(store, study="h", idle_timeout=5, poll_interval=0.05)


def test_housekeeping_skips_a_study_whose_settings_it_cannot_read(store, caplog):
    store.create_study("u", {"objective": f"{OBJ}:quadratic", "max_evals": "many"})
    with caplog.at_level("DEBUG", logger="hpo_service.worker"):
        summary = run_worker(store, study="u", idle_timeout=0.5, poll_interval=0.05)
    assert summary.stop_reason == "idle_timeout"
    assert any("skipped housekeeping" in r.getMessage() for r in caplog.records)
