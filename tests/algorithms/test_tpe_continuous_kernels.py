"""TPE's ``continuous_kernels``: Optuna's neighbour-gap widths, continuous kernels."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_service.algorithms import motpe
from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe import sampler
from hpo_service.algorithms._tpe.parzen_estimator import GroupLayout, ParzenEstimator
from hpo_service.algorithms._tpe.sampler import TPESettings
from hpo_service.space import compile_space, hp

MIXED = compile_space({"x": hp.uniform("x", 0, 1), "d": hp.uniformint("d", 1, 20)})
# x: a cluster at 0.50-0.52 and one isolated value at 0.90.
X = np.array([0.50, 0.51, 0.52, 0.90])
D = np.array([3.0, 7.0, 12.0, 18.0])


def widths(**options: object) -> np.ndarray:
    """The kernel widths ``(4, 2)`` (columns x, d) of a density fit to X, D."""
    layout = GroupLayout(list(MIXED), whole_end_bins=True)
    by_label = {"x": X, "d": D}
    numeric, opts = layout.observations([by_label[s.label] for s in layout.specs])
    density = ParzenEstimator(
        layout,
        numeric,
        opts,
        np.ones(X.size),
        bandwidth="scott",
        bandwidth_floor=0.01,
        **options,
    )
    columns = [s.label for s in layout.numeric]
    return density.sigmas[: X.size][:, [columns.index("x"), columns.index("d")]]


def test_continuous_kernels_take_the_larger_gap_to_a_neighbour():
    scott, gaps = widths(), widths(continuous_gaps=True)
    # Scott's rule gives every x kernel one width; the gap rule the larger gap to a
    # sorted neighbour (the outermost ones: their inner gap), so the cluster's
    # kernels are narrow and the isolated value's reaches the cluster.
    assert np.ptp(scott[:, 0]) == 0
    assert gaps[:, 0] == pytest.approx([0.01, 0.01, 0.38, 0.38])
    assert scott[0, 0] > 5 * gaps[0, 0]
    # The integer parameter keeps its width bit for bit.
    assert np.array_equal(gaps[:, 1], scott[:, 1])
    # With the quantised gaps too, both columns are gap widths.
    both = widths(continuous_gaps=True, quantised_gaps=True)
    assert np.array_equal(both[:, 0], gaps[:, 0])
    assert not np.array_equal(both[:, 1], scott[:, 1])


def trees_history() -> History:
    """60 finished trials of MIXED with two objectives, two pending points."""
    history = History(MIXED)
    rng = np.random.default_rng(0)
    for _ in range(60):
        x, d = float(rng.random()), int(rng.integers(1, 21))
        history.add({"x": x, "d": d}, [x + 0.01 * d, 1 - x])
    history.set_pending([{"x": 0.30, "d": 5}, {"x": 0.31, "d": 9}])
    return history


def bad_widths(**settings: object) -> tuple[np.ndarray, int]:
    """MOTPE's bad density's x widths (finished kernels then pending ones), and the
    number of pending kernels, as the sampler builds it."""
    history = trees_history()
    config = TPESettings.from_kwargs({**motpe.MULTI_OBJECTIVE_DEFAULTS, **settings})
    ranked = history.scalarised(motpe.rank_trials(history, config))
    (group,) = [
        g
        for g in sampler._groups(MIXED, False, config.whole_end_bins)
        if g.labels == ("x",)
    ]
    rng = np.random.default_rng(0)
    _, bad = sampler._models(group, ranked, history.pending, rng, config)
    return bad.sigmas[:-1, 0], len(history.pending)


def test_pending_points_get_their_own_narrow_kernels_in_the_bad_density():
    default, n_pending = bad_widths()
    gaps, _ = bad_widths(continuous_kernels="gaps")
    # By default the two pending points share the bad trials' one Scott width;
    # with the gap rule each is as wide as its larger gap (the two pending points
    # sit 0.01 apart among 54 bad trials spread over [0, 1]).
    assert np.ptp(default) == 0
    assert np.all(gaps[-n_pending:] < 0.5 * default[-n_pending:])


def test_motpe_proposals_change_only_where_continuous_parameters_are():
    history = trees_history()

    def points(space: object, hist: History, **settings: object) -> list[dict]:
        return motpe.suggest(space, hist, np.random.default_rng(3), 4, **settings)

    assert points(MIXED, history, continuous_kernels="gaps") != points(MIXED, history)
    # An integer-only space (the tree problem's max_depth) is unchanged bit for bit.
    depth = compile_space({"d": hp.uniformint("d", 1, 20)})
    only_d = History(depth)
    for d in range(1, 21):
        only_d.add({"d": d}, [abs(d - 10), abs(d - 12)])
    only_d.set_pending([{"d": 11}])
    assert points(depth, only_d, continuous_kernels="gaps") == points(depth, only_d)


def test_unknown_values_are_refused():
    with pytest.raises(ValueError, match="continuous_kernels in"):
        TPESettings(continuous_kernels="optuna")
