"""A point holding a value no parameter takes (NaN, an infinity, no number) is
refused with one message on every path a user's point takes: ``hpo-driver
enqueue``, ``hpo-driver import`` (into a study with a space, and ``--create``),
``StoreTrials.enqueue``, ``fmin(points_to_evaluate=...)`` on a store and in process,
and ``generate_trials_to_calculate``. Before, ``fmin`` on a store said only
"params['x'] must be a finite number, but got nan" (no point named), and in
process a NaN or infinite point was evaluated as given (an error trial, or the
objective called with x=inf). Real ``hpo-driver`` processes on SQLite."""

from __future__ import annotations

import math

import pytest

from hpo_service import StoreTrials, fmin, generate_trials_to_calculate, rand
from hpo_service.driver._study import open_study, space_settings
from hpo_service.exceptions import SpaceError
from hpo_service.store import open_store
from tests.e2e import objectives

DRIVER = "hpo_service.driver.cli"
STUDY = {"objective": "tests.e2e.objectives:quadratic", "max_evals": 4}
NAN = "params['x'] must be a finite number, but got nan"
INF = "params['x'] must be a finite number, but got inf"


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    with open_store(url, create=True) as store:
        open_study(store, "s", {**STUDY, **space_settings(objectives.space)})
    return url


def refusal(run) -> str:
    assert run.returncode == 1, run.stdout
    assert "Traceback" not in run.stderr, run.stderr
    return " ".join(run.stderr.split())


def test_the_commands_refuse_a_non_finite_point_naming_it(procs, db, tmp_path):
    study = ["--db", db, "--study", "s"]
    queued = procs.run(DRIVER, "enqueue", *study, "--params", '{"x": 1, "y": 0}',
                       "--params", '{"x": NaN, "y": 0}')  # fmt: skip
    assert refusal(queued) == f"Error: point 1 does not fit the study's space: {NAN}"
    source = tmp_path / "a.csv"
    source.write_text("tid,state,loss,param.x,param.y\n0,done,1.0,inf,0.0\n")
    into = procs.run(DRIVER, "import", *study, str(source))
    assert refusal(into).endswith(f"a.csv#0 does not fit the study's space: {INF}")
    made = procs.run(DRIVER, "import", "--db", db, "--study", "new", "--create",
                     str(source))  # fmt: skip
    assert refusal(made).endswith(f"a.csv#0 does not fit any space: {INF}")
    with open_store(db) as store:
        assert store.get_trials("s") == []
        assert [s.name for s in store.list_studies()] == ["s"]


@pytest.mark.parametrize("value", [math.nan, math.inf, "1.0", None])
def test_python_paths_refuse_a_non_finite_point_with_the_same_words(db, value):
    shown = f"params['x'] must be a finite number, but got {value!r}"
    if value is None:  # no value: x is missing, a misfit of another kind
        shown = "params must hold active parameter 'x'"
    point = {"x": value, "y": 0.0} if value is not None else {"y": 0.0}
    calls = []

    def objective(config):
        calls.append(config)
        return 0.0

    def search(**given):
        return fmin(objective, objectives.space, algo=rand.suggest, max_evals=2,
                    show_progressbar=False, **given)  # fmt: skip

    in_process = f"point 0 does not fit the space: {shown}"
    if value is not None:
        with pytest.raises(SpaceError) as e:
            search(points_to_evaluate=[point])
        assert str(e.value) == in_process
        with pytest.raises(SpaceError) as e:
            search(trials=generate_trials_to_calculate([point]))
        assert str(e.value) == in_process
        assert calls == []
    on_store = f"point 0 does not fit the study's space: {shown}"
    trials = StoreTrials(db, study="s")
    try:
        with pytest.raises(ValueError) as e:
            trials.enqueue([point])
        assert str(e.value) == on_store
        other = StoreTrials(db, study="t")
        with pytest.raises(SpaceError) as e:
            fmin(objectives.quadratic, objectives.space, max_evals=2, trials=other,
                 points_to_evaluate=[point], show_progressbar=False)  # fmt: skip
        assert str(e.value) == on_store
        other.close()
        assert trials.store.get_trials("s") == []
        assert [s.name for s in trials.store.list_studies()] == ["s"]
    finally:
        trials.close()
