"""``marginal_share``: while per-parameter draws are on, only that share of each
suggestion's candidates is drawn per parameter; the others are whole-point draws."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_service.algorithms import tpe
from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe.parzen_estimator import GroupLayout, ParzenEstimator
from hpo_service.algorithms._tpe.sampler import TPESettings
from hpo_service.space import compile_space, hp

SPACE = compile_space(
    {
        "x": hp.uniform("x", 0, 1),
        "y": hp.uniform("y", 0, 1),
        "c": hp.choice("c", ["a", "b"]),
    }
)
#: Two tight good clusters, (0.2, 0.2, "a") and (0.8, 0.8, "b").
CORNERS = ((0.2, 0.2, 0), (0.8, 0.8, 1))


def _good() -> ParzenEstimator:
    layout = GroupLayout(list(SPACE))
    numeric = np.array([c[:2] for c in CORNERS] * 10)
    options = np.array([[c[2]] for c in CORNERS] * 10)
    return ParzenEstimator(
        layout,
        numeric,
        options,
        np.ones(len(numeric)),
        prior_weight=1e-9,
        bandwidth_floor=0.01,
        sigmas=np.array([0.01, 0.01]),
    )


def _is_whole(candidates) -> np.ndarray:
    """Per candidate: all of x, y and c from one cluster."""
    near = np.abs(candidates.raw[:, :, None] - np.array([0.2, 0.8])) < 0.1
    option = candidates.options[:, 0]
    same = [near[:, 0, k] & near[:, 1, k] & (option == k) for k in (0, 1)]
    return same[0] | same[1]


def test_each_block_holds_its_whole_draws_first_then_per_parameter_ones():
    candidates = _good().sample_blocks(np.random.default_rng(0), 400, 3, 5)
    whole = _is_whole(candidates).reshape(400, 8)
    assert whole[:, :3].all()  # whole-point draws never mix the clusters
    # a per-parameter draw mixes them 3 times in 4 (x, y, c each a fair coin)
    assert 0.70 < 1 - whole[:, 3:].mean() < 0.80


@pytest.mark.parametrize("n_whole, n_marginal", [(8, 0), (0, 8)])
def test_one_kind_only_draws_as_sample_does(n_whole, n_marginal):
    blocks = _good().sample_blocks(np.random.default_rng(3), 50, n_whole, n_marginal)
    plain = _good().sample(np.random.default_rng(3), 400, marginal=n_marginal > 0)
    for name in ("raw", "values", "options"):
        assert np.array_equal(getattr(blocks, name), getattr(plain, name))


def test_negative_counts_are_refused():
    with pytest.raises(ValueError) as error:
        _good().sample_blocks(np.random.default_rng(0), 4, -1, 3)
    message = (
        "`n_whole >= 0 and n_marginal >= 0` must hold, but got n_whole=-1, n_marginal=3"
    )
    assert str(error.value) == message


def _history() -> History:
    history = History(SPACE)
    for i in range(20):
        x, y, c = CORNERS[i % 2]
        history.add({"x": x + 1e-4 * i, "y": y - 1e-4 * i, "c": c}, float(i))
    for i in range(10):
        history.add({"x": 0.5 + 1e-3 * i, "y": 0.05, "c": i % 2}, 100.0 + i)
    return history


def _suggestions(n_pending, **settings):
    """100 suggestions with ``n_pending`` points pending, the good set the 20
    clustered trials."""
    history = _history()
    history.set_pending([{"x": 0.5, "y": 0.5, "c": 0}] * n_pending)
    rng = np.random.default_rng(0)
    base = {"gamma": 1.0, "max_below": 20, "bandwidth_floor": 0.01}
    return [
        tpe.suggest(SPACE, history, rng, **{**base, **settings})[0] for _ in range(100)
    ]


def test_share_one_is_the_gate_as_before_and_share_zero_no_recombination():
    gated = {"marginal_gate": "count"}
    everything = _suggestions(16, marginal_draws=True)
    assert _suggestions(16, **gated) == everything
    assert _suggestions(16, **gated, marginal_share=1.0) == everything
    assert _suggestions(16, **gated, marginal_share=0.0) == _suggestions(16)


def test_a_share_changes_the_suggestions_only_while_the_gate_holds():
    half = {"marginal_gate": "count", "marginal_share": 0.5}
    assert _suggestions(9, **half) == _suggestions(9)  # gate shut: as the default
    with_share = _suggestions(16, **half)
    assert with_share != _suggestions(16)
    assert with_share != _suggestions(16, marginal_draws=True)


def test_share_rounds_halves_up_so_one_candidate_is_drawn_per_parameter():
    # n_ei_candidates=1, share 0.5: round half up gives the one candidate per
    # parameter, i.e. the draws of the full share
    one = {"marginal_gate": "count", "n_ei_candidates": 1}
    assert _suggestions(16, **one, marginal_share=0.5) == _suggestions(16, **one)
    assert _suggestions(16, **one, marginal_share=0.49) == _suggestions(
        16, n_ei_candidates=1
    )


@pytest.mark.parametrize("share", [-0.1, 1.5, float("nan")])
def test_a_share_outside_zero_to_one_is_refused(share):
    with pytest.raises(ValueError) as error:
        TPESettings(marginal_share=share)
    assert "must hold, but got marginal_share=" in str(error.value)
    with pytest.raises(ValueError, match="marginal_share"):
        tpe.suggest(SPACE, _history(), np.random.default_rng(0), marginal_share=share)
