"""Grid search: every discrete point once, in the documented order, then exhausted."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from hpo_service import Trials, fmin, grid, hp
from hpo_service.algorithms._history import History
from hpo_service.exceptions import SearchExhausted, SpaceError
from hpo_service.space import compile_space, validate_params

RNG = np.random.default_rng(0)

CONDITIONAL = compile_space(
    {
        "model": hp.choice(
            "model",
            [
                {"depth": hp.randint("depth", 2, 5)},
                {
                    "c": hp.quniform("c", 0.0, 1.0, 0.5),
                    "kind": hp.pchoice("kind", [(0.9, "a"), (0.1, "b")]),
                },
            ],
        ),
        "units": hp.uniformint("units", 8, 32, q=8),
    }
)


def test_order_is_nested_loops_with_the_last_parameter_fastest():
    points = list(grid.points(CONDITIONAL))
    expected = [
        {"model": 0, "depth": d, "units": u} for d in (2, 3, 4) for u in (8, 16, 24, 32)
    ] + [
        {"model": 1, "c": c, "kind": k, "units": u}
        for c in (0.0, 0.5, 1.0)
        for k in (0, 1)
        for u in (8, 16, 24, 32)
    ]
    assert points == expected
    assert grid.grid_size(CONDITIONAL) == len(expected) == 36
    assert all(validate_params(CONDITIONAL, p) == p for p in points)


def test_quantised_log_values_are_the_multiples_rounding_can_give():
    space = compile_space({"lr": hp.qloguniform("lr", math.log(1), math.log(100), 20)})
    assert [p["lr"] for p in grid.points(space)] == [0, 20, 40, 60, 80, 100]


def test_suggest_skips_tried_and_pending_points_and_then_is_exhausted():
    space = compile_space({"a": hp.randint("a", 4), "b": hp.choice("b", ["x", "y"])})
    history = History(space)
    history.add({"a": 0, "b": 1}, 1.0)  # tried by someone else (a warm start)
    history.set_pending([{"a": 0, "b": 0}])
    first = grid.suggest(space, history, RNG, n=3)
    assert first == [{"a": 1, "b": 0}, {"a": 1, "b": 1}, {"a": 2, "b": 0}]
    for params in first:
        history.add(params, 0.5)
    history.set_pending([])  # the pending trial was cancelled: offered again
    rest = grid.suggest(space, history, RNG, n=10)
    assert rest == [
        {"a": 0, "b": 0},
        {"a": 2, "b": 1},
        {"a": 3, "b": 0},
        {"a": 3, "b": 1},
    ]
    for params in rest:
        history.add(params, 0.5)
    with pytest.raises(SearchExhausted, match="8 grid points"):
        grid.suggest(space, history, RNG)


@pytest.mark.parametrize(
    ("param", "shown"),
    [
        (hp.uniform("x", 0, 1), "'x' (uniform: continuous)"),
        (hp.loguniform("x", 0, 1), "'x' (loguniform: continuous)"),
        (hp.normal("x", 0, 1), "'x' (normal: continuous)"),
        (hp.qnormal("x", 0, 1, 1), "'x' (qnormal: unbounded)"),
        (hp.qlognormal("x", 0, 1, 1), "'x' (qlognormal: unbounded)"),
    ],
)
def test_parameters_without_a_finite_grid_are_refused_by_name(param, shown):
    space = compile_space({"x": param, "ok": hp.randint("ok", 3)})
    with pytest.raises(SpaceError) as info:
        grid.suggest(space, History(space), RNG)
    assert shown in str(info.value) and "'ok'" not in str(info.value)


def test_settings_are_refused():
    space = compile_space(hp.randint("a", 2))
    with pytest.raises(TypeError, match="no settings"):
        grid.suggest(space, History(space), RNG, gamma=0.2)


def test_fmin_runs_the_whole_grid_and_stops():
    space = {"a": hp.randint("a", 3), "b": hp.quniform("b", 0, 2, 1)}
    trials = Trials()
    best = fmin(
        lambda c: (c["a"] - 1) ** 2 + (c["b"] - 2) ** 2,
        space,
        algo=grid.suggest,
        max_evals=100,
        trials=trials,
        show_progressbar=False,
    )
    assert len(trials) == 9
    seen = [(t["misc"]["vals"]["a"][0], t["misc"]["vals"]["b"][0]) for t in trials]
    assert seen == list(itertools.product(range(3), (0.0, 1.0, 2.0)))
    assert best == {"a": 1, "b": 2.0}


def test_fmin_refuses_a_continuous_space_before_running_anything():
    calls = []
    with pytest.raises(SpaceError, match="'x'"):
        fmin(calls.append, hp.uniform("x", 0, 1), algo=grid.suggest, max_evals=5)
    assert calls == []
