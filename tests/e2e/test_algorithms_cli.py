"""`hpo-driver start --algo ...`: grid runs to exhaustion, settings are checked before
anything is written, and a resumed study may switch algorithm."""

from __future__ import annotations

import json

import pytest

from hpo_service.exceptions import StudyNotFoundError
from hpo_service.store import TrialState, open_store

DRIVER = "hpo_service.driver.cli"
OBJECTIVE = ["--objective", "tests.e2e.objectives:quadratic"]


def start(db, study, space, *extra):
    space_ref = f"tests.e2e.objectives:{space}"
    return ["start", "--db", db, "--study", study, *OBJECTIVE,
            "--space", space_ref, "--no-progress", *extra]  # fmt: skip


def settings_of(db, study):
    with open_store(db) as store:
        return store.get_study(study).settings


def no_study(db, study):
    with open_store(db) as store:
        with pytest.raises(StudyNotFoundError):
            store.get_study(study)
        return True


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'hpo.sqlite'}"


def test_grid_runs_every_point_once_and_the_study_ends_exhausted(procs, db):
    args = start(db, "g", "grid_space", "--algo", "grid", "--max-evals", "100")
    run = procs.run(DRIVER, *args, "--workers", "2")
    assert run.returncode == 0, run.stderr
    assert "finished: its search space was exhausted; " in run.stdout
    with open_store(db) as store:
        trials = store.get_trials("g")
    assert {t.state for t in trials} == {TrialState.DONE}
    points = [(t.params["x"], t.params["y"]) for t in trials]
    # x in -2..2 (5 values) times y's 2 options, in grid order: y varies fastest.
    assert points == [(x, y) for x in (-2.0, -1.0, 0.0, 1.0, 2.0) for y in (0, 1)]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--algo", "grid"], "'x' (uniform: continuous)"),
        (  # a typo is answered with the setting meant (before: only the list)
            ["--algo-settings", '{"gama": 0.2}'],
            "but got unknown=['gama']; did you mean 'gamma'?",
        ),
        (
            ["--algo", "anneal", "--algo-setting", "shrink_coeff=0.1"],
            "anneal settings: `settings` must be among ['avg_best_idx', "
            "'shrink_coef'], but got unknown=['shrink_coeff']; did you mean "
            "'shrink_coef'?",
        ),
        (["--algo-settings", "[1, 2]"], "'--algo-settings'"),
        (["--algo-settings", "{oops"], "must be a JSON object"),
        (
            ["--algo-settings", "gamma=0.2"],
            "(Expecting value: line 1 column 1 (char 0)); one KEY=VALUE is "
            "--algo-setting gamma=0.2",
        ),
        (  # several pairs: one flag each, not one flag holding them all
            ["--algo-settings", "gamma=0.2,n_ei_candidates=48"],
            "; each KEY=VALUE is one --algo-setting: --algo-setting gamma=0.2 "
            "--algo-setting n_ei_candidates=48",
        ),
        (["--algo", "anneal", "--algo-setting", "shrink_coef=-1"], "shrink_coef"),
        (["--algo", "rand", "--algo-setting", "gamma=0.2"], "takes no settings"),
        (["--algo-setting", "novalue"], "KEY=VALUE"),
        (
            ["--algo-settings", '{"branch_joint": "yes"}'],
            "Invalid value for '--algo-settings': `branch_joint in (True",
        ),
        (
            ["--algo-setting", "whole_end_bins=no"],
            "Invalid value for '--algo-setting': `whole_end_bins in (True",
        ),
        (
            ["--algo", "motpe", "--algo-setting", "n_ei_candidates=2.5"],
            "Invalid value for '--algo-setting': `n_ei_candidates is an int`",
        ),
        (
            ["--algo", "mix", "--algo-settings", '{"p_suggest": [[0.5, "tpe"]]}'],
            "sum to 1",
        ),
        (
            ["--algo", "mix", "--algo-settings", '{"p_suggest": [[1, "grid"]]}'],
            "must not hold grid",
        ),
    ],
)
def test_bad_algorithm_input_is_refused_before_anything_is_written(
    procs, db, extra, message
):
    run = procs.run(DRIVER, *start(db, "bad", "space", "--max-evals", "5", *extra))
    assert run.returncode == 2, run.stderr
    assert message in run.stderr
    assert "Traceback" not in run.stderr
    assert no_study(db, "bad")


