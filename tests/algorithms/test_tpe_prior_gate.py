"""``prior_gate``: no candidates from the good density's prior while many points are
pending ("count": at least ``n_startup_jobs`` of them, their weights summed)."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_service.algorithms import tpe
from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe.parzen_estimator import ParzenEstimator
from hpo_service.algorithms._tpe.sampler import TPESettings, _groups
from hpo_service.space import compile_space, hp

SPACE = compile_space({"x": hp.uniform("x", 0, 1)})
#: One candidate per suggestion (no scoring picks among draws), a good set of the 25
#: trials at x ~ 0.2 with kernels ~0.001 wide (x2 with pending points): a draw
#: farther than 0.15 from 0.2 comes from the prior (which spreads over [0, 1]).
SETTINGS = {
    "gamma": 1.0,
    "max_below": 25,
    "n_ei_candidates": 1,
    "bandwidth_floor": 0.01,
}
PENDING = {"x": 0.9}


def _history() -> History:
    history = History(SPACE)
    for i in range(25):
        history.add({"x": 0.2 + 1e-4 * i}, float(i))
    for i in range(15):
        history.add({"x": 0.7 + 1e-3 * i}, 100.0 + i)
    return history


def _draws(gate, n_pending, weights=None, **settings):
    """300 single suggestions (x) with ``n_pending`` points pending at x = 0.9."""
    history = _history()
    history.set_pending([PENDING] * n_pending, weights)
    rng = np.random.default_rng(0)
    return np.array(
        [
            tpe.suggest(SPACE, history, rng, prior_gate=gate, **SETTINGS, **settings)[
                0
            ]["x"]
            for _ in range(300)
        ]
    )


def _from_prior(draws):
    return int(np.sum(np.abs(draws - 0.2) > 0.15))


def test_count_draws_nothing_from_the_prior_with_ten_pending_where_none_does():
    assert _from_prior(_draws("none", 10)) > 0  # the case has prior draws to remove
    gated = _draws("count", 10)
    assert _from_prior(gated) == 0
    assert np.unique(gated).size == 300  # still draws, from the trials' kernels


@pytest.mark.parametrize("n_pending", [0, 1, 9])
def test_count_with_fewer_than_ten_pending_draws_as_none_does(n_pending):
    assert _draws("count", n_pending).tolist() == _draws("none", n_pending).tolist()


def test_count_sums_the_pending_weights():
    assert _from_prior(_draws("count", 20, [0.5] * 20)) == 0  # weighs 10
    light = _draws("count", 20, [0.45] * 20)  # weighs 9: the gate stays open
    assert light.tolist() == _draws("none", 20, [0.45] * 20).tolist()


def test_count_follows_n_startup_jobs():
    assert _from_prior(_draws("count", 5, n_startup_jobs=5)) == 0
    assert _from_prior(_draws("count", 5)) > 0


def test_a_density_of_the_prior_alone_still_draws_from_it():
    layout = _groups(SPACE, True)[0].layout
    prior_only = ParzenEstimator(
        layout, np.empty((0, 1)), np.empty((0, 0), dtype=int), np.empty(0)
    )
    rng = np.random.default_rng(0)
    draws = prior_only.sample(rng, 50, with_prior=False).values[:, 0]
    assert draws.size == 50 and np.all((draws >= 0) & (draws <= 1))
    assert draws.max() - draws.min() > 0.5


@pytest.mark.parametrize("setting", ["prior_gate", "marginal_gate"])
@pytest.mark.parametrize("gate", ["Count", "good", "always", "", None, 10])
def test_an_unknown_gate_is_refused_naming_the_choices(setting, gate):
    """Both gates (``prior_gate`` and ``marginal_gate``) take the same choices."""
    message = f"`{setting} in ('none', 'count')` must hold, but got {setting}={gate!r}"
    with pytest.raises(ValueError) as error:
        TPESettings(**{setting: gate})
    assert str(error.value) == message
    with pytest.raises(ValueError, match=f"{setting} in"):
        tpe.suggest(SPACE, _history(), np.random.default_rng(0), **{setting: gate})
