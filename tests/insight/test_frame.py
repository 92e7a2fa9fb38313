"""``trials_dataframe``: a study's trials as a pandas DataFrame, the same rows as
``hpo-driver trials --format csv`` (a study run by real workers), and an in-process
``Trials`` with several objectives, constraints, an error and a pruned trial."""

from __future__ import annotations

import io

import pytest

from hpo_service import TrialPruned, Trials, fmin, hp, rand
from hpo_service.insight import trials_dataframe

from ._support import hpo_driver, run_demo_study

pd = pytest.importorskip("pandas")


def test_a_stored_study_gives_the_rows_and_columns_of_the_csv_export(tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    run_demo_study(db, 12, objective="narrow")
    run = hpo_driver("trials", "--db", db, "--study", "demo", "--format", "csv")
    assert run.returncode == 0, run.stderr[-3000:]
    expected = pd.read_csv(io.StringIO(run.stdout))
    for key in ("created_at", "started_at", "finished_at"):
        expected[key] = pd.to_datetime(expected[key], utc=True, format="ISO8601")

    frame = trials_dataframe(db, "demo")
    assert list(frame.columns) == list(expected.columns)
    assert set(frame["state"]) == {"done", "error"}  # it fails for x > 3, x < -4.5
    assert frame["param.model.value"].notna().all()  # choices by their option too
    assert isinstance(frame["finished_at"].dtype, pd.DatetimeTZDtype)
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)

    from hpo_service import StoreTrials

    store_trials = StoreTrials(db, study="demo")
    pd.testing.assert_frame_equal(trials_dataframe(store_trials), frame)


def test_in_process_trials_give_one_row_per_trial_errors_and_pruned_ones_too():
    outcomes = iter(["ok", "ok", "error", "pruned", "ok", "infeasible"])

    def objective(config):
        outcome = next(outcomes)
        if outcome == "error":
            raise ValueError("diverged")
        if outcome == "pruned":
            raise TrialPruned()
        size = 9.0 if outcome == "infeasible" else 1.0
        return {"loss": [config["x"], 1 - config["x"]], "constraints": [size - 5],
                "accuracy": 0.5, "status": "ok"}  # fmt: skip

    trials = Trials(objectives=["error", "latency"])
    space = {"x": hp.uniform("x", 0, 1), "k": hp.choice("k", ["a", "b"])}
    fmin(objective, space, algo=rand.suggest, max_evals=6, trials=trials,
         catch_eval_exceptions=True, show_progressbar=False)  # fmt: skip
    frame = trials_dataframe(trials)
    assert list(frame["tid"]) == list(range(6))
    assert list(frame["state"]) == ["done", "done", "error", "pruned", "done", "done"]
    assert frame["error_type"][2] == "ValueError"
    assert frame["error_message"][2] == "diverged"
    # feasible as best and the Pareto front count it: a success within constraints
    assert list(frame["feasible"]) == [True, True, False, False, True, False]
    done = frame[frame["state"] == "done"]
    assert list(done["objective.error"]) == list(done["param.x"])
    assert list(done["objective.latency"]) == list(1 - done["param.x"])
    assert (done["result.accuracy"] == 0.5).all()
    assert frame["param.k"].isin([0, 1]).all()
    assert frame["started_at"].notna().all()
    with pytest.raises(TypeError, match="needs `study`"):
        trials_dataframe("sqlite:///x.sqlite")
