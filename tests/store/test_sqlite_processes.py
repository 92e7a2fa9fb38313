"""The SQLite store under real processes (spawned, each with its own connection)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hpo_service.store import BaseTrialStore, NewTrial, TrialState, open_store

CTX = multiprocessing.get_context("spawn")
TIMEOUT = 60.0


def objective(config: dict[str, Any]) -> float:
    return (config["x"] - 3.0) ** 2


# ---- code run in the child processes -------------------------------------------------


def drain(url: str, name: str, start: Any, out: Any) -> None:
    """Claim and complete until the queue is empty; report (tid, accepted) pairs."""
    done = []
    with open_store(url) as store:
        start.wait(TIMEOUT)
        while (trial := store.claim(name, 30.0, study="s")) is not None:
            result = {"loss": objective(trial.config), "by": name}
            done.append(
                (trial.tid, store.complete("s", trial.tid, trial.token, result))
            )
    out.put((name, done))


def claim_then_hang(url: str, lease: float, out: Any) -> None:
    """Claim one trial, report it, then hang forever (until killed)."""
    with open_store(url) as store:
        trial = store.claim("doomed", lease, study="s")
        out.put((trial.tid, trial.token))
        time.sleep(TIMEOUT)


def claim_then_report_late(url: str, lease: float, resume: Any, out: Any) -> None:
    """Claim one trial, report it, wait to be resumed, then try to complete it."""
    with open_store(url) as store:
        trial = store.claim("slow", lease, study="s")
        out.put((trial.tid, trial.token))
        resume.wait(TIMEOUT)
        out.put(store.complete("s", trial.tid, trial.token, {"loss": -1.0}))


# ---- tests ---------------------------------------------------------------------------


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'trials.sqlite'}"


@pytest.fixture
def store(url: str) -> Iterator[BaseTrialStore]:
    with open_store(url) as opened:
        opened.create_study("s", {})
        yield opened


@pytest.fixture
def processes() -> Iterator[list[Any]]:
    started: list[Any] = []
    yield started
    for process in started:
        if process.is_alive():
            process.kill()
        process.join(TIMEOUT)


def start(processes: list[Any], target: Any, *args: Any) -> Any:
    process = CTX.Process(target=target, args=args, daemon=True)
    process.start()
    processes.append(process)
    return process


def insert(store: BaseTrialStore, n: int) -> None:
    trials = [NewTrial({"x": float(i)}, {"x": float(i)}) for i in range(n)]
    store.insert_trials("s", trials)


def test_eight_processes_complete_every_trial_exactly_once(
    url: str, store: BaseTrialStore, processes: list[Any]
) -> None:
    insert(store, 2000)
    go, out = CTX.Event(), CTX.Queue()
    for i in range(8):
        start(processes, drain, url, f"w{i}", go, out)
    go.set()
    reports = dict(out.get(timeout=TIMEOUT) for _ in range(8))
    tids = [tid for done in reports.values() for tid, _ in done]
    assert sorted(tids) == list(range(2000))  # nobody ran a trial twice
    assert all(ok for done in reports.values() for _, ok in done)
    assert sum(1 for done in reports.values() if done) >= 2
    trials = store.get_trials("s")
    assert {t.state for t in trials} == {TrialState.DONE}
    assert all(t.attempts == 1 for t in trials)
    assert all(t.result["loss"] == objective(t.config) for t in trials)
    assert all(t.result["by"] == t.owner for t in trials)


def test_killed_worker_trial_is_requeued_and_finished_by_another(
    url: str, store: BaseTrialStore, processes: list[Any]
) -> None:
    insert(store, 1)
    out = CTX.Queue()
    doomed = start(processes, claim_then_hang, url, 0.5, out)
    tid, _ = out.get(timeout=TIMEOUT)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.join(TIMEOUT)
    assert doomed.exitcode == -signal.SIGKILL
    assert store.get_trial("s", tid).state is TrialState.RUNNING
    lease_ended(store, tid)
    assert store.requeue_expired(max_attempts=3).requeued == [("s", tid)]
    go, report = CTX.Event(), CTX.Queue()  # a queue the killed process never touched
    go.set()
    rescuer = start(processes, drain, url, "rescuer", go, report)
    assert report.get(timeout=TIMEOUT) == ("rescuer", [(tid, True)])
    rescuer.join(TIMEOUT)
    assert rescuer.exitcode == 0
    trial = store.get_trial("s", tid)
    assert trial.state is TrialState.DONE
    assert trial.attempts == 2 and trial.owner == "rescuer"


def lease_ended(store: BaseTrialStore, tid: int) -> None:
    """Wait until trial ``tid``'s lease has run out by the store's clock."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        expires = store.get_trial("s", tid).lease_expires_at
        if expires is not None and store.now() > expires:
            return
        assert time.monotonic() < deadline, f"trial {tid}'s lease never ran out"
        time.sleep(0.05)


def test_late_result_of_an_expired_attempt_is_refused(
    url: str, store: BaseTrialStore, processes: list[Any]
) -> None:
    insert(store, 1)
    resume, out = CTX.Event(), CTX.Queue()
    start(processes, claim_then_report_late, url, 0.3, resume, out)
    tid, token = out.get(timeout=TIMEOUT)
    lease_ended(store, tid)
    assert store.requeue_expired(max_attempts=3).requeued == [("s", tid)]
    retry = store.claim("fresh", 30.0, study="s")
    assert retry.tid == tid and retry.token != token
    assert store.complete("s", tid, retry.token, {"loss": 7.0})
    resume.set()
    assert out.get(timeout=TIMEOUT) is False
    assert store.get_trial("s", tid).result == {"loss": 7.0}
