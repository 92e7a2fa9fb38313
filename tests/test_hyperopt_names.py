"""hyperopt's names that hyperopt code calls: algorithm arguments in hyperopt's
spelling, ``mix.suggest``, the ``Trials`` methods of hyperopt's docs and of hand-made
trial docs. Each case runs the same code against hyperopt where it is installed.
"""

from __future__ import annotations

import importlib
import inspect
import pickle
from functools import partial

import numpy as np
import pytest

import hpo_service
from hpo_service import JOB_STATE_DONE, JOB_STATE_NEW, Trials, fmin, hp, mix, tpe
from hpo_service.fmin import generate_trials_to_calculate
from tests.helpers.hyperopt_side_by_side import LIBRARIES

QUIET = {"show_progressbar": False}


def _square(x):
    return x**2


@LIBRARIES
def test_tpe_takes_hyperopts_argument_spellings(lib):
    algo = partial(
        lib.tpe.suggest,
        n_EI_candidates=4,
        n_startup_jobs=5,
        prior_weight=1.0,
        gamma=0.25,
        verbose=False,
    )
    trials = lib.Trials()
    best = lib.fmin(
        _square,
        lib.hp.uniform("x", -10, 10),
        algo,
        max_evals=12,
        trials=trials,
        rstate=np.random.default_rng(0),
        **QUIET,
    )
    assert len(trials) == 12 and -10 <= best["x"] <= 10


def test_hyperopt_spelling_reaches_tpe_and_is_stored_in_our_form():
    from hpo_service.algorithms import describe

    name, settings = describe(partial(tpe.suggest, n_EI_candidates=3, verbose=True))
    assert (name, settings) == ("tpe", {"n_ei_candidates": 3})
    with pytest.raises(TypeError, match="n_ei_candidates"):
        tpe.check_settings({"n_EI_candidates": 3, "n_ei_candidates": 4})
    with pytest.raises(ValueError, match="n_ei_candidates >= 1"):
        tpe.check_settings({"n_EI_candidates": 0})


@LIBRARIES
def test_mix_suggest_as_hyperopt_documents_it(lib):
    algo = partial(
        lib.mix.suggest,
        p_suggest=[
            (0.2, lib.rand.suggest),
            (0.3, lib.anneal.suggest),
            (0.5, lib.tpe.suggest),
        ],
    )
    trials = lib.Trials()
    lib.fmin(
        _square,
        lib.hp.uniform("x", -10, 10),
        algo,
        max_evals=15,
        trials=trials,
        rstate=np.random.default_rng(1),
        **QUIET,
    )
    assert len(trials) == 15


def test_mix_draws_each_algorithm_with_its_probability():
    """With p = 1 for one algorithm, mix gives exactly that algorithm's points."""
    from hpo_service.algorithms import anneal as anneal_module
    from hpo_service.algorithms._history import History
    from hpo_service.space import compile_space

    space = compile_space({"x": hp.uniform("x", 0, 1), "c": hp.choice("c", [1, 2])})
    only_anneal = [(0.0, tpe.suggest), (1.0, anneal_module.suggest)]
    picks = mix.suggest(
        space, History(space), np.random.default_rng(3), 5, p_suggest=only_anneal
    )
    rng = np.random.default_rng(3)
    rng.multinomial(1, [0.0, 1.0], size=5)  # mix's own draws come first (hyperopt's)
    seeded = np.random.default_rng(int(rng.integers(2**31)))  # then the algorithm's
    assert picks == anneal_module.suggest(space, History(space), seeded, 5)


@pytest.mark.parametrize(
    ("p_suggest", "message"),
    [
        ([(0.5, "tpe"), (0.4, "rand")], "sum to 1"),
        ([(1.5, "tpe"), (-0.5, "rand")], "0 <= probability <= 1"),
        ([(1.0, "no_such")], "must be one of"),
        ([(1.0, "grid")], "must not hold grid"),
        ([(1.0, "tpe", {"gama": 0.1})], "gama"),
        ("tpe", "non-empty list"),
        ([], "non-empty list"),
    ],
)
def test_mix_refuses_bad_p_suggest_naming_it(p_suggest, message):
    with pytest.raises(ValueError, match=message):
        mix.check_settings({"p_suggest": p_suggest})


