"""``hpo-driver start --workers K`` of a study that already finished its budget
starts no local worker (real processes)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import QUADRATIC


@pytest.mark.parametrize("max_evals", ["1", "2"])
def test_a_finished_study_resumed_with_workers_starts_none(procs, tmp_path, max_evals):
    """It warned "nothing more to run", then started its local worker anyway (and
    logged it); with the same budget as finished, likewise without the warning."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    start = ["hpo_service.driver", "start", "--db", db, "--study", "e",
             "--no-progress"]  # fmt: skip
    first = procs.run(*start, *QUADRATIC, "--max-evals", "2", "--workers", "1")
    assert first.returncode == 0, first.stderr
    assert "started 1 local worker" in first.stderr  # the first run had one
    again = procs.run(*start, "--max-evals", max_evals, "--workers", "1")
    assert again.returncode == 0, again.stderr
    assert "local worker" not in again.stderr, again.stderr
    assert "study 'e' finished" in again.stdout, again.stdout
