"""The same space written with hyperopt's ``hp`` and ours gives the same configs."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_service import pyll
from hpo_service.space import (
    compile_space,
    hp,
    sample_params,
    space_eval,
    validate_params,
)

hyperopt = pytest.importorskip("hyperopt")
hyperopt_pyll = pytest.importorskip("hyperopt.pyll")


def flat_space(hp, scope):
    return {
        "u": hp.uniform("u", -1, 3),
        "lu": hp.loguniform("lu", -4, 1),
        "qu": hp.quniform("qu", 0, 20, 5),
        "qlu": hp.qloguniform("qlu", 0, 4, 2),
        "n": hp.normal("n", 1, 3),
        "ln": hp.lognormal("ln", 0, 0.5),
        "qn": hp.qnormal("qn", 0, 10, 2),
        "qln": hp.qlognormal("qln", 2, 1, 3),
        "r1": hp.randint("r1", 7),
        "r2": hp.randint("r2", 10, 20),
        "ui": hp.uniformint("ui", 1, 9),
    }


def classifier_space(hp, scope):
    return hp.choice(
        "classifier",
        [
            {
                "type": "svm",
                "C": hp.lognormal("svm_C", 0, 1),
                "kernel": hp.choice(
                    "svm_kernel",
                    [
                        {"ktype": "linear"},
                        {"ktype": "rbf", "width": hp.lognormal("w", 0, 1)},
                    ],
                ),
            },
            {
                "type": "tree",
                "criterion": hp.choice("criterion", ["gini", "entropy"]),
                "max_depth": hp.choice(
                    "max_depth", [None, scope.int(hp.qlognormal("depth", 3, 1, 1))]
                ),
                "split": hp.qlognormal("split", 2, 1, 1),
            },
        ],
    )


def arithmetic_space(hp, scope):
    x = hp.uniform("x", 1, 2)
    y = hp.normal("y", 0, 1)
    return [
        1 + hp.lognormal("a", 0, 1),
        x * 2,
        -x,
        x / (3 + y),
        x**2,
        2 ** (y / 4),
        x // 0.3,
        10 - y,
        scope.int(hp.quniform("q", 0, 10, 1)),
        scope.float(hp.randint("r", 4)),
        (x, [y, "const"]),
    ]


def weighted_space(hp, scope):
    shared = hp.uniform("shared", 0, 1)
    return {
        "opt": hp.pchoice(
            "opt",
            [
                (
                    0.2,
                    (
                        "sgd",
                        {"momentum": shared, "nesterov": hp.choice("nesterov", [0, 1])},
                    ),
                ),
                (0.5, ("adam", {"beta": shared})),
                (0.3, "lbfgs"),
            ],
        ),
        "layers": hp.choice("n_layers", [[hp.uniformint("w1", 8, 64)], [32, 32], []]),
    }


SPACES = [flat_space, classifier_space, arithmetic_space, weighted_space]


def as_tuples(value):
    """hyperopt's space_eval turns every list into a tuple; ours keeps lists."""
    if isinstance(value, dict):
        return {k: as_tuples(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(as_tuples(v) for v in value)
    return value


def both(build):
    return build(hp, pyll.scope), build(hyperopt.hp, hyperopt_pyll.scope)


@pytest.mark.parametrize("build", SPACES)
def test_space_eval_matches_hyperopt_on_our_samples(build):
    ours, theirs = both(build)
    compiled = compile_space(ours)
    rng = np.random.default_rng(0)
    for _ in range(100):
        params = sample_params(compiled, rng)
        expected = as_tuples(hyperopt.space_eval(theirs, params))
        assert as_tuples(space_eval(ours, params)) == expected


@pytest.mark.parametrize("build", SPACES)
def test_configs_of_a_hyperopt_run_are_reproduced(build):
    ours, theirs = both(build)
    compiled = compile_space(ours)
    received = []

    def objective(config):
        received.append(config)
        return 0.0

    trials = hyperopt.Trials()
    hyperopt.fmin(
        objective,
        theirs,
        algo=hyperopt.rand.suggest,
        max_evals=40,
        trials=trials,
        rstate=np.random.default_rng(1),
        show_progressbar=False,
    )
    for trial, config in zip(trials.trials, received, strict=True):
        vals = trial["misc"]["vals"]
        params = {label: v[0] for label, v in vals.items() if v}
        assert validate_params(compiled, params) == params
        assert set(params) == set(compiled.active_labels(params))
        assert as_tuples(space_eval(ours, params)) == as_tuples(config)
        assert as_tuples(space_eval(ours, vals)) == as_tuples(config)
