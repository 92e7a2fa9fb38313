"""A point the user gives, which the space's own code raises for (``scope.inverse_of``
at ``d == 0``), is refused on every store path before anything is written, naming
the point, the error and the user's line: ``fmin(points_to_evaluate=...)`` and
``StoreTrials.enqueue`` on a StoreTrials, ``hpo-driver enqueue`` and ``hpo-driver
import`` (real processes), on SQLite and MongoDB.

Before, ``points_to_evaluate`` raised "the space raised ZeroDivisionError for the
point {'d': 0.0}: float division by zero" without saying which point, where, or
that nothing was queued; ``enqueue`` raised the bare ZeroDivisionError, and
``hpo-driver enqueue`` and ``import`` ended in its traceback.
"""

from __future__ import annotations

import inspect
import json

import pytest

from hpo_service import StoreTrials, fmin, rand
from hpo_service.exceptions import AllTrialsFailed, SpaceCodeError
from hpo_service.store import open_store
from tests.e2e import objectives

DRIVER = "hpo_service.driver.cli"
_SOURCE, _FIRST = inspect.getsourcelines(objectives.inverse_of)
_LINE = _FIRST + next(i for i, t in enumerate(_SOURCE) if "return 1 / d" in t)
WHERE = f"(in inverse_of at {objectives.__file__}:{_LINE})"


def _refusal(what: str, nothing: str = "nothing was queued") -> str:
    return (
        f"{what}: the space raised ZeroDivisionError for the point {{'d': 0.0}}: "
        f"float division by zero {WHERE}; {nothing}: a given point whose config the "
        "space's own code cannot make is refused (a sampled one ends as an error "
        "trial)"
    )


def _trial_count(db: str, study: str) -> int:
    with open_store(db) as store:
        return sum(store.count_by_state(study).values())


def test_points_to_evaluate_on_a_store_refuses_the_point_by_number(any_db):
    trials = StoreTrials(any_db, study="p")
    try:
        with pytest.raises(SpaceCodeError) as raised:
            fmin(objectives.sum_of_squares, objectives.sometimes_inverse_space,
                 algo=rand.suggest, max_evals=3, trials=trials, rstate=1,
                 points_to_evaluate=[{"d": 1.0}, {"d": 0.0}],
                 show_progressbar=False)  # fmt: skip
    finally:
        trials.close()
    assert str(raised.value) == _refusal("point 1")
    assert isinstance(raised.value.__cause__, ZeroDivisionError)
    with open_store(any_db) as store:  # refused before anything was written
        assert [s.name for s in store.list_studies()] == []


def test_enqueue_and_import_refuse_the_point_and_write_nothing(procs, any_db, tmp_path):
    """A study of ``inverse_space`` (every sampled point raises: 2 error trials),
    then the same point given by each path."""
    trials = StoreTrials(any_db, study="s")
    try:
        with pytest.raises(AllTrialsFailed):
            fmin(objectives.sum_of_squares, objectives.inverse_space,
                 algo=rand.suggest, max_evals=2, trials=trials, rstate=1,
                 catch_eval_exceptions=True, show_progressbar=False)  # fmt: skip
        with pytest.raises(SpaceCodeError) as raised:
            trials.enqueue([{"d": 0.0}])
    finally:
        trials.close()
    assert str(raised.value) == _refusal("point 0")
    run = procs.run(DRIVER, "enqueue", "--db", any_db, "--study", "s",
                    "--params", '{"d": 0.0}')  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert run.stderr.strip() == f"Error: {_refusal('point 0')}", run.stderr
    source = tmp_path / "a.json"
    record = {"tid": 0, "state": "done", "params": {"d": 0.0},
              "result": {"loss": 1.0, "status": "ok"}}  # fmt: skip
    source.write_text(json.dumps([record]))
    run = procs.run(DRIVER, "import", "--db", any_db, "--study", "s", str(source))
    assert run.returncode == 1, run.stderr
    assert _refusal("a.json#0", "nothing was imported") in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
    assert _trial_count(any_db, "s") == 2  # the sampled points' error trials only
