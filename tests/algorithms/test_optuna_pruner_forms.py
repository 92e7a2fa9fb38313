"""Every constructor call of Optuna's pruners that its docs show either means the same
here or fails with our message saying what to write. The forms and their meaning are
written out below; where Optuna is installed, the same calls are made on Optuna's
classes and their settings compared, so the table follows Optuna."""

from __future__ import annotations

import importlib
import inspect

import pytest

from hpo_service import pruners

#: Optuna's positional parameters of each pruner class we offer (optuna 4 and 5).
OPTUNA_POSITIONAL = {
    "MedianPruner": ["n_startup_trials", "n_warmup_steps", "interval_steps"],
    "PercentilePruner": [
        "percentile", "n_startup_trials", "n_warmup_steps", "interval_steps",
    ],
    "SuccessiveHalvingPruner": [
        "min_resource", "reduction_factor", "min_early_stopping_rate",
        "bootstrap_count",
    ],
    "HyperbandPruner": [
        "min_resource", "max_resource", "reduction_factor", "bootstrap_count",
    ],
    "NopPruner": [],
}  # fmt: skip

#: (call, the settings it means): Optuna's defaults included.
SAME_MEANING = [
    ("MedianPruner()", {"n_startup_trials": 5, "n_warmup_steps": 0,
                        "interval_steps": 1, "n_min_trials": 1}),
    ("MedianPruner(5, 30, 10)", {"n_startup_trials": 5, "n_warmup_steps": 30,
                                 "interval_steps": 10, "n_min_trials": 1}),
    ("MedianPruner(n_startup_trials=2, n_warmup_steps=3, interval_steps=4, "
     "n_min_trials=5)", {"n_startup_trials": 2, "n_warmup_steps": 3,
                         "interval_steps": 4, "n_min_trials": 5}),
    ("PercentilePruner(25.0)", {"percentile": 25.0, "n_startup_trials": 5,
                                "n_warmup_steps": 0, "interval_steps": 1,
                                "n_min_trials": 1}),
    ("PercentilePruner(10.0, 2, 3, 4, n_min_trials=5)",
     {"percentile": 10.0, "n_startup_trials": 2, "n_warmup_steps": 3,
      "interval_steps": 4, "n_min_trials": 5}),
    ("SuccessiveHalvingPruner(1, 4, 0)", {"min_resource": 1, "reduction_factor": 4,
                                          "min_early_stopping_rate": 0}),
    ("SuccessiveHalvingPruner(3, 2, 1, 0)", {"min_resource": 3,
                                             "reduction_factor": 2,
                                             "min_early_stopping_rate": 1}),
    ("SuccessiveHalvingPruner(min_resource=1, reduction_factor=4, "
     "min_early_stopping_rate=0, bootstrap_count=0)",
     {"min_resource": 1, "reduction_factor": 4, "min_early_stopping_rate": 0}),
    ("SuccessiveHalvingPruner(reduction_factor=3)", {"reduction_factor": 3,
                                                     "min_early_stopping_rate": 0}),
    ("HyperbandPruner(1, 27, 3)", {"min_resource": 1, "max_resource": 27,
                                   "reduction_factor": 3}),
    ("HyperbandPruner(2, 100, 2, 0)", {"min_resource": 2, "max_resource": 100,
                                       "reduction_factor": 2}),
    ("HyperbandPruner(min_resource=1, max_resource=81, reduction_factor=3)",
     {"min_resource": 1, "max_resource": 81, "reduction_factor": 3}),
    ("HyperbandPruner(max_resource=27)", {"min_resource": 1, "max_resource": 27,
                                          "reduction_factor": 3}),
    ("NopPruner()", {}),
]  # fmt: skip

#: (call, what our message says to write instead).
REFUSED = [
    ("HyperbandPruner()", r"HyperbandPruner\(max_resource=100\) for 100 epochs"),
    ("HyperbandPruner(1, 'auto', 3)", r"give the number of steps"),
    ("HyperbandPruner(max_resource='auto')", r"give the number of steps"),
    ("SuccessiveHalvingPruner('auto', 4, 0)", r"give the steps of the first rung"),
    ("SuccessiveHalvingPruner(min_resource='auto')", r"e\.g\. 1 for trials of"),
    ("SuccessiveHalvingPruner(1, 4, 0, 5)", r"bootstrap_count.*leave it out"),
    ("HyperbandPruner(1, 27, 3, 2)", r"bootstrap_count.*leave it out"),
]


