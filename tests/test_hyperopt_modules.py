"""Names real hyperopt code imports from ``hyperopt.base`` and ``hyperopt.mongoexp``.

Each case that hyperopt can run too runs the same code against it where it is
installed, so the two libraries are held to one behaviour.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np
import pytest

import hpo_service
from hpo_service.exceptions import StoreConnectionError, StoreError
from tests.helpers.hyperopt_side_by_side import LIBRARIES

QUIET = {"show_progressbar": False}


def _base(lib: ModuleType) -> ModuleType:
    return importlib.import_module(f"{lib.__name__}.base")


def _square(x):
    return x**2


@LIBRARIES
def test_observations_told_through_miscs_update_idxs_vals(lib):
    """bayesmark's way to tell hyperopt points evaluated elsewhere: new trial docs
    whose misc is filled by ``miscs_update_idxs_vals``, then a search goes on."""
    base = _base(lib)
    trials = base.Trials()
    points = [1.5, -2.0, 3.0]
    tids = trials.new_trial_ids(len(points))
    miscs = [{"tid": tid, "cmd": None, "workdir": None} for tid in tids]
    base.miscs_update_idxs_vals(miscs, {"x": tids}, {"x": points})
    assert [m["vals"] for m in miscs] == [{"x": [p]} for p in points]
    results = [{"loss": p**2, "status": base.STATUS_OK} for p in points]
    docs = trials.new_trial_docs(tids, [None] * 3, results, miscs)
    for doc in docs:
        doc["state"] = base.JOB_STATE_DONE
    trials.insert_trial_docs(docs)
    trials.refresh()
    assert trials.losses() == [2.25, 4.0, 9.0]
    assert base.miscs_to_idxs_vals(trials.miscs) == trials.idxs_vals
    assert [base.spec_from_misc(m) for m in trials.miscs] == [{"x": p} for p in points]
    space = lib.hp.uniform("x", -5, 5)
    lib.fmin(_square, space, lib.rand.suggest, 6, trials=trials,
             rstate=np.random.default_rng(0), **QUIET)  # fmt: skip
    assert len(trials) == 6 and trials.vals["x"][:3] == points


@LIBRARIES
def test_miscs_helpers_on_a_conditional_space(lib):
    """Inactive labels have empty lists; ``keys`` picks labels; ``idxs_map`` renames
    tids; ``assert_all_vals_used=False`` skips values of trials not given."""
    base = _base(lib)
    miscs = [{"tid": 7}, {"tid": 8}]
    idxs = {"kind": [7, 8], "c": [8], "other": [9]}
    vals = {"kind": [0, 1], "c": [0.5], "other": [4.0]}
    base.miscs_update_idxs_vals(miscs, idxs, vals, assert_all_vals_used=False)
    assert miscs[0] == {"tid": 7, "idxs": {"kind": [7], "c": [], "other": []},
                        "vals": {"kind": [0], "c": [], "other": []}}  # fmt: skip
    assert base.spec_from_misc(miscs[0]) == {"kind": 0}
    assert base.spec_from_misc(miscs[1]) == {"kind": 1, "c": 0.5}
    assert base.miscs_to_idxs_vals(miscs, keys=["c"]) == ({"c": [8]}, {"c": [0.5]})
    renamed = [{"tid": 1}]
    base.miscs_update_idxs_vals(renamed, {"x": [100]}, {"x": [2.0]},
                                idxs_map={100: 1})  # fmt: skip
    assert renamed[0]["idxs"] == {"x": [1]} and renamed[0]["vals"] == {"x": [2.0]}


def test_miscs_helpers_refuse_bad_input_saying_what():
    from hpo_service import base

    with pytest.raises(ValueError, match="same labels"):
        base.miscs_update_idxs_vals([{"tid": 0}], {"x": [0]}, {"y": [1.0]})
    with pytest.raises(ValueError, match="one value per tid"):
        base.miscs_update_idxs_vals([{"tid": 0}], {"x": [0]}, {"x": [1.0, 2.0]})
    with pytest.raises(KeyError, match="tid 5"):
        base.miscs_update_idxs_vals([{"tid": 0}], {"x": [5]}, {"x": [1.0]})
    with pytest.raises(ValueError, match="cannot infer keys"):
        base.miscs_to_idxs_vals([])
    with pytest.raises(NotImplementedError, match="x"):
        base.spec_from_misc({"vals": {"x": [1, 2]}})


@LIBRARIES
def test_fmin_argument_validators(lib):
    base = _base(lib)
    for good in (None, 0.5, 3):
        base.validate_timeout(good)
    for bad in (0, -1, "10", True):
        with pytest.raises(Exception, match="timeout argument should be None"):
            base.validate_timeout(bad)
    for good in (None, -1.5, 0, 2):
        base.validate_loss_threshold(good)
    for bad in ("0.1", False, [0.1]):
        with pytest.raises(Exception, match="loss_threshold argument should be"):
            base.validate_loss_threshold(bad)


def test_fmin_refuses_what_the_validators_refuse():
    with pytest.raises(ValueError, match="timeout argument should be None"):
        hpo_service.fmin(_square, hpo_service.hp.uniform("x", 0, 1),
                         hpo_service.rand.suggest, 2, timeout=-1, **QUIET)  # fmt: skip


@LIBRARIES
def test_base_keeps_hyperopts_constants_and_pyll(lib):
    base = _base(lib)
    assert base.pyll is importlib.import_module(f"{lib.__name__}.pyll")
    assert base.TRIAL_MISC_KEYS == ["tid", "cmd", "idxs", "vals"]
    trials = base.Trials()
    lib.fmin(_square, lib.hp.uniform("x", 0, 1), lib.rand.suggest, 1, trials=trials,
             **QUIET)  # fmt: skip
    (trial,) = trials.trials
    assert set(base.TRIAL_KEYS) <= set(trial)
    assert set(base.TRIAL_MISC_KEYS) <= set(trial["misc"])


@LIBRARIES
def test_mongoexp_names_as_hyperopt_has_them(lib):
    mongoexp = importlib.import_module(f"{lib.__name__}.mongoexp")
    base = _base(lib)
    states = (mongoexp.JOB_STATE_NEW, mongoexp.JOB_STATE_RUNNING,
              mongoexp.JOB_STATE_DONE, mongoexp.JOB_STATE_ERROR)  # fmt: skip
    assert states == (0, 1, 2, 3)
    assert list(mongoexp.JOB_STATES) == [0, 1, 2, 3, 4] == list(base.JOB_STATES)
    assert mongoexp.Trials is base.Trials
    assert issubclass(mongoexp.OperationFailure, Exception)


def test_a_store_failure_is_caught_as_operation_failure(tmp_path):
    from hpo_service.mongoexp import MongoTrials, OperationFailure

    missing = tmp_path / "no_such_dir" / "hpo.sqlite"
    with pytest.raises(OperationFailure, match="must exist") as caught:
        MongoTrials(f"sqlite:///{missing}", exp_key="exp1")
    assert isinstance(caught.value, StoreConnectionError)
    assert OperationFailure is StoreError


@LIBRARIES
def test_base_exceptions_are_the_ones_raised(lib):
    """``from hyperopt.base import DuplicateLabel`` (real code catches it)."""
    base = _base(lib)
    space = {"a": lib.hp.uniform("x", 0, 1), "b": lib.hp.uniform("x", 0, 2)}
    with pytest.raises(base.DuplicateLabel):
        lib.fmin(_square, space, lib.rand.suggest, 1, **QUIET)
    exceptions = importlib.import_module(f"{lib.__name__}.exceptions")
    for name in ("AllTrialsFailed", "InvalidLoss", "InvalidResultStatus",
                 "InvalidTrial"):  # fmt: skip
        assert getattr(base, name) is getattr(exceptions, name)


def _model_objective(config):
    loss = (config["x"] - 0.5) ** 2 * config["k"]
    return {"loss": loss, "status": "ok", "attachments": {"model": b"weights"}}


@LIBRARIES
def test_the_best_trial_run_again_through_domain_evaluate(lib):
    """Real code re-runs the best trial (to get its model back) with
    ``Domain.evaluate(spec_from_misc(best["misc"]), Ctrl(trials, best))``."""
    base, hp_ = _base(lib), lib.hp
    space = {"x": hp_.uniform("x", -2, 2), "k": hp_.choice("k", [1, 10])}
    trials = base.Trials()
    lib.fmin(_model_objective, space, lib.rand.suggest, 6, trials=trials,
             rstate=np.random.default_rng(3), **QUIET)  # fmt: skip
    best = trials.best_trial
    domain = base.Domain(_model_objective, space)
    ctrl = base.Ctrl(trials, current_trial=best)
    result = domain.evaluate(base.spec_from_misc(best["misc"]), ctrl)
    assert result == {"loss": best["result"]["loss"], "status": "ok"}
    assert ctrl.attachments["model"] == b"weights"
    kept = domain.evaluate({"x": 0.0, "k": 0}, None, attach_attachments=False)
    assert kept["loss"] == 0.25 and kept["attachments"] == {"model": b"weights"}
    ctrl.checkpoint({"loss": -1.0, "status": "ok"})
    assert trials.best_trial["result"]["loss"] == -1.0
    plain = base.Domain(_square, hp_.uniform("y", 0, 1))
    assert plain.evaluate({"y": 3.0}, base.Ctrl(None)) == {"loss": 9.0, "status": "ok"}


@LIBRARIES
def test_a_domains_result_helpers_answer_as_hyperopts(lib):
    """``Domain.loss``/``true_loss``/``loss_variance``/``status``, ``new_result``
    and ``short_str``, which code reading results through a domain calls."""
    base = _base(lib)
    domain = base.Domain(_square, lib.hp.uniform("y", 0, 1))
    noisy = {"loss": 0.5, "status": "ok", "loss_variance": 0.01, "true_loss": 0.4}
    plain = {"loss": 0.5, "status": "ok"}
    answers = [
        domain.loss(noisy), domain.true_loss(noisy), domain.true_loss(plain),
        domain.loss_variance(noisy), domain.loss_variance(plain),
        domain.status(noisy), domain.new_result(),
    ]  # fmt: skip
    assert answers == [0.5, 0.4, 0.5, 0.01, 0.0, "ok", {"status": "new"}]
    assert domain.short_str() == f"Domain{{{_square}}}"


def test_ctrl_refuses_what_has_no_trial():
    from hpo_service import base

    with pytest.raises(ValueError, match="current_trial"):
        base.Ctrl(base.Trials()).checkpoint({"loss": 1.0, "status": "ok"})
    with pytest.raises(ValueError, match="current_trial"):
        _ = base.Ctrl(base.Trials()).attachments
    with pytest.raises(hpo_service.exceptions.InvalidResultStatus):
        base.Domain(lambda c: {"status": "odd"}, {}).evaluate({}, None)
