"""TPE's ``liar_width="gaps"``: pending points' continuous kernels at their gap width.

The pending points join the bad density (as with ``"above"``, MOTPE's liar), but each
one's kernel in a continuous parameter is as wide as its larger gap to a sorted
neighbour there, as Optuna 5 gives its running trials; everything else keeps the
``bandwidth`` rule, and with nothing pending nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from hpo_service.algorithms import motpe, tpe
from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe import sampler
from hpo_service.algorithms._tpe.parzen_estimator import (
    Candidates,
    GroupLayout,
    ParzenEstimator,
)
from hpo_service.algorithms._tpe.sampler import TPESettings
from hpo_service.space import compile_space, hp

MIXED = compile_space({"x": hp.uniform("x", 0, 1), "d": hp.uniformint("d", 1, 20)})
# Two pending points close together, away from most finished trials.
PENDING = [{"x": 0.30, "d": 5}, {"x": 0.31, "d": 5}]
G = {"liar_width": "gaps", "avoid_repeats": "none"}


def two_objective_history(n: int = 60, seed: int = 0) -> History:
    """``n`` finished trials of MIXED with two objectives, nothing pending."""
    history = History(MIXED)
    rng = np.random.default_rng(seed)
    for _ in range(n):
        x, d = float(rng.random()), int(rng.integers(1, 21))
        history.add({"x": x, "d": d}, [x + 0.01 * d, 1 - x])
    return history


def bad_density(history: History, **settings: object) -> ParzenEstimator:
    """MOTPE's bad density of the joint (x, d) group, as the sampler builds it."""
    config = TPESettings.from_kwargs(
        {**motpe.MULTI_OBJECTIVE_DEFAULTS, "multivariate": True, **settings}
    )
    ranked = history.scalarised(motpe.rank_trials(history, config))
    (group,) = sampler._groups(MIXED, True, config.whole_end_bins)
    rng = np.random.default_rng(0)
    _, bad = sampler._models(group, ranked, history.pending, rng, config)
    assert isinstance(bad, ParzenEstimator)
    return bad


def test_a_pending_points_kernel_is_its_neighbour_gap_the_rest_unchanged():
    history = two_objective_history()
    history.set_pending(PENDING)
    above = bad_density(history)
    gaps = bad_density(history, liar_width="gaps")
    x, d = (
        [s.label for s in above.layout.numeric].index(label) for label in ("x", "d")
    )
    k = above.mus.shape[0] - 1  # the last component is the prior
    # The same components at the same places with the same weights.
    assert np.array_equal(gaps.mus, above.mus)
    assert np.array_equal(gaps.weights, above.weights)
    # Each pending x kernel is its larger gap to a sorted neighbour among all the
    # bad density's points (finished and pending), recomputed here from the means.
    xs = np.sort(above.mus[:k, x])
    for row in (k - 2, k - 1):
        at = int(np.searchsorted(xs, above.mus[row, x]))
        left = xs[at] - xs[at - 1]
        right = xs[at + 1] - xs[at]
        floor = 0.3 / min(100.0, k + 1.0)
        assert gaps.sigmas[row, x] == pytest.approx(max(left, right, floor))
    # Narrower than the shared Scott width the pending points have with "above".
    assert np.all(gaps.sigmas[k - 2 : k, x] < 0.5 * above.sigmas[k - 2 : k, x])
    # The finished trials' kernels, the integer column and the prior: bit for bit.
    assert np.array_equal(gaps.sigmas[: k - 2], above.sigmas[: k - 2])
    assert np.array_equal(gaps.sigmas[:, d], above.sigmas[:, d])
    assert np.array_equal(gaps.sigmas[k:], above.sigmas[k:])


def candidates_at(layout: GroupLayout, xs: list[float], d: int) -> Candidates:
    """Candidates of the (x, d) group at ``xs`` with the integer ``d``."""
    numeric, options = layout.observations(
        [
            np.array(xs) if s.label == "x" else np.full(len(xs), float(d))
            for s in layout.specs
        ]
    )
    return Candidates(raw=numeric, values=layout.to_values(numeric), options=options)


