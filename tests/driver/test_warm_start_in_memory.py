"""From Python, hyperopt's warm start ``fmin(..., trials=old_trials)`` on a store:
``StoreTrials.import_results(old_trials, create=True)`` takes a hyperopt ``Trials``
in memory, then ``fmin(..., trials=store_trials)`` runs on from that history (with
a real worker process)."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_service import StoreTrials, fmin, hp, tpe
from hpo_service.exceptions import StudyMismatchError, StudyNotFoundError
from tests.e2e.objectives import always_fails, quadratic

hyperopt = pytest.importorskip("hyperopt")

SPACE = {"x": hp.uniform("x", -5.0, 5.0), "y": hp.uniform("y", -5.0, 5.0)}


def their_trials(n: int = 5) -> object:
    theirs = hyperopt.Trials()
    hyperopt.fmin(quadratic, {"x": hyperopt.hp.uniform("x", -5, 5),
                              "y": hyperopt.hp.uniform("y", -5, 5)},
                  algo=hyperopt.rand.suggest, max_evals=n, trials=theirs,
                  rstate=np.random.default_rng(7), show_progressbar=False)  # fmt: skip
    return theirs


def test_fmin_on_a_store_runs_on_from_a_hyperopt_trials_in_memory(db_url):
    theirs = their_trials()
    trials = StoreTrials(db_url, study="warm", workers=1)
    with pytest.raises(StudyNotFoundError):
        trials.import_results(theirs)  # the study must exist, unless create=True
    assert trials.import_results(theirs, create=True) == [0, 1, 2, 3, 4]
    assert [d["misc"]["vals"]["x"] for d in trials.trials] == [
        [v] for v in theirs.vals["x"]
    ]  # readable before the space is known
    narrow = {"x": hp.uniform("x", -0.1, 0.1), "y": hp.uniform("y", -5.0, 5.0)}
    with pytest.raises(StudyMismatchError) as misfit:
        fmin(quadratic, narrow, algo=tpe.suggest, max_evals=7, trials=trials,
             show_progressbar=False)  # fmt: skip
    # in the words of fmin's user, who typed no --space
    said = str(misfit.value)
    assert "must fit the given space (fmin's `space`), but got misfits=" in said
    assert "--space" not in said, said
    best = fmin(quadratic, SPACE, algo=tpe.suggest, max_evals=7, trials=trials,
                show_progressbar=False)  # fmt: skip
    docs = trials.trials
    assert all(set(d["misc"]["vals"]) == {"x", "y"} for d in docs)
    assert len(docs) == 7  # as hyperopt's: the old trials count toward max_evals
    losses = [d["result"]["loss"] for d in docs]
    assert losses[:5] == pytest.approx(theirs.losses())
    lowest = docs[int(np.argmin(losses))]["misc"]["vals"]
    assert best == {label: values[0] for label, values in lowest.items()}
    trials.close()


def test_a_study_made_by_an_import_takes_the_objectives_the_file_names(store):
    """The objectives' names and count a file gives are the new study's from its
    creation (a later start may not name others without --override)."""
    from hpo_service.driver._warm_start import Evaluated, import_results

    def record(tid, losses):
        return Evaluated({"x": float(tid)}, {"loss": losses, "status": "ok"},
                         f"file#{tid}", names=("err", "size"))  # fmt: skip

    report = import_results(store, "mo", [record(0, [1.0, 2.0]), record(1, [2.0, 1.0])],
                            create=True)  # fmt: skip
    assert report.created and report.imported == [0, 1]
    settings = store.get_study("mo").settings
    assert settings["objective_names"] == ["err", "size"]
    assert settings["n_objectives"] == 2
    assert settings["space"] is None and settings["max_evals"] is None
    with pytest.raises(ValueError, match=r"file#2: .*2 objectives.*got 3"):
        import_results(store, "mo", [record(2, [1.0, 2.0, 3.0])], create=True)


def test_trial_dicts_list_every_label_once_the_space_is_given(db_url):
    """Before fmin gives the space, an imported trial's ``misc.vals`` holds its own
    labels; after, every label of the space (``[]`` for an inactive one), as
    hyperopt's trial dicts do."""
    branchy = {
        "m": hyperopt.hp.choice(
            "m",
            [
                {"a": hyperopt.hp.uniform("a", 0, 1)},
                {"b": hyperopt.hp.uniform("b", 0, 1)},
            ],
        )
    }
    theirs = hyperopt.Trials()
    hyperopt.fmin(lambda c: sum(c["m"].values()), branchy, algo=hyperopt.rand.suggest,
                  max_evals=4, trials=theirs, rstate=np.random.default_rng(1),
                  show_progressbar=False)  # fmt: skip
    trials = StoreTrials(db_url, study="branchy")
    assert trials.import_results(theirs, create=True) == [0, 1, 2, 3]
    before = [d["misc"]["vals"] for d in trials.trials]
    assert len(before) == 4  # the checks below hold for any trial: none must not pass
    assert all(set(vals) == {"m", "a"} or set(vals) == {"m", "b"} for vals in before)
    ours = {"m": hp.choice("m", [{"a": hp.uniform("a", 0, 1)},
                                 {"b": hp.uniform("b", 0, 1)}])}  # fmt: skip
    fmin(always_fails, ours, max_evals=4, trials=trials, show_progressbar=False)
    after = [d["misc"]["vals"] for d in trials.trials]  # the budget was spent: no run
    assert all(set(vals) == {"m", "a", "b"} for vals in after)
    assert [{k: v for k, v in vals.items() if v} for vals in after] == before
    trials.close()
