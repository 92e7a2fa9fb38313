"""Fixtures for worker tests: a SQLite store in a temporary directory and studies."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hpo_service._common.settings import StudySettings
from hpo_service.store import BaseTrialStore, NewTrial, open_store

REPO = Path(__file__).resolve().parents[2]
OBJ = "tests.helpers.objectives"


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'worker.sqlite'}"


@pytest.fixture
def store(db_url) -> Iterator[BaseTrialStore]:
    with open_store(db_url) as opened:
        yield opened


def make_study(
    store: BaseTrialStore,
    name: str,
    objective: str,
    configs: list[Any],
    **settings: Any,
) -> list[int]:
    """Create study ``name`` running ``objective`` and queue one trial per config."""
    settings.setdefault("max_evals", len(configs))
    full = StudySettings(
        objective=objective, space={}, space_fingerprint="test", **settings
    )
    store.create_study(name, full.to_dict())
    return store.insert_trials(name, [NewTrial(params={}, config=c) for c in configs])


def wait_until(condition: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll ``condition`` until it is truthy; fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.02)
    return value


def lines(path: Path) -> list[str]:
    """The lines of a file the ``sleeps`` objective logs to ([] if none yet)."""
    return path.read_text().splitlines() if path.exists() else []
