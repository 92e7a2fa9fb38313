"""StoreTrials keeps what hyperopt users put in results: attachments stored with the
trial, numpy values as plain JSON, and a clear per-trial error for anything else."""

from __future__ import annotations

import operator
import pickle
import re

import numpy as np
import pytest

from hpo_service import (
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    StoreTrials,
    Trials,
    base,
    fmin,
    hp,
    rand,
)
from hpo_service.driver._output import status_summary, status_text
from hpo_service.exceptions import AllTrialsFailed
from hpo_service.store import NewTrial, TrialState
from tests.helpers import objectives
from tests.helpers.mongo_wire import with_database
from tests.helpers.progress import RecordedProgress

X = hp.uniform("x", -2, 2)


@pytest.fixture
def trials(db_url):
    opened = StoreTrials(db_url, study="p", workers=1)
    yield opened
    opened.close()


def test_attachments_are_stored_with_the_trial_and_read_back(trials):
    fmin(objectives.with_attachments, {"x": X}, algo=rand.suggest, max_evals=3,
         trials=trials, show_progressbar=False)  # fmt: skip
    for doc in trials.trials:
        x = doc["misc"]["vals"]["x"][0]
        assert doc["result"]["steps"] == [0, 1, 2]  # numpy array stored as a list
        assert "attachments" not in doc["result"]
        stored = trials.trial_attachments(doc)
        assert sorted(stored) == ["log", "model"]
        assert pickle.loads(stored["model"]) == {"x": x}
        assert stored["log"] == f"x={x}\n".encode()  # text comes back as UTF-8 bytes
        key = f"ATTACH::{doc['tid']}::model"
        assert pickle.loads(trials.attachments[key]) == {"x": x}
    assert len(trials.attachments) == 6
    with pytest.raises(KeyError):
        trials.trial_attachments(trials.trials[0])["missing"]


@pytest.mark.parametrize(
    ("objective", "message"),
    [
        (objectives.returns_unjsonable, "result['model'] must be JSON-serialisable"),
        (objectives.returns_big_attachment, "8 MiB"),
    ],
)
def test_a_result_the_store_cannot_hold_is_an_error_naming_the_key(
    trials, objective, message
):
    best = fmin(objective, {"x": X}, max_evals=2, trials=trials, return_argmin=False,
                show_progressbar=False)  # fmt: skip
    assert best is None
    errors = [d for d in trials._dynamic_trials if d["state"] == JOB_STATE_ERROR]
    assert len(errors) == 2
    assert message in errors[0]["misc"]["error"][1]


def test_numpy_values_in_the_space_and_points_are_stored_as_plain_json(trials):
    space = {
        "d": hp.choice("d", np.arange(1, 30)),
        "x": hp.quniform("x", 0, 4, 1),
        "const": np.int64(4),
        "flag": np.bool_(True),
    }
    points = [{"d": np.int64(2), "x": np.float32(1.0)}]
    fmin(objectives.numpy_config, space, max_evals=4, trials=trials,
         points_to_evaluate=points, show_progressbar=False)  # fmt: skip
    assert trials.store.count_by_state("p")[TrialState.DONE] == 4
    first = trials.store.get_trial("p", 0)
    assert first.params == {"d": 2, "x": 1.0}
    assert first.config == {"d": 3, "x": 1.0, "const": 4, "flag": True}
    assert first.result["loss"] == 4.0


def test_mix_and_hand_made_trial_docs_on_the_store_path(trials):
    """hyperopt's mix.suggest and new_trial_docs/insert_trial_docs with StoreTrials:
    the mixture is stored by name, the hand-made points run first."""
    from functools import partial

    from hpo_service import anneal, mix, tpe

    algo = partial(mix.suggest, p_suggest=[(0.5, anneal.suggest), (0.5, tpe.suggest)])
    fmin(objectives.quadratic, {"x": X}, algo=algo, max_evals=2, trials=trials,
         show_progressbar=False)  # fmt: skip
    stored = trials.store.get_study("p").settings
    assert stored["algorithm"] == "mix"
    assert stored["algorithm_settings"] == {
        "p_suggest": [[0.5, "anneal", {}], [0.5, "tpe", {}]]
    }
    assert trials.asynchronous
    tids = trials.new_trial_ids(1)
    misc = {"tid": tids[0], "idxs": {"x": tids}, "vals": {"x": [1.25]}}
    docs = trials.new_trial_docs(tids, [None], [{"status": "new"}], [misc])
    with pytest.warns(UserWarning, match="finished its budget"):  # fmin: more budget
        assert trials.insert_trial_docs(docs) == tids
    # hyperopt's method spelling, positional as in hyperopt's Trials.fmin
    trials.fmin(objectives.quadratic, {"x": X}, algo, 4, show_progressbar=False)
    assert trials.store.get_trial("p", tids[0]).result["loss"] == (1.25 - 3) ** 2
    with pytest.raises(ValueError, match="does not fit the study's space"):
        bad = {"tid": 9, "idxs": {"x": [9]}, "vals": {"x": [7.0]}}
        trials.insert_trial_docs(trials.new_trial_docs([9], [None], [{}], [bad]))
    with pytest.raises(NotImplementedError, match="another study name"):
        trials.delete_all()


