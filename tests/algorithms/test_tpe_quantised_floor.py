"""TPE's ``quantised_floor``: the quantised parameters' own bandwidth floor."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_service.algorithms import tpe
from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe.sampler import TPESettings
from hpo_service.space import compile_space, hp

SPACE = compile_space(
    {"depth": hp.uniformint("depth", 1, 20), "x": hp.uniform("x", 0, 1)}
)
CONTINUOUS = compile_space({"x": hp.uniform("x", 0, 1), "y": hp.uniform("y", 0, 1)})


def history_of(space, objectives: int) -> History:
    """40 trials; the good ones all at depth 8 (the same value: a zero spread)."""
    rng = np.random.default_rng(0)
    history = History(space)
    for i in range(40):
        params = {label: float(rng.random()) for label in ("x", "y")}
        if "depth" in {s.label for s in space}:
            params = {"depth": 8 if i % 4 == 0 else int(rng.integers(1, 21)), "x": 0.5}
        loss = 0.0 if params.get("depth") == 8 else 1.0 + params["x"]
        losses = [loss + params["x"], 1.0 - params["x"]] if objectives > 1 else loss
        history.add(params, losses)
    return history


def suggestions(space, history, **settings) -> list[dict]:
    return [
        tpe.suggest(space, history, np.random.default_rng(s), **settings)[0]
        for s in range(100)
    ]


def test_a_wider_floor_spreads_quantised_proposals_to_the_neighbour_values():
    history = history_of(SPACE, objectives=1)
    narrow = np.array([p["depth"] for p in suggestions(SPACE, history)])
    wide = np.array(
        [p["depth"] for p in suggestions(SPACE, history, quantised_floor=1)]
    )
    # The good kernels all sit on 8 with no spread, so the floor sets their width.
    assert np.mean(narrow == 8) > 0.7 > 0.4 > np.mean(wide == 8)
    assert np.ptp(wide) > np.ptp(narrow) >= 1
    assert set(wide) <= set(range(1, 21))


def test_continuous_parameters_keep_their_floor():
    history = history_of(CONTINUOUS, objectives=1)
    default = suggestions(CONTINUOUS, history)
    assert default == suggestions(CONTINUOUS, history, quantised_floor=3.0)


def test_zero_gives_the_quantised_parameters_the_bandwidth_floor():
    history = history_of(SPACE, objectives=1)
    default = suggestions(SPACE, history)
    assert default == suggestions(SPACE, history, quantised_floor=0.0)
    assert default == suggestions(SPACE, history, quantised_floor=0.3)


@pytest.mark.parametrize("value", [-1.0, float("nan"), "wide"])
def test_quantised_floor_is_checked(value):
    with pytest.raises(ValueError, match="quantised_floor"):
        TPESettings(quantised_floor=value)