def test_the_bad_density_rises_at_a_pending_point_and_not_far_from_it():
    history = two_objective_history()
    history.set_pending(PENDING)
    above = bad_density(history)
    gaps = bad_density(history, liar_width="gaps")
    # At the pending points (x = 0.30, 0.31 with d = 5) the narrow kernels make the
    # bad density several times higher than the shared width does, so l / g drops
    # there far more; a proposal 0.15 away, outside avoid_repeats' radius of 0.1
    # and beyond both kernels' reach, sees the bad density almost unchanged.
    near = candidates_at(above.layout, [0.30, 0.31], 5)
    far = candidates_at(above.layout, [0.60, 0.75], 5)
    rise_near = gaps.log_pdf(near) - above.log_pdf(near)
    rise_far = gaps.log_pdf(far) - above.log_pdf(far)
    assert np.all(rise_near > np.log(3.0))
    assert np.all(np.abs(rise_far) < np.log(1.25))


def picks_near_the_pending_favourite(radius: float, **settings: object) -> int:
    """Of 40 MOTPE proposals (seeds 0-39) made while eight workers are all pending
    at the proposal MOTPE likes best (60 finished trials of one continuous
    parameter, two objectives), how many land within ``radius`` of it."""
    space = compile_space({"x": hp.uniform("x", 0, 1)})
    history = History(space)
    rng = np.random.default_rng(4)
    for _ in range(60):
        x = float(rng.random())
        history.add({"x": x}, [abs(x - 0.4), abs(x - 0.45)])
    favourite = motpe.suggest(space, history, np.random.default_rng(0))[0]["x"]
    history.set_pending([{"x": favourite}] * 8)
    picks = [
        motpe.suggest(space, history, np.random.default_rng(s), **settings)[0]
        for s in range(40)
    ]
    return sum(abs(p["x"] - favourite) < radius for p in picks)


def test_a_proposal_next_to_a_pending_point_is_pushed_away():
    # With the narrow pending kernels the next proposals keep further away from
    # the pending favourite than with the shared width, on a space where
    # avoid_repeats' discrete test never matches (one continuous parameter: it
    # only looks within 0.1 of the range).
    near = picks_near_the_pending_favourite
    assert near(0.01, **G) < near(0.01, avoid_repeats="none")


def sequential_losses(suggest: Callable[..., list], **settings: object) -> np.ndarray:
    """The losses of a 40-trial sequential two-objective study on ``MIXED`` (one
    trial in flight at a time, so nothing pending when it asks; rng seed 11), its
    points proposed by ``suggest(space, history, rng, 1, **settings)``."""
    study = History(MIXED)
    rng = np.random.default_rng(11)
    for _ in range(40):
        (params,) = suggest(MIXED, study, rng, 1, **settings)
        study.add(params, [params["x"] + 0.01 * params["d"], 1 - params["x"]])
    return study.objectives.copy()


def history_unchanged_without_pending(
    suggest: Callable[..., list], **settings: object
) -> History:
    """Assert that ``settings`` change nothing while nothing is pending: one call
    of MOTPE on :func:`two_objective_history`, and a 40-trial sequential study of
    ``suggest`` (one trial in flight at a time), bit for bit as the defaults'.
    Returns that history, for the caller to set points pending."""
    history = two_objective_history()
    plain = motpe.suggest(MIXED, history, np.random.default_rng(3), 1)
    assert motpe.suggest(MIXED, history, np.random.default_rng(3), 1, **settings) == (
        plain
    )
    runs = [sequential_losses(suggest, **given) for given in ({}, settings)]
    assert np.array_equal(runs[0], runs[1])
    return history


def test_nothing_pending_changes_nothing():
    history = history_unchanged_without_pending(tpe.suggest, **G)
    # With points pending (and with the points of a call of several) they differ.
    history.set_pending(PENDING)
    assert motpe.suggest(MIXED, history, np.random.default_rng(3), 4, **G) != (
        motpe.suggest(MIXED, history, np.random.default_rng(3), 4, avoid_repeats="none")
    )


def test_unknown_values_are_refused():
    with pytest.raises(ValueError, match=r"liar_width in \('above', 'good', 'gaps'\)"):
        TPESettings(liar_width="narrow")


# ``liar_floor``: the pending points' gap widths floored at liar_floor / min(100, k + 1)
# of the range (1.0: Optuna's magic clip, 1/100 of the range from 99 kernels on).
# Three pending points 0.001 apart: the middle one's gaps are far below any floor.
CLUSTER = [{"x": 0.300, "d": 5}, {"x": 0.301, "d": 5}, {"x": 0.302, "d": 5}]
GF = {"liar_width": "gaps", "liar_floor": 1.0}