def test_mix_is_stored_as_json_names_and_rebuilt():
    from hpo_service.algorithms import describe, resolve

    algo = partial(
        mix.suggest,
        p_suggest=[
            (0.25, hpo_service.rand.suggest),
            (0.75, partial(tpe.suggest, gamma=0.2)),
        ],
    )
    name, settings = describe(algo)
    assert name == "mix"
    assert settings == {
        "p_suggest": [[0.25, "rand", {}], [0.75, "tpe", {"gamma": 0.2}]]
    }
    rebuilt = resolve(name, pickle.loads(pickle.dumps(settings)))
    best = fmin(_square, hp.uniform("x", -1, 1), rebuilt, max_evals=6, **QUIET)
    assert -1 <= best["x"] <= 1


@LIBRARIES
def test_trials_methods_of_hyperopts_docs(lib):
    def objective(x):
        return {"loss": x**2, "status": "ok", "attachments": {"k": pickle.dumps(x)}}

    trials = lib.Trials()
    trials.fmin(objective, lib.hp.uniform("x", -10, 10), lib.rand.suggest, 6, **QUIET)
    assert len(trials) == 6 and not trials.asynchronous
    xs = trials.vals["x"]
    assert trials.losses() == pytest.approx([x**2 for x in xs])
    assert trials.statuses() == ["ok"] * 6
    assert trials.idxs["x"] == trials.tids == list(range(6))
    assert trials.idxs_vals == (trials.idxs, trials.vals)
    assert trials.average_best_error() == pytest.approx(min(x**2 for x in xs))
    assert trials.count_by_state_synced(JOB_STATE_DONE) == 6
    assert trials.count_by_state_unsynced([JOB_STATE_DONE, JOB_STATE_NEW]) == 6
    assert pickle.loads(trials.trial_attachments(trials.trials[5])["k"]) == xs[5]
    trials.delete_all()
    assert len(trials) == 0 and trials.count_by_state_unsynced(JOB_STATE_DONE) == 0


@LIBRARIES
def test_hand_made_trial_docs_are_evaluated_first(lib):
    trials = lib.Trials()
    tids = trials.new_trial_ids(2)
    miscs = [
        {
            "tid": tid,
            "cmd": None,
            "workdir": None,
            "idxs": {"x": [tid]},
            "vals": {"x": [v]},
        }
        for tid, v in zip(tids, [1.5, -2.0], strict=True)
    ]
    docs = trials.new_trial_docs(tids, [None, None], [{"status": "new"}] * 2, miscs)
    assert [d["state"] for d in docs] == [JOB_STATE_NEW] * 2
    trials.insert_trial_docs(docs)
    trials.refresh()
    assert trials.count_by_state_unsynced(JOB_STATE_NEW) == 2
    space = lib.hp.uniform("x", -10, 10)
    lib.fmin(_square, space, lib.tpe.suggest, max_evals=4, trials=trials, **QUIET)
    assert trials.vals["x"][:2] == [1.5, -2.0]
    assert trials.losses()[:2] == [2.25, 4.0]


@LIBRARIES
def test_new_trial_ids_are_never_handed_out_twice(lib):
    """hyperopt reserves the ids it hands out, so docs built id by id insert as
    one batch."""
    trials = lib.Trials()
    assert (trials.new_trial_ids(1), trials.new_trial_ids(2)) == ([0], [1, 2])
    docs = []
    for x in (1.5, -2.0):
        [tid] = trials.new_trial_ids(1)
        misc = {"tid": tid, "cmd": None, "idxs": {"x": [tid]}, "vals": {"x": [x]}}
        docs += trials.new_trial_docs([tid], [None], [{"status": "new"}], [misc])
    trials.insert_trial_docs(docs)
    trials.refresh()
    assert trials.tids == [3, 4] and trials.new_trial_ids(1) == [5]
    trials = pickle.loads(pickle.dumps(trials))
    assert trials.new_trial_ids(1) == [6]


def test_new_trial_docs_checks_its_arguments():
    trials = Trials()
    with pytest.raises(ValueError, match="one length"):
        trials.new_trial_docs([0, 1], [None], [{}], [{}])
    with pytest.raises(hpo_service.exceptions.InvalidTrial, match=r"misc\.vals"):
        trials.new_trial_docs([0], [None], [{}], [{"tid": 0, "idxs": {}}])


def test_hp_and_mix_module_paths_and_quniformint():
    assert importlib.import_module("hpo_service.hp") is hp
    assert importlib.import_module("hpo_service.mix") is mix
    assert repr(hp.quniformint("n", 1, 9, 2)) == repr(hp.uniformint("n", 1, 9, q=2))
    config = hpo_service.space_eval({"n": hp.quniformint("n", 1, 9)}, {"n": 4})
    assert config == {"n": 4} and type(config["n"]) is int