def _ours(call):
    return eval(call, vars(pruners))


def _optuna_pruners():
    return pytest.importorskip("optuna").pruners


@pytest.mark.parametrize(("call", "meaning"), SAME_MEANING)
def test_an_optuna_call_means_the_same_here(call, meaning):
    settings = _ours(call).settings()
    assert {k: settings[k] for k in meaning} == meaning
    if call.startswith(("Median", "Percentile")):
        assert settings["running_average"] is True  # the difference README names


@pytest.mark.parametrize(("call", "meaning"), SAME_MEANING)
def test_the_meaning_is_optunas(call, meaning):
    made = eval(call, vars(_optuna_pruners()))
    assert {k: getattr(made, f"_{k}") for k in meaning} == meaning


def test_successive_halving_is_stored_and_resolved_as_asha():
    made = pruners.SuccessiveHalvingPruner(3, 2)
    equal = pruners.ASHAPruner(min_resource=3, reduction_factor=2)
    assert made == equal and hash(made) == hash(equal)
    assert pruners.resolve_pruner(made) == equal and made.name == "asha"
    assert pruners.SuccessiveHalvingPruner(max_resource=81).settings() == {
        "min_resource": 1, "max_resource": 81, "reduction_factor": 4,
        "min_early_stopping_rate": 0,
    }  # fmt: skip


@pytest.mark.parametrize(("call", "hint"), REFUSED)
def test_a_call_without_a_counterpart_says_what_to_write(call, hint):
    with pytest.raises((ValueError, TypeError), match=hint) as raised:
        _ours(call)
    assert "positional argument" not in str(raised.value)
    assert "required" not in str(raised.value)


@pytest.mark.parametrize("name", sorted(OPTUNA_POSITIONAL))
def test_positional_arguments_come_in_optunas_order(name):
    params = inspect.signature(getattr(pruners, name)).parameters.values()
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD,)
    ours = [p.name for p in params if p.kind in kinds]
    assert ours[: len(OPTUNA_POSITIONAL[name])] == OPTUNA_POSITIONAL[name]


def test_the_recorded_signatures_are_optunas():
    """Each pruner class of Optuna is ours (positional order as recorded) or is
    refused by name; none is left out of the table."""
    optuna_pruners = _optuna_pruners()
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD,)
    for name in optuna_pruners.__all__:
        cls = getattr(optuna_pruners, name)
        if name == "BasePruner" or not inspect.isclass(cls):
            continue
        if name not in OPTUNA_POSITIONAL:
            with pytest.raises(AttributeError, match=f"has no {name}"):
                getattr(pruners, name)
            continue
        params = inspect.signature(cls).parameters.values()
        assert [p.name for p in params if p.kind in kinds] == OPTUNA_POSITIONAL[name]


@pytest.mark.parametrize("name", [*sorted(OPTUNA_POSITIONAL), "BasePruner"])
def test_a_pruner_imported_from_the_top_level_says_where_it_is(name):
    with pytest.raises(ImportError) as raised:
        exec(f"from hpo_service import {name}", {})
    assert str(raised.value).endswith(f"write `from hpo_service.pruners import {name}`")
    with pytest.raises(AttributeError, match=r"from hpo_service\.pruners import"):
        getattr(importlib.import_module("hpo_service"), name)
    scope = {}
    exec(f"from hpo_service.pruners import {name}", scope)
    assert scope[name] is getattr(pruners, name)


def test_an_optuna_pruner_not_offered_from_the_top_level_names_ours():
    with pytest.raises(ImportError, match=r"hpo_service\.pruners has MedianPruner"):
        exec("from hpo_service import ThresholdPruner", {})
    with pytest.raises(ImportError, match="cannot import name 'Nothing'"):
        exec("from hpo_service import Nothing", {})
