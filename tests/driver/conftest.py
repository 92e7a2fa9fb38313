"""Fixtures for driver tests: a SQLite store and in-thread stand-in workers."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hpo_service.store import BaseTrialStore, open_store


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'study.sqlite'}"


@pytest.fixture
def store(db_url) -> Iterator[BaseTrialStore]:
    with open_store(db_url) as opened:
        yield opened


class ThreadWorkers:
    """Claims and completes trials in threads, evaluating ``fn`` on each config.

    A stand-in for real workers in driver tests (real worker processes are tested in
    tests/worker and tests/e2e); it uses only the public store API. ``fn`` returns a
    loss or a result dict.
    """

    def __init__(self, db_url: str, fn: Callable[[Any], float], n: int = 2) -> None:
        self._db_url = db_url
        self._fn = fn
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, daemon=True) for _ in range(n)
        ]
        self.completed: list[int] = []

    def __enter__(self) -> ThreadWorkers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _work(self) -> None:
        owner = f"thread-{uuid.uuid4().hex[:6]}"
        with open_store(self._db_url) as store:
            while not self._stop.is_set():
                trial = store.claim(owner, 30.0)
                if trial is None:
                    self._stop.wait(0.005)
                    continue
                value = self._fn(trial.config)  # a loss, or a whole result dict
                result = value if isinstance(value, dict) else {"loss": value}
                result = {"status": "ok", **result}
                if store.complete(trial.study, trial.tid, trial.token, result):
                    self.completed.append(trial.tid)


@pytest.fixture
def thread_workers() -> type[ThreadWorkers]:
    return ThreadWorkers