TYPED_SPACE = {
    "pair": hp.choice("pair", [("svm", 1), ("rf", (2, 3))]),
    "keys": {1: "a", 2: hp.choice("k", [(0, 1), [2, 3]])},
    "root": (hp.uniform("y", 0, 1), "c"),
}
TYPED_POINTS = [{"pair": 1, "k": 0, "y": 0.5}, {"pair": 0, "k": 1, "y": 0.25}]


@pytest.mark.parametrize("backend", ["sqlite", "mongodb"])
def test_the_objective_gets_tuples_and_key_types_as_in_process(
    request, tmp_path, backend
):
    """A config with tuples and int dict keys reaches the objective run by a real
    hpo-worker exactly as in-process fmin passes it (JSON in the store has
    neither)."""
    in_process = Trials()
    fmin(objectives.shows_config, TYPED_SPACE, rand.suggest, max_evals=2,
         trials=in_process, points_to_evaluate=TYPED_POINTS,
         show_progressbar=False)  # fmt: skip
    shown = [r["shown"] for r in in_process.results]
    assert (
        shown[0]
        == "{'pair': ('rf', (2, 3)), 'keys': {1: 'a', 2: (0, 1)}, 'root': (0.5, 'c')}"
    )
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'typed.sqlite'}"
    else:
        url = with_database(request.getfixturevalue("mongo_url"), "typed_configs")
    store_trials = StoreTrials(url, study=f"typed-{tmp_path.name}", workers=1)
    try:
        fmin(objectives.shows_config, TYPED_SPACE, rand.suggest, max_evals=2,
             trials=store_trials, points_to_evaluate=TYPED_POINTS,
             show_progressbar=False)  # fmt: skip
        assert [r["shown"] for r in store_trials.results] == shown
    finally:
        store_trials.close()


def test_a_whole_float_max_evals_is_stored_as_its_int(trials):
    fmin(objectives.quadratic, {"x": X}, algo=rand.suggest, max_evals=3.0,
         trials=trials, show_progressbar=False)  # fmt: skip
    assert len(trials) == 3
    settings = trials.store.get_study("p").settings
    assert settings["max_evals"] == 3 and isinstance(settings["max_evals"], int)


def test_show_progressbar_takes_hyperopts_progress_callback(trials):
    recorded = RecordedProgress()
    fmin(objectives.quadratic, {"x": X}, algo=rand.suggest, max_evals=3,
         trials=trials, show_progressbar=recorded)  # fmt: skip
    assert recorded.calls[0] == ("enter", 0, 3)
    assert recorded.calls[-1] == ("exit",)
    assert recorded.finished == 3
    assert recorded.postfix.startswith("best loss: ")


def test_status_of_a_study_without_max_evals_says_unlimited(trials):
    fmin(objectives.quadratic, {"x": X}, algo=rand.suggest, max_evals=None,
         loss_threshold=100.0, trials=trials, show_progressbar=False)  # fmt: skip
    text = status_text(status_summary(trials.store, "p"))
    assert re.match(r"study 'p': [1-9]\d*/unlimited finished\n", text), text


def test_status_says_how_many_done_trials_are_infeasible(store):
    """As the report's header: done trials that break a constraint are counted."""
    store.create_study("c", {"max_evals": 4})
    results = [{"loss": 1.0, "constraints": [0.5]}, {"loss": 2.0, "constraints": [-1]}]
    results += [{"loss": 3.0, "constraints": [0.0, 2.0]}, {"loss": 4.0}]
    tids = store.insert_trials("c", [NewTrial({"x": i}, {"x": i}) for i in range(4)])
    for tid, result in zip(tids, results, strict=True):
        trial = store.claim("w", 60.0, study="c")
        assert trial.tid == tid
        store.complete("c", tid, trial.token, {**result, "status": "ok"})
    summary = status_summary(store, "c")
    assert summary["infeasible"] == 2
    assert "of the done trials, 2 infeasible (break a constraint)" in status_text(
        summary
    )


