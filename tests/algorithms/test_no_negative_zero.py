"""Rounding a small negative draw gives 0.0, never -0.0 (shown as "-0.0" in `best`
and CSV): every algorithm, on every kind of rounded parameter."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpo_service import Trials, anneal, fmin, hp, motpe, rand, tpe

SPACE = {
    "quniform": hp.quniform("quniform", -2, 2, 1),
    "quniform_from_0": hp.quniform("quniform_from_0", 0, 3, 1),
    "qnormal": hp.qnormal("qnormal", 0, 1, 1),
    "uniformint": hp.uniformint("uniformint", -2, 2),
    "fine": hp.quniform("fine", -1, 1, 0.5),
}


def _single(point):
    return sum(abs(v) for v in point.values())


def _pair(point):
    return [_single(point), sum((v - 1) ** 2 for v in point.values())]


@pytest.mark.parametrize(
    ("algo", "objective"),
    [
        (tpe.suggest, _single),
        (motpe.suggest, _pair),
        (rand.suggest, _single),
        (anneal.suggest, _single),
    ],
    ids=["tpe", "motpe", "rand", "anneal"],
)
def test_no_suggested_value_is_negative_zero(algo, objective):
    trials = Trials()
    fmin(
        objective,
        SPACE,
        algo=algo,
        max_evals=60,
        trials=trials,
        rstate=np.random.default_rng(0),
        show_progressbar=False,
    )
    values = [
        (label, v)
        for trial in trials.trials
        for label, vs in trial["misc"]["vals"].items()
        for v in vs
    ]
    zeros = [(label, v) for label, v in values if v == 0]
    assert len(zeros) >= 10  # the searches go where rounding gives zero
    assert [z for z in zeros if math.copysign(1.0, z[1]) < 0] == []
    # The best trial (of several objectives: the Pareto front) holds zeros too.
    best = trials.best_trials if algo is motpe.suggest else [trials.best_trial]
    chosen = [v for t in best for vs in t["misc"]["vals"].values() for v in vs]
    chosen_zeros = [v for v in chosen if v == 0]
    assert chosen_zeros and all(math.copysign(1.0, v) > 0 for v in chosen_zeros)
