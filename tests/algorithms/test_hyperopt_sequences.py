"""rand, anneal, mix (of rand and TPE's startup) and ``pyll.stochastic.sample`` give
hyperopt's points for the same seed.

hyperopt's own tests (and users' notebooks) assert on what a seed produces; drawing
the same values means those assertions hold after the import changes.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import hpo_service

hyperopt = pytest.importorskip("hyperopt")


def _u(hp, label):
    return hp.uniform(label, 0, 1)


SPACES = {
    "uniform": lambda hp: hp.uniform("x", -5, 5),
    "loguniform": lambda hp: hp.loguniform("x", -3, 2),
    "quniform": lambda hp: hp.quniform("x", 0, 20, 3),
    "normal": lambda hp: hp.normal("x", 1, 3),
    "lognormal": lambda hp: hp.lognormal("x", 0, 2),
    "qlognormal": lambda hp: hp.qlognormal("x", 0, 2, 1),
    "qnormal": lambda hp: hp.qnormal("x", 0, 10, 2),
    "randint": lambda hp: hp.randint("x", 2, 100),
    "choice": lambda hp: hp.choice("x", [0, 1, 2, 3]),
    # 1/3 is inexact: the narrowed probabilities must be summed as hyperopt sums them
    "choice3": lambda hp: hp.choice("x", [0, 1, 2]),
    "randint7": lambda hp: hp.randint("x", 7),
    "pchoice3": lambda hp: hp.pchoice("x", [(0.3, 0), (0.3, 1), (0.4, 2)]),
    "pchoice": lambda hp: hp.pchoice("x", [(0.1, 0), (0.2, 1), (0.3, 2), (0.4, 3)]),
    # equal weights: still hyperopt's categorical draw (hp.choice draws an integer)
    "pchoice_equal": lambda hp: hp.pchoice("x", [(0.5, 0), (0.5, 1)]),
    "uniformint": lambda hp: hp.uniformint("x", 1, 20),
    "flat": lambda hp: {
        "x": _u(hp, "x"),
        "y": hp.normal("y", 0, 1),
        "a": hp.randint("a", 5),
        "k": hp.pchoice("k", [(0.1, 0), (0.9, 1)]),
    },
    "conditional": lambda hp: {
        "x": _u(hp, "x"),
        "m": hp.choice(
            "m",
            [{"a": _u(hp, "a")}, {"z": _u(hp, "z"), "b": hp.loguniform("b", -2, 0)}],
        ),
        "n": hp.choice("n", [_u(hp, "y"), _u(hp, "d")]),
    },
    "nested": lambda hp: hp.choice(
        "c", [{"p": hp.choice("q", [_u(hp, "r"), _u(hp, "s")])}, {"t": _u(hp, "t")}]
    ),
}


def _leaves(config):
    if isinstance(config, dict):
        return sum(_leaves(v) for v in config.values())
    if isinstance(config, (list, tuple)):
        return sum(_leaves(v) for v in config)
    return float(config)


def _points(lib, space, algo_name, n=30, algo=None):
    trials = lib.Trials()
    lib.fmin(
        lambda config: float(np.sin(7 * _leaves(config))),
        space,
        algo=getattr(lib, algo_name).suggest if algo is None else algo(lib),
        max_evals=n,
        trials=trials,
        rstate=np.random.default_rng(8),
        show_progressbar=False,
    )
    return [
        {label: v[0] for label, v in doc["misc"]["vals"].items() if v}
        for doc in trials.trials
    ]


@pytest.mark.parametrize("algo", ["rand", "anneal"])
@pytest.mark.parametrize("name", sorted(SPACES))
def test_same_seed_gives_hyperopts_points(algo, name):
    build = SPACES[name]
    ours = _points(hpo_service, build(hpo_service.hp), algo)
    theirs = _points(hyperopt, build(hyperopt.hp), algo)
    _assert_same_points(ours, theirs, 30)


def _assert_same_points(ours, theirs, n):
    assert len(ours) == len(theirs) == n
    for mine, expected in zip(ours, theirs, strict=True):
        assert set(mine) == set(expected)
        for label, value in expected.items():
            assert mine[label] == pytest.approx(float(value), rel=1e-12, abs=1e-12)


def _mixed(lib, second="rand"):
    """A mixture of rand and ``second``: rand and TPE's startup draw hyperopt's
    values on a one-parameter space (on others TPE's startup draws are its own, and
    anneal inside a mixture is seeded without the trial id hyperopt gives it)."""
    return functools.partial(
        lib.mix.suggest,
        p_suggest=[(0.3, lib.rand.suggest), (0.7, getattr(lib, second).suggest)],
    )


@pytest.mark.parametrize(
    ("name", "second"),
    [("flat", "rand"), ("conditional", "rand"), ("pchoice_equal", "rand"),
     ("uniform", "tpe"), ("normal", "tpe")],
)  # fmt: skip
def test_mix_gives_hyperopts_points(name, second):
    """The algorithm drawn, then the seed it is called with, as hyperopt's
    ``mix.suggest`` draws them (TPE within the 10 startup trials)."""
    build = SPACES[name]

    def algo(lib):
        return _mixed(lib, second)

    ours = _points(hpo_service, build(hpo_service.hp), "mix", n=10, algo=algo)
    theirs = _points(hyperopt, build(hyperopt.hp), "mix", n=10, algo=algo)
    _assert_same_points(ours, theirs, 10)


def _plain(value):
    """A sample with dicts' key order and tuples left out of the comparison
    (hyperopt sorts keys; both keep tuples as they are, lists as lists)."""
    if isinstance(value, dict):
        return sorted((k, _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


SAMPLED = {
    **SPACES,
    "list": lambda hp: [_u(hp, "a"), hp.choice("c", [_u(hp, "b"), 3]), _u(hp, "d")],
    "shared": lambda hp: (lambda x: {"p": x, "q": [x, hp.normal("n", 0, 1)]})(
        _u(hp, "x")
    ),
}


@pytest.mark.parametrize("name", sorted(SAMPLED))
def test_stochastic_sample_gives_hyperopts_configs(name):
    """``pyll.stochastic.sample`` draws the labels in the order hyperopt's pyll
    evaluates the space (inputs last to first, a choice before its option)."""
    from hyperopt.pyll import stochastic as theirs

    from hpo_service.pyll import stochastic as ours

    build = SAMPLED[name]
    for seed in range(12):
        mine = ours.sample(build(hpo_service.hp), rng=np.random.default_rng(seed))
        expected = theirs.sample(build(hyperopt.hp), rng=np.random.default_rng(seed))
        assert _plain(mine) == _plain(expected), seed