def test_points_to_evaluate_run_whenever_the_study_has_no_trials(trials):
    """As with Trials(): the points run first whenever the trials are empty, also in
    a study an earlier run created without a trial (here one stopped by its timeout
    at once). A point outside the space is refused before anything is written (on a
    store the points must fit the space, as for enqueue)."""
    space = {"x": X}
    with pytest.raises(ValueError, match=r"x=5\.0"):
        fmin(objectives.quadratic, space, max_evals=2, trials=trials,
             points_to_evaluate=[{"x": 5.0}], show_progressbar=False)  # fmt: skip
    assert trials.store.list_studies() == []
    fmin(objectives.quadratic, space, max_evals=1, trials=trials, timeout=1e-6,
         return_argmin=False, show_progressbar=False)  # fmt: skip
    assert trials.store.get_trials("p") == []
    fmin(objectives.quadratic, space, max_evals=2, trials=trials,
         points_to_evaluate=[{"x": 0.5}], show_progressbar=False)  # fmt: skip
    assert trials.store.get_trial("p", 0).params == {"x": 0.5}


@pytest.mark.parametrize("backend", ["sqlite", "mongodb"])
def test_trials_of_a_study_not_created_yet_read_as_empty(request, tmp_path, backend):
    """As hyperopt's MongoTrials before its first fmin (or a reader started before
    the driver): no trials, not an error."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    else:
        url = with_database(request.getfixturevalue("mongo_url"), "not_created_yet")
    workers = 1 if backend == "sqlite" else 0
    trials = StoreTrials(url, study=f"later-{tmp_path.name}", workers=workers)
    try:
        assert len(trials) == 0
        assert (trials.trials, trials.results, trials.losses()) == ([], [], [])
        assert trials.count_by_state_unsynced(JOB_STATE_DONE) == 0
        assert (trials.vals, trials.new_trial_ids(2), list(trials.attachments)) == (
            {}, [0, 1], []
        )  # fmt: skip
        assert trials.new_trial_ids(1) == [2]  # as hyperopt's: never handed out twice
        with pytest.raises(AllTrialsFailed):
            _ = trials.best_trial
        if backend == "mongodb":
            return  # fmin after the empty reads: the backend makes no difference
        fmin(objectives.quadratic, {"x": X}, algo=rand.suggest, max_evals=2,
             trials=trials, show_progressbar=False)  # fmt: skip
        assert len(trials) == 2
    finally:
        trials.close()


def test_writing_trials_attachments_on_a_store_says_what_is_kept(trials):
    """hyperopt's MongoTrials keeps database-wide blobs in ``trials.attachments``;
    here it is the trials' attachments only: a write says so, naming the way."""
    with pytest.raises(TypeError, match=r"read-only.*result\['attachments'\]"):
        operator.setitem(trials.attachments, "pipeline", b"blob")
    with pytest.raises(TypeError, match=r"read-only"):
        operator.delitem(trials.attachments, "ATTACH::0::model")


def test_writing_a_trials_attachments_on_a_store_says_what_is_kept(trials):
    """The kind of the case above: ``trial_attachments(trial)`` is read-only too, and
    so hyperopt's re-run of the best trial, ``Domain.evaluate(config, Ctrl(trials,
    best))``, cannot file the result's attachments there: both say how instead of
    "'_StoredAttachments' object does not support item assignment"."""
    fmin(objectives.with_attachments, {"x": X}, algo=rand.suggest, max_evals=1,
         trials=trials, show_progressbar=False)  # fmt: skip
    best = trials.best_trial
    stored = trials.trial_attachments(best)
    with pytest.raises(TypeError, match=r"read-only.*result\['attachments'\]"):
        operator.setitem(stored, "model", b"blob")
    with pytest.raises(TypeError, match=r"read-only"):
        operator.delitem(stored, "model")
    domain = base.Domain(objectives.with_attachments, {"x": X})
    point = base.spec_from_misc(best["misc"])
    with pytest.raises(TypeError, match=r"read-only.*attach_attachments=False"):
        domain.evaluate(point, base.Ctrl(trials, best))
    kept = domain.evaluate(point, base.Ctrl(trials, best), attach_attachments=False)
    assert sorted(kept["attachments"]) == ["log", "model"]
    assert sorted(stored) == ["log", "model"]  # the stored ones are unchanged