def test_settings_are_stored_and_a_resume_may_switch_algorithm(procs, db):
    first = start(db, "s", "space", "--max-evals", "4", "--workers", "1")
    tuned = ["--algo-settings", '{"n_startup_jobs": 2}', "--algo-setting", "gamma=0.3"]
    run = procs.run(DRIVER, *first, *tuned)
    assert run.returncode == 0, run.stderr
    stored = settings_of(db, "s")
    assert stored["algorithm"] == "tpe"
    assert stored["algorithm_settings"] == {"n_startup_jobs": 2, "gamma": 0.3}

    # Settings given again replace the stored ones as a whole, and say so.
    again = start(db, "s", "space", "--max-evals", "5", "--workers", "1")
    run = procs.run(DRIVER, *again, "--algo-setting", "gamma=0.2")
    assert run.returncode == 0, run.stderr
    said = " ".join(run.stderr.split())
    assert "tpe settings {'n_startup_jobs': 2, 'gamma': 0.3} -> {'gamma': 0.2}" in said
    assert settings_of(db, "s")["algorithm_settings"] == {"gamma": 0.2}

    # No --override needed: the new algorithm learns from the whole history, and the
    # old algorithm's settings do not follow it.
    more = start(db, "s", "space", "--max-evals", "8", "--workers", "1")
    run = procs.run(DRIVER, *more, "--algo", "anneal")
    assert run.returncode == 0, run.stderr
    assert "algorithm tpe -> anneal" in run.stderr
    stored = settings_of(db, "s")
    assert (stored["algorithm"], stored["algorithm_settings"]) == ("anneal", {})

    # Resuming without --algo keeps the study's algorithm.
    run = procs.run(
        DRIVER, *start(db, "s", "space", "--max-evals", "10", "--workers", "1")
    )
    assert run.returncode == 0, run.stderr
    assert settings_of(db, "s")["algorithm"] == "anneal"
    with open_store(db) as store:
        assert store.count_by_state("s")[TrialState.DONE] == 10
    assert json.dumps(stored)  # stored settings stay plain JSON


def test_switches_take_json_and_python_spellings(procs, db):
    # "False" as text would be a true string: it is read as False, as false is.
    switches = []
    for pair in ("branch_joint=False", "whole_end_bins=True", "multivariate=true"):
        switches += ["--algo-setting", pair]
    args = start(db, "b", "space", "--max-evals", "2", "--workers", "1", *switches)
    run = procs.run(DRIVER, *args)
    assert run.returncode == 0, run.stderr
    assert settings_of(db, "b")["algorithm_settings"] == {
        "branch_joint": False,
        "whole_end_bins": True,
        "multivariate": True,
    }


def test_mix_and_hyperopt_spellings_over_a_numpy_space(procs, db):
    """`--algo mix` with hyperopt's TPE spelling inside, on a space holding numpy
    values: the study is created, stored as plain JSON, and runs to the end."""
    mixture = {"p_suggest": [[0.5, "rand"], [0.5, "tpe", {"n_EI_candidates": 8}]]}
    args = start(db, "m", "numpy_space", "--max-evals", "6", "--workers", "1",
                 "--algo", "mix", "--algo-settings", json.dumps(mixture))  # fmt: skip
    run = procs.run(DRIVER, *args)
    assert run.returncode == 0, run.stderr
    stored = settings_of(db, "m")
    assert stored["algorithm_settings"] == {
        "p_suggest": [[0.5, "rand", {}], [0.5, "tpe", {"n_ei_candidates": 8}]]
    }
    with open_store(db) as store:
        trials = store.get_trials("m")
    assert [t.state for t in trials] == [TrialState.DONE] * 6
    assert all(t.config["y"] == -2 and t.config["on"] is True for t in trials)
    assert {type(t.config["d"]) for t in trials} == {int}