def _timed(x):
    import time

    return {"loss": x**2, "status": "ok", "eval_time": time.time(),
            "other_stuff": {"type": None, "value": [0, 1, 2]},
            "attachments": {"time_module": pickle.dumps(time.time)}}  # fmt: skip


@LIBRARIES
def test_the_trials_walkthrough_of_hyperopts_docs(lib):
    """hyperopt's "Defining a function to minimize" page, step by step: dict results
    with attachments, a pickled Trials resumed to a larger max_evals."""
    trials = lib.Trials()
    space = lib.hp.uniform("x", -10, 10)
    lib.fmin(_timed, space=space, algo=lib.tpe.suggest, max_evals=10, trials=trials,
             **QUIET)  # fmt: skip
    trials = pickle.loads(pickle.dumps(trials))
    lib.fmin(_timed, space=space, algo=lib.tpe.suggest, max_evals=20, trials=trials,
             **QUIET)  # fmt: skip
    assert len(trials) == 20 and len(trials.losses()) == 20
    assert trials.results[3]["other_stuff"] == {"type": None, "value": [0, 1, 2]}
    import time

    attached = trials.trial_attachments(trials.trials[5])["time_module"]
    assert pickle.loads(attached) is time.time


@LIBRARIES
def test_the_search_space_page_of_hyperopts_docs(lib):
    """hyperopt's "Defining a search space" page: a nested scikit-learn space, pyll's
    stochastic.sample and a scope.define'd function, same values as hyperopt."""
    hp_ = lib.hp
    space = hp_.choice("classifier_type", [
        {"type": "naive_bayes"},
        {"type": "svm", "C": hp_.lognormal("svm_C", 0, 1),
         "kernel": hp_.choice("svm_kernel", [
             {"ktype": "linear"},
             {"ktype": "RBF", "width": hp_.lognormal("svm_rbf_width", 0, 1)}])},
        {"type": "dtree",
         "criterion": hp_.choice("dtree_criterion", ["gini", "entropy"]),
         "max_depth": hp_.choice(
             "dtree_max_depth",
             [None, hp_.qlognormal("dtree_max_depth_int", 3, 1, 1)]),
         "min_samples_split": hp_.qlognormal("dtree_min_samples_split", 2, 1, 1)},
    ])  # fmt: skip
    stochastic = importlib.import_module(f"{lib.__name__}.pyll.stochastic")
    drawn = stochastic.sample(space, rng=np.random.default_rng(4))
    assert drawn["type"] in ("naive_bayes", "svm", "dtree")
    point = {"classifier_type": 2, "dtree_criterion": 1, "dtree_max_depth": 1,
             "dtree_max_depth_int": 12.0, "dtree_min_samples_split": 7.0}  # fmt: skip
    assert lib.space_eval(space, point) == {
        "type": "dtree", "criterion": "entropy", "max_depth": 12.0,
        "min_samples_split": 7.0,
    }  # fmt: skip
    scope = importlib.import_module(f"{lib.__name__}.pyll").scope
    name = f"half_sum_{lib.__name__}"
    if not hasattr(scope, name):
        scope.define(_named(_half_sum, name))
    expr = getattr(scope, name)(hp_.uniform("a", 0, 10), hp_.normal("b", 0, 1))
    value = stochastic.sample(expr, rng=np.random.default_rng(0))
    assert isinstance(value, float)
    assert lib.space_eval(expr, {"a": 4.0, "b": 2.0}) == 5.0


def _half_sum(a, b=0):
    return a + b / 2


def _named(function, name):
    def named(*args, **kwargs):
        return function(*args, **kwargs)

    named.__name__ = named.__qualname__ = name
    return named


def test_motpe_takes_tpes_settings_in_either_spelling():
    from hpo_service.algorithms import check, describe

    check("motpe", {"gamma": 0.2, "n_EI_candidates": 12})
    motpe = hpo_service.motpe
    assert describe(partial(motpe.suggest, n_EI_candidates=3)) == (
        "motpe",
        {"n_ei_candidates": 3},
    )
    with pytest.raises(ValueError, match="gama"):
        check("motpe", {"gama": 0.2})


def test_an_algorithm_of_hyperopts_is_refused_saying_which_to_use():
    def hyperopt_style(new_ids, domain, trials, seed):
        raise AssertionError("never called")

    with pytest.raises(TypeError, match="takes hyperopt's"):
        fmin(_square, hp.uniform("x", 0, 1), hyperopt_style, max_evals=2, **QUIET)
    hyperopt = pytest.importorskip("hyperopt")
    for algo in (
        hyperopt.tpe.suggest,
        partial(hyperopt.anneal.suggest, shrink_coef=0.2),
    ):
        with pytest.raises(TypeError, match="from hpo_service import tpe"):
            fmin(_square, hp.uniform("x", 0, 1), algo, max_evals=2, **QUIET)