@pytest.mark.parametrize("liar_floor", [0.5, 1.0, 3.0])
def test_pending_kernels_are_at_least_the_liar_floor(liar_floor: float):
    history = two_objective_history()
    history.set_pending(CLUSTER)
    gaps = bad_density(history, liar_width="gaps")
    floored = bad_density(history, liar_width="gaps", liar_floor=liar_floor)
    x, d = ([s.label for s in gaps.layout.numeric].index(label) for label in ("x", "d"))
    k = gaps.mus.shape[0] - 1  # the last component is the prior
    clip = liar_floor / min(100.0, k + 1.0)
    pending = slice(k - 3, k)
    # Each pending x kernel is the wider of its gap width and the floor: the middle
    # point's gaps (0.001) are below it, so its kernel is exactly the floor.
    expected = np.maximum(gaps.sigmas[pending, x], clip)
    assert np.array_equal(floored.sigmas[pending, x], expected)
    assert gaps.sigmas[k - 2, x] < clip
    assert floored.sigmas[k - 2, x] == clip
    # The finished trials' kernels, the integer column, the prior, the means and
    # the weights: bit for bit those of liar_floor=0.
    assert np.array_equal(floored.sigmas[: k - 3], gaps.sigmas[: k - 3])
    assert np.array_equal(floored.sigmas[:, d], gaps.sigmas[:, d])
    assert np.array_equal(floored.sigmas[k:], gaps.sigmas[k:])
    assert np.array_equal(floored.mus, gaps.mus)
    assert np.array_equal(floored.weights, gaps.weights)


def test_a_gap_wider_than_the_liar_floor_is_kept():
    # One pending point alone in a wide empty stretch of x: its gap width is above
    # the floor, so the floor leaves it as it is.
    history = History(MIXED)
    for i in range(40):
        x = 0.5 * i / 39  # finished trials in [0, 0.5] only
        history.add({"x": x, "d": 1 + i % 20}, [x, 1 - x])
    history.set_pending([{"x": 0.9, "d": 5}])
    gaps = bad_density(history, liar_width="gaps")
    floored = bad_density(history, **GF)
    x = [s.label for s in gaps.layout.numeric].index("x")
    k = gaps.mus.shape[0] - 1
    assert gaps.sigmas[k - 1, x] > 1.0 / min(100.0, k + 1.0)
    assert np.array_equal(floored.sigmas, gaps.sigmas)


def test_liar_floor_changes_nothing_sequentially():
    history = history_unchanged_without_pending(motpe.suggest, **GF)
    # With points pending the floor changes some calls' proposals.
    history.set_pending(CLUSTER)
    floored, gaps = (
        [
            motpe.suggest(MIXED, history, np.random.default_rng(s), 4, **settings)
            for s in range(10)
        ]
        for settings in (GF, {"liar_width": "gaps"})
    )
    assert floored != gaps


def test_the_floored_pending_kernels_push_proposals_further_away():
    # Eight workers pending at the one proposal MOTPE likes best (as above): the
    # bare gap widths (the 0.3 floor, 0.005 of the range at 60 trials) let most
    # proposals land 0.015-0.03 from it; Optuna's clip (1/61) keeps them further.
    near = picks_near_the_pending_favourite
    assert near(0.03, **G, liar_floor=1.0) < near(0.03, **G) // 2


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"liar_width": "gaps", "liar_floor": -0.01}, r"`liar_floor >= 0` must hold"),
        (
            {"liar_width": "gaps", "liar_floor": float("nan")},
            r"`liar_floor is a finite number` must hold",
        ),
        (
            {"liar_width": "gaps", "liar_floor": "1.0"},
            r"`liar_floor is a finite number` must hold",
        ),
        (
            {"liar_width": "gaps", "liar_floor": True},
            r"`liar_floor is a finite number` must hold",
        ),
        # A floor with another liar would be silently ignored: refused instead.
        (
            {"liar_floor": 1.0},
            r"`liar_floor == 0 or liar_width == 'gaps'` must hold, "
            r"but got liar_floor=1.0",
        ),
    ],
)
def test_bad_liar_floors_are_refused(settings: dict, message: str):
    with pytest.raises(ValueError, match=message):
        TPESettings.from_kwargs(settings)
    history = two_objective_history(20)
    history.set_pending(CLUSTER)
    with pytest.raises(ValueError, match=message):
        motpe.suggest(MIXED, history, np.random.default_rng(0), 1, **settings)
