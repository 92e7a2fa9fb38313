"""History: columnar, incremental record of finished trials plus pending params."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpo_service.algorithms._history import History
from hpo_service.space import compile_space, hp

SPACE = compile_space(
    {"x": hp.uniform("x", 0, 1), "c": hp.choice("c", [{"k": hp.randint("k", 5)}, None])}
)


def test_columns_hold_values_and_nan_where_inactive():
    history = History(SPACE)
    history.add({"x": 0.5, "c": 0, "k": 3}, 1.5)
    history.add({"x": 0.25, "c": 1}, None)
    history.add({"x": 0.75, "c": 1}, float("nan"))
    assert len(history) == 3
    np.testing.assert_array_equal(history.values("x"), [0.5, 0.25, 0.75])
    np.testing.assert_array_equal(history.values("c"), [0, 1, 1])
    assert history.values("k")[0] == 3
    assert np.isnan(history.values("k")[1:]).all()
    assert history.losses[0] == 1.5
    assert np.isnan(history.losses[1:]).all()


def test_growth_keeps_every_row():
    history = History(SPACE)
    for i in range(1000):
        history.add({"x": i / 1000, "c": 1}, float(i))
    assert len(history) == 1000
    np.testing.assert_array_equal(history.losses, np.arange(1000.0))
    np.testing.assert_allclose(history.values("x"), np.arange(1000) / 1000)


def test_views_are_read_only():
    history = History(SPACE)
    history.add({"x": 0.5, "c": 1}, 1.0)
    with pytest.raises(ValueError):
        history.values("x")[0] = 2.0
    with pytest.raises(ValueError):
        history.losses[0] = 2.0


def test_pending_is_replaced_not_appended():
    history = History(SPACE)
    history.set_pending([{"x": 0.1, "c": 1}])
    history.set_pending([{"x": 0.2, "c": 1}, {"x": 0.3, "c": 0, "k": 1}])
    assert [p["x"] for p in history.pending] == [0.2, 0.3]
    assert not math.isnan(history.pending[1]["k"])
