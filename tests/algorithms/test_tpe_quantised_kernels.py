"""TPE's ``quantised_kernels``: Optuna's neighbour-gap widths for integer kernels."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_service.algorithms import motpe, tpe
from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe.parzen_estimator import (
    Candidates,
    GroupLayout,
    ParzenEstimator,
)
from hpo_service.algorithms._tpe.sampler import TPESettings
from hpo_service.space import compile_space, hp

DEPTH = compile_space({"d": hp.uniformint("d", 1, 20)})
# 10 tried 20 times, a few other values once each.
TRIED = np.array([10.0] * 20 + [1, 3, 5, 7, 13, 15, 17, 19])


def masses(quantised_gaps: bool) -> dict[int, float]:
    """Probability of each value 1-20 under a density fit to ``TRIED``."""
    layout = GroupLayout(list(DEPTH), whole_end_bins=True)
    numeric, options = layout.observations([TRIED])
    density = ParzenEstimator(
        layout,
        numeric,
        options,
        np.ones(TRIED.size),
        prior_weight=1.5,
        bandwidth="scott",
        bandwidth_floor=0.3,
        quantised_gaps=quantised_gaps,
    )
    raw = (np.arange(1, 21, dtype=float)[:, None] - 0.5) / 20  # bin centres
    points = Candidates(
        raw=raw, values=layout.to_values(raw), options=np.empty((20, 0), dtype=int)
    )
    return dict(zip(range(1, 21), np.exp(density.log_pdf(points)), strict=True))


def test_gap_widths_make_a_histogram_of_the_values_tried():
    scott, gaps = masses(False), masses(True)
    assert sum(scott.values()) == pytest.approx(1.0)
    assert sum(gaps.values()) == pytest.approx(1.0)
    # Scott's shared width (about 0.9 of a step here) spreads the 20 tries of 10
    # over 9 and 11; the gap rule keeps them on 10 (ties get the floor's width).
    assert scott[11] / scott[10] > 0.4
    assert gaps[11] / gaps[10] < 0.1
    assert gaps[10] > 0.5


def history_with_tried_value() -> History:
    """Good trials at d = 9, 10, 10, 11; d = 10 also tried 20 times with a bad
    loss, every other value once."""
    history = History(DEPTH)
    for d in (9, 10, 10, 11):
        history.add({"d": d}, 0.0)
    for _ in range(20):
        history.add({"d": 10}, 1.0)
    for d in range(1, 21):
        if d not in (9, 10, 11):
            history.add({"d": d}, 1.0)
    return history


def proposals(quantised_kernels: str, seeds: int = 100) -> np.ndarray:
    history = history_with_tried_value()
    return np.array(
        [
            tpe.suggest(
                DEPTH,
                history,
                np.random.default_rng(seed),
                gamma=0.05,  # the 4 good trials
                multivariate=False,
                whole_end_bins=True,
                quantised_kernels=quantised_kernels,
            )[0]["d"]
            for seed in range(seeds)
        ]
    )


def test_bad_tries_of_one_value_repel_that_value_not_its_neighbours():
    same, gaps = proposals("same"), proposals("gaps_above")
    # Neither proposes the value tried 20 times with a bad loss.
    assert np.mean(same == 10) < 0.05 and np.mean(gaps == 10) < 0.05
    # Scott's shared width spreads those 20 tries over 9 and 11 as well, so the
    # proposals leave the good values (to 8: 98 of 100 seeds when written); the
    # gap widths keep the bad density on 10, and the good neighbours 9 and 11,
    # untried as bad, are proposed.
    assert np.mean(np.isin(same, (9, 11))) < 0.2
    assert np.mean(np.isin(gaps, (9, 11))) > 0.8


def test_continuous_spaces_are_unchanged_bit_for_bit():
    space = compile_space({"x": hp.uniform("x", 0, 1), "y": hp.loguniform("y", -3, 0)})
    history = History(space)
    rng = np.random.default_rng(0)
    for _ in range(30):
        x, y = float(rng.random()), float(np.exp(rng.uniform(-3, 0)))
        history.add({"x": x, "y": y}, [x, 1 - x + y])

    def points(setting: str) -> list[dict]:
        return motpe.suggest(
            space, history, np.random.default_rng(1), 4, quantised_kernels=setting
        )

    assert points("gaps") == points("same")
    assert points("gaps_above") == points("same")


def test_motpe_passes_the_setting_and_unknown_values_are_refused():
    history = History(DEPTH)
    for d in range(1, 21):
        history.add({"d": d}, [d, 20 - d])
    for setting in ("same", "gaps_above", "gaps"):
        (point,) = motpe.suggest(
            DEPTH, history, np.random.default_rng(0), quantised_kernels=setting
        )
        assert 1 <= point["d"] <= 20
    with pytest.raises(ValueError, match="quantised_kernels in"):
        TPESettings(quantised_kernels="optuna")


def test_optuna_like_integer_kernels_leave_continuous_and_choices_alone():
    # The eleventh attempt's candidate for MOTPE, {"quantised_kernels": "gaps",
    # "quantised_floor": 1.0}: only quantised parameters may change, so ZDT's runs
    # (continuous) and a categorical parameter's draws stay bit for bit.
    space = compile_space(
        {
            "x": hp.uniform("x", 0, 1),
            "y": hp.loguniform("y", -3, 0),
            "c": hp.choice("c", ["a", "b", "c"]),
        }
    )
    history = History(space)
    rng = np.random.default_rng(0)
    for _ in range(40):
        x, y = float(rng.random()), float(np.exp(rng.uniform(-3, 0)))
        c = int(rng.integers(3))
        history.add({"x": x, "y": y, "c": c}, [x + 0.1 * c, 1 - x + y])
    history.set_pending([{"x": 0.5, "y": 0.2, "c": 1}])

    def points(**settings: object) -> list[dict]:
        return motpe.suggest(space, history, np.random.default_rng(3), 4, **settings)

    candidate = points(quantised_kernels="gaps", quantised_floor=1.0)
    assert candidate == points()
    # ... while an integer parameter's proposals do change with it.
    history = History(DEPTH)
    for d in range(1, 21):
        history.add({"d": d}, [abs(d - 10), abs(d - 12)])
    draws = [
        [
            motpe.suggest(DEPTH, history, np.random.default_rng(s), **settings)[0]["d"]
            for s in range(20)
        ]
        for settings in ({}, {"quantised_kernels": "gaps", "quantised_floor": 1.0})
    ]
    assert draws[0] != draws[1]
