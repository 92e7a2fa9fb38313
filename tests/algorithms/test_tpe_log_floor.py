"""TPE's ``log_floor``: the log-scaled parameters' own bandwidth floor."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpo_service.algorithms import tpe
from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe.sampler import TPESettings
from hpo_service.space import compile_space, hp

SPACE = compile_space(
    {
        "C": hp.loguniform("C", math.log(1e-3), math.log(1e3)),
        "x": hp.uniform("x", 0, 1),
    }
)
CONTINUOUS = compile_space({"x": hp.uniform("x", 0, 1), "y": hp.uniform("y", 0, 1)})
QUANTISED_LOG = compile_space({"w": hp.qloguniform("w", math.log(2), math.log(512), 1)})


def history_of(space) -> History:
    """40 trials; the good ones all at one value of the first parameter (no spread)."""
    rng = np.random.default_rng(0)
    history = History(space)
    labels = [s.label for s in space]
    for i in range(40):
        params = {label: float(rng.random()) for label in ("x", "y") if label in labels}
        good = i % 4 == 0
        if "C" in labels:
            params["C"] = 1.0 if good else float(np.exp(rng.uniform(-6.9, 6.9)))
        if "w" in labels:
            params["w"] = 16.0 if good else float(rng.integers(2, 513))
        loss = (0.0 if good else 1.0) + params.get("x", 0.0)
        history.add(params, loss)
    return history


def suggestions(space, history, **settings) -> list[dict]:
    return [
        tpe.suggest(space, history, np.random.default_rng(s), **settings)[0]
        for s in range(100)
    ]


def test_a_wider_floor_spreads_log_proposals_over_decades():
    history = history_of(SPACE)
    narrow = np.log10([p["C"] for p in suggestions(SPACE, history)])
    wide = np.log10([p["C"] for p in suggestions(SPACE, history, log_floor=2.0)])
    # The good kernels all sit on C=1 with no spread, so the floor sets their width:
    # 0.3 / 11 of the 6 decades (0.16 decades) by default, 2 / 11 (1.1 decades) here.
    assert np.mean(np.abs(narrow) < 0.5) > 0.8
    assert np.mean(np.abs(wide) > 0.5) > 0.3
    assert np.std(wide) > 2 * np.std(narrow)
    assert np.all(np.abs(wide) <= 3.0 + 1e-9)


def test_spaces_without_log_parameters_are_unchanged():
    history = history_of(CONTINUOUS)
    default = suggestions(CONTINUOUS, history)
    assert default == suggestions(CONTINUOUS, history, log_floor=2.0)


def test_zero_gives_the_log_parameters_the_bandwidth_floor():
    history = history_of(SPACE)
    default = suggestions(SPACE, history)
    assert default == suggestions(SPACE, history, log_floor=0.0)
    assert default == suggestions(SPACE, history, log_floor=0.3)


def test_a_quantised_log_parameter_takes_the_larger_floor():
    history = history_of(QUANTISED_LOG)
    wide = suggestions(QUANTISED_LOG, history, quantised_floor=2.0)
    # log_floor below quantised_floor: the quantised floor holds.
    assert wide == suggestions(
        QUANTISED_LOG, history, quantised_floor=2.0, log_floor=1.0
    )
    assert wide == suggestions(QUANTISED_LOG, history, log_floor=2.0)
    assert wide != suggestions(QUANTISED_LOG, history)


@pytest.mark.parametrize("value", [-1.0, float("nan"), "wide"])
def test_log_floor_is_checked(value):
    with pytest.raises(ValueError, match="log_floor"):
        TPESettings(log_floor=value)