# ---- the whole public surface of hyperopt's Trials ----------------------------------


def _positional(function):
    """The names of ``function``'s positional parameters, ``self`` left out."""
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = inspect.signature(function).parameters.values()
    return [p.name for p in params if p.kind in kinds and p.name != "self"]


@pytest.mark.parametrize(
    ("theirs", "ours"),
    [
        ("hyperopt.base:Trials", "hpo_service.trials:Trials"),
        ("hyperopt.mongoexp:MongoTrials", "hpo_service.mongoexp:MongoTrials"),
    ],
)
def test_every_name_of_hyperopts_trials_exists_with_its_arguments(theirs, ours):
    """Every attribute of hyperopt's class (but dunders) is on ours, and each method
    takes hyperopt's positional arguments, same names in the same order, so calls
    by position or by keyword both work."""
    pytest.importorskip("hyperopt")
    module, name = theirs.split(":")
    hyperopt_class = getattr(importlib.import_module(module), name)
    module, name = ours.split(":")
    our_class = getattr(importlib.import_module(module), name)
    compared = 0
    for attr in (a for a in dir(hyperopt_class) if not a.startswith("__")):
        assert hasattr(our_class, attr), attr
        theirs_attr = inspect.getattr_static(hyperopt_class, attr)
        if not inspect.isfunction(theirs_attr):
            continue
        wanted = _positional(theirs_attr)
        assert _positional(getattr(our_class, attr))[: len(wanted)] == wanted, attr
        compared += 1
    assert compared >= 15
    if our_class is Trials:  # what hyperopt's constructor sets: _ids, _exp_key, ...
        ours_made, theirs_made = our_class(), hyperopt_class()
        assert all(hasattr(ours_made, attr) for attr in vars(theirs_made))


@LIBRARIES
def test_views_of_one_trials_object_hold_one_experiment_each(lib):
    """hyperopt's ``view``: experiments share one trial list, tids and attachments;
    each view shows its own, the object without a key shows every trial."""
    trials = lib.Trials()
    first, second = trials.view(exp_key="a"), trials.view(exp_key="b")
    space = lib.hp.uniform("x", -10, 10)
    lib.fmin(_square, space, lib.rand.suggest, 3, trials=first, **QUIET)
    lib.fmin(_square, space, lib.rand.suggest, 2, trials=second, **QUIET)
    for each in (trials, first, second):
        each.refresh()
    assert (first.tids, second.tids, trials.tids) == ([0, 1, 2], [3, 4], list(range(5)))
    assert [d["exp_key"] for d in trials] == ["a", "a", "a", "b", "b"]
    assert first.count_by_state_unsynced(JOB_STATE_DONE) == 3
    assert trials.count_by_state_unsynced(JOB_STATE_DONE) == 5
    assert second.new_trial_ids(1) == [5] and first.new_trial_ids(1) == [6]
    second.trial_attachments(second.trials[0])["k"] = b"v"
    assert trials.attachments == {"ATTACH::3::k": b"v"}
    lib.fmin(_square, space, lib.rand.suggest, 5, trials=second, **QUIET)
    assert len(second) == 5 and second.vals["x"][:2] == trials.vals["x"][3:]


def test_deleting_a_views_trials_leaves_the_other_experiments():
    trials = Trials()
    first, second = trials.view(exp_key="a"), trials.view(exp_key="b")
    space = hp.uniform("x", -10, 10)
    fmin(_square, space, max_evals=3, trials=first, **QUIET)
    fmin(_square, space, max_evals=2, trials=second, **QUIET)
    second.trial_attachments(second.trials[0])["k"] = b"v"
    first.trial_attachments(first.trials[0])["k"] = b"w"
    second.delete_all()
    trials.refresh()
    first.refresh()
    assert (len(second), len(first), trials.tids) == (0, 3, [0, 1, 2])
    assert trials.attachments == {"ATTACH::0::k": b"w"}
    assert pickle.loads(pickle.dumps(first)).tids == [0, 1, 2]


