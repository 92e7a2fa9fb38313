"""Two writers of a study's settings interleaving: neither change may be lost.

Each test lets a concurrent writer land right before one side's settings write, which
is the moment a read-modify-write of the whole settings (read, then write back what was
read plus one key) would overwrite the other writer's change with the stale copy.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hpo_service.driver._study import open_study, space_settings
from hpo_service.driver._study_loop import Driver, DriverOptions
from hpo_service.driver.cli import main as driver_cli
from hpo_service.store import BaseTrialStore, open_store
from hpo_service.store._sqlite import SQLiteTrialStore
from tests.helpers.multi_objective import space, two_losses

REPO = Path(__file__).resolve().parents[2]
FAST = DriverOptions(progress=False, min_poll=0.005, max_poll=0.05)
_SETTINGS_WRITES = ("update_study_settings", "patch_study_settings")


def new_study(store: BaseTrialStore, name: str) -> Any:
    given = {
        "objective": "tests.helpers.multi_objective:two_losses",
        **space_settings(space),
        "max_evals": 200,
        "seed": 1,
    }
    return open_study(store, name, given)[0]


def before_first_settings_write(
    monkeypatch: pytest.MonkeyPatch, action: Callable[[], None]
) -> list[str]:
    """Run ``action`` once, just before this process's first settings write.

    Returns the names of the settings writes seen (to show the hook fired).
    """
    seen: list[str] = []
    for name in _SETTINGS_WRITES:
        original = getattr(SQLiteTrialStore, name, None)
        if original is None:  # an older store without this operation
            continue

        def hooked(self: Any, *args: Any, _f: Any = original, **kw: Any) -> Any:
            seen.append(_f.__name__)
            if len(seen) == 1:
                action()
            return _f(self, *args, **kw)

        monkeypatch.setattr(SQLiteTrialStore, name, hooked)
    return seen


def test_a_cancel_survives_the_driver_recording_the_objective_count(
    store, db_url, thread_workers, monkeypatch
):
    """`hpo-driver cancel` (another process) lands as the driver records the count."""
    settings = new_study(store, "mo")

    def cancel_from_another_process() -> None:
        done = subprocess.run(
            [sys.executable, "-m", "hpo_service.driver", "cancel", "--study", "mo",
             "--db", db_url],
            cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    seen = before_first_settings_write(monkeypatch, cancel_from_another_process)
    with thread_workers(db_url, lambda c: two_losses(c)["loss"]):
        outcome = Driver(store, "mo", settings, space, options=FAST).run()
    assert seen  # the driver did write the count, after the cancel
    stored = store.get_study("mo").settings
    assert stored["n_objectives"] == 2
    assert stored["cancelled"] is True
    assert outcome.reason == "cancelled"


def test_the_objective_count_survives_a_concurrent_cancel(store, db_url, monkeypatch):
    """The count is recorded (a whole read-modify-write elsewhere) during a cancel."""
    new_study(store, "mo")

    def record_count_elsewhere() -> None:
        with open_store(db_url) as other:
            current = other.get_study("mo").settings
            other.update_study_settings("mo", {**current, "n_objectives": 2})

    seen = before_first_settings_write(monkeypatch, record_count_elsewhere)
    result = CliRunner().invoke(driver_cli, ["cancel", "--study", "mo", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert seen
    stored = store.get_study("mo").settings
    assert stored["cancelled"] is True
    assert stored["n_objectives"] == 2


def test_resuming_keeps_a_concurrent_cancel_and_unknown_keys(
    store, db_url, monkeypatch
):
    """A resume writes only what it changes; a newer version's key stays too."""
    new_study(store, "mo")
    newer = {**store.get_study("mo").settings, "from_a_newer_version": {"k": 1}}
    store.update_study_settings("mo", newer)

    def cancel_elsewhere() -> None:
        with open_store(db_url) as other:
            current = other.get_study("mo").settings
            other.update_study_settings("mo", {**current, "cancelled": True})

    seen = before_first_settings_write(monkeypatch, cancel_elsewhere)
    given = {**space_settings(space), "max_evals": 300}
    settings, created = open_study(store, "mo", given)
    assert not created and settings.max_evals == 300
    assert seen
    stored = store.get_study("mo").settings
    assert stored["max_evals"] == 300
    assert stored["cancelled"] is True  # the cancel came after the resume's read
    assert stored["from_a_newer_version"] == {"k": 1}