def test_a_view_lists_its_trials_again_after_a_delete_through_another():
    """A keyed view keeps its listing between reads (fmin reads it several times
    a trial): after a delete through another view, refilled to as many trials as
    before, it must not list the deleted ones."""
    trials = Trials()
    first = trials.view(exp_key="a")
    space = hp.uniform("x", -10, 10)
    fmin(_square, space, max_evals=2, trials=first, **QUIET)
    assert [d["exp_key"] for d in first._dynamic_trials] == ["a", "a"]
    trials.delete_all()
    fmin(_square, space, max_evals=2, trials=trials.view(exp_key="b"), **QUIET)
    assert len(trials._all) == 2 and first._dynamic_trials == []
    fmin(_square, space, max_evals=1, trials=first, **QUIET)
    assert [d["exp_key"] for d in first._dynamic_trials] == ["a"]
    assert [d["exp_key"] for d in trials._dynamic_trials] == ["b", "b", "a"]


def _copied_docs(lib, source_trials, target):
    """Every trial of ``source_trials`` copied into ``target`` by
    ``source_trial_docs`` under new tids (hyperopt's recipe for merging)."""
    sources = list(source_trials)
    tids = target.new_trial_ids(len(sources))
    miscs = [
        {"idxs": {k: [tid] * len(v) for k, v in s["misc"]["idxs"].items()},
         "vals": s["misc"]["vals"]}
        for tid, s in zip(tids, sources, strict=True)
    ]  # fmt: skip
    return target.source_trial_docs(
        tids,
        [s["spec"] for s in sources],
        [s["result"] for s in sources],
        miscs,
        sources,
    )


@LIBRARIES
def test_source_trial_docs_copy_finished_trials_under_new_tids(lib):
    space = lib.hp.uniform("x", -10, 10)
    old = lib.Trials()
    lib.fmin(_square, space, lib.rand.suggest, 3, trials=old, **QUIET)
    merged = lib.Trials()
    lib.fmin(_square, space, lib.rand.suggest, 2, trials=merged, **QUIET)
    docs = _copied_docs(lib, old, merged)
    assert [d["misc"]["from_tid"] for d in docs] == [0, 1, 2]
    assert [d["misc"]["cmd"] for d in docs] == [None] * 3
    assert [d["state"] for d in docs] == [JOB_STATE_DONE] * 3
    assert [d["book_time"] for d in docs] == [d["book_time"] for d in old]
    merged.insert_trial_docs(docs)
    merged.refresh()
    assert merged.tids == [0, 1, 2, 3, 4]
    assert merged.losses()[2:] == old.losses()
    assert merged.best_trial["result"]["loss"] == min(merged.losses())
    lib.fmin(_square, space, lib.tpe.suggest, 7, trials=merged, **QUIET)
    assert len(merged) == 7


def test_source_trial_docs_keep_a_pruned_trials_reports():
    from hpo_service import report, should_prune

    def reporting(x):
        for step in range(3):
            report(x**2 + 1 / (step + 1), step)
            should_prune()
        return x**2

    old = Trials()
    fmin(reporting, hp.uniform("x", -1, 1), max_evals=2, trials=old, **QUIET)
    docs = _copied_docs(hpo_service, old, Trials())
    assert [d["intermediate"] for d in docs] == [d["intermediate"] for d in old]
    assert len(docs[0]["intermediate"]) == 3


def test_source_trial_docs_refuse_a_misc_that_names_another_trial():
    old = Trials()
    fmin(_square, hp.uniform("x", -1, 1), max_evals=1, trials=old, **QUIET)
    [source] = old.trials
    misc = {"tid": 7, "idxs": {"x": [7]}, "vals": {"x": [0.5]}, "from_tid": 3}
    with pytest.raises(hpo_service.exceptions.InvalidTrial, match="from_tid=3"):
        old.source_trial_docs([7], [None], [{}], [misc], [source])
    with pytest.raises(ValueError, match="`sources` must have one length"):
        old.source_trial_docs([7], [None], [{}], [misc], [])
    with pytest.raises(hpo_service.exceptions.InvalidTrial, match="owner"):
        old.source_trial_docs([7], [None], [{}], [{}], [{"tid": 0, "state": 2}])


def test_hyperopts_remaining_trials_calls():
    trials = Trials(exp_key="e", refresh=False)
    doc = generate_trials_to_calculate([{"x": 0.5}]).trials[0]
    assert trials.assert_valid_trial(doc) is doc
    trials._insert_trial_docs([doc])
    assert trials.tids == [0] and trials.trials[0]["exp_key"] == "e"
    best = trials.fmin(
        _square, hp.uniform("x", -1, 1), None, 3, None, None, 1, None, False,
        None, False, False, False,
    )  # fmt: skip
    assert len(trials) == 3 and trials.vals["x"][0] == 0.5
    assert best == trials.best_trial["misc"]["vals"]["x"][0]  # return_argmin=False
    assert trials.count_by_state_synced(arg=JOB_STATE_DONE) == 3
