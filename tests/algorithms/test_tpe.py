"""TPE suggestions: validity for every kind, determinism, learning, pending points."""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict
from functools import partial

import numpy as np
import pytest

from hpo_service.algorithms import tpe
from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe.parzen_estimator import Candidates
from hpo_service.algorithms._tpe.sampler import TPESettings, _groups, _models
from hpo_service.space import compile_space, hp, validate_params

MIXED = compile_space(
    {
        "u": hp.uniform("u", -2, 3),
        "lu": hp.loguniform("lu", math.log(1e-4), 0.0),
        "qu": hp.quniform("qu", 0.3, 10.2, 0.5),
        "qlu": hp.qloguniform("qlu", 0.0, math.log(500), 5),
        "ui": hp.uniformint("ui", 1, 12),
        "n": hp.normal("n", 1.0, 2.0),
        "ln": hp.lognormal("ln", 0.0, 0.5),
        "qn": hp.qnormal("qn", 0.0, 3.0, 1.0),
        "qln": hp.qlognormal("qln", 1.0, 1.0, 2.0),
        "ri": hp.randint("ri", 2, 6),
        "c": hp.choice(
            "c",
            [
                {
                    "a": hp.uniform("a", 0, 1),
                    "b": hp.pchoice("b", [(0.2, 0), (0.8, 1)]),
                },
                {"k": hp.randint("k", 3)},
                None,
            ],
        ),
    }
)


def _loss(params):
    value = (params["u"] - 1) ** 2 + math.log(params["lu"]) ** 2 / 10 + params["qu"]
    return value + params["ui"] + params.get("a", 0.5) + params["ri"]


def _run(space, loss, seed, n_trials, **settings):
    history = History(space)
    rng = np.random.default_rng(seed)
    for _ in range(n_trials):
        params = tpe.suggest(space, history, rng, **settings)[0]
        history.add(params, loss(params))
    return history


def test_name():
    assert tpe.NAME == "tpe"


@pytest.mark.parametrize("multivariate", [True, False])
def test_suggestions_are_valid_typed_and_active_only(multivariate):
    history = _run(MIXED, _loss, 0, 30, n_startup_jobs=8, multivariate=multivariate)
    picks = tpe.suggest(MIXED, history, np.random.default_rng(1), n=20)
    assert len(picks) == 20
    for params in picks:
        assert validate_params(MIXED, params) == params
        assert set(params) == set(MIXED.active_labels(params))
        for label, value in params.items():
            spec = MIXED[label]
            is_int = spec.kind in ("choice", "randint") or spec.is_int
            assert type(value) is (int if is_int else float), label
            if spec.q is not None:
                assert value / spec.q == pytest.approx(round(value / spec.q), abs=1e-9)
            if spec.kind == "uniform":
                low, high = (
                    (math.exp(spec.low), math.exp(spec.high))
                    if spec.log
                    else (
                        spec.low,
                        spec.high,
                    )
                )
                slack = spec.q / 2 if spec.q else 0.0
                assert low - slack - 1e-12 <= value <= high + slack + 1e-12, label
            if spec.log:
                assert value >= 0


def test_same_seed_same_history_same_suggestions():
    history = _run(MIXED, _loss, 3, 25, n_startup_jobs=5)
    history.set_pending(tpe.suggest(MIXED, history, np.random.default_rng(0), n=3))
    first = tpe.suggest(MIXED, history, np.random.default_rng(42), n=4)
    second = tpe.suggest(MIXED, history, np.random.default_rng(42), n=4)
    assert first == second
    assert first != tpe.suggest(MIXED, history, np.random.default_rng(43), n=4)


def test_startup_phase_draws_from_the_prior_only():
    history = _run(MIXED, _loss, 0, 4, n_startup_jobs=10)
    picks = tpe.suggest(
        MIXED, history, np.random.default_rng(0), n=200, n_startup_jobs=10
    )
    us = np.array([p["u"] for p in picks])
    # The loss prefers u = 1, but the prior is uniform on [-2, 3].
    assert abs(us.mean() - 0.5) < 0.25
    assert us.min() < -1.5
    assert us.max() > 2.5


QUADRATIC = compile_space(
    {"x": hp.uniform("x", -10, 10), "y": hp.uniform("y", -10, 10)}
)


def _quadratic(params):
    return (params["x"] - 3.0) ** 2 + (params["y"] + 1.0) ** 2


def test_tpe_beats_random_search_on_a_quadratic():
    tpe_best, rand_best = [], []
    for seed in range(5):
        history = _run(QUADRATIC, _quadratic, seed, 40, n_startup_jobs=10)
        tpe_best.append(np.min(history.losses))
        rng = np.random.default_rng(seed)
        draws = rng.uniform(-10, 10, size=(40, 2))
        rand_best.append(np.min((draws[:, 0] - 3) ** 2 + (draws[:, 1] + 1) ** 2))
    assert np.median(tpe_best) < 0.5 * np.median(rand_best)


def _min_distance(points):
    xy = np.array([[p["x"], p["y"]] for p in points])
    gaps = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2)
    return gaps[np.triu_indices(len(points), 1)].min()


def _batch_with_growing_pending(history, seed, **settings):
    rng = np.random.default_rng(seed)
    pending = []
    for _ in range(8):
        history.set_pending(pending)
        pending = [*pending, tpe.suggest(QUADRATIC, history, rng, **settings)[0]]
    history.set_pending([])
    return pending


def test_pending_points_spread_the_suggestions():
    for seed in range(4):
        history = _run(QUADRATIC, _quadratic, seed, 40, n_startup_jobs=10)
        grown = _batch_with_growing_pending(history, seed)
        assert _min_distance(grown) > 0.05
        # One call for eight points treats the earlier ones as pending the same way.
        batch = tpe.suggest(QUADRATIC, history, np.random.default_rng(seed), n=8)
        assert _min_distance(batch) > 0.05


def test_pending_points_count_as_bad_observations():
    history = _run(QUADRATIC, _quadratic, 0, 40, n_startup_jobs=10)
    best = {"x": 3.0, "y": -1.0}
    group = _groups(QUADRATIC, True)[0]
    settings = TPESettings()

    def bad_density_at_best(pending):
        rng = np.random.default_rng(0)
        _, bad = _models(group, history, pending, rng, settings)
        raw = group.layout.normalise(np.array([[best["x"], best["y"]]]))
        values = group.layout.to_values(raw)
        point = Candidates(raw=raw, values=values, options=np.empty((1, 0), dtype=int))
        return bad.log_pdf(point)[0]

    assert bad_density_at_best([best] * 3) > bad_density_at_best([]) + 0.1
    ignored = tpe.suggest(
        QUADRATIC, history, np.random.default_rng(5), n=3, constant_liar=False
    )
    history.set_pending([best] * 5)
    assert ignored == tpe.suggest(
        QUADRATIC, history, np.random.default_rng(5), n=3, constant_liar=False
    )


def test_failed_trials_count_as_bad():
    space = compile_space({"x": hp.uniform("x", -1, 1)})
    xs = np.random.default_rng(0).uniform(-1, 1, 60)
    with_failures, without = History(space), History(space)
    for x in xs:
        # Failures (NaN) everywhere left of 0; right of 0 the loss prefers x = 0.5.
        loss = None if x < 0 else (x - 0.5) ** 2
        with_failures.add({"x": x}, loss)
        if loss is not None:
            without.add({"x": x}, loss)

    def share_left(history, **settings):
        rng = np.random.default_rng(1)
        picks = tpe.suggest(space, history, rng, n=200, constant_liar=False, **settings)
        return np.mean([p["x"] < 0 for p in picks])

    assert share_left(with_failures) < 0.2
    assert share_left(with_failures) < 0.75 * share_left(without)
    # With ignore_failures, failed trials are as good as absent.
    assert share_left(with_failures, ignore_failures=True) == share_left(without)


def test_conditional_branch_is_learned_and_children_only_when_active():
    space = compile_space(
        hp.choice(
            "branch",
            [{"x": hp.uniform("x", 0, 1)}, {"z": hp.uniform("z", 0, 1)}],
        )
    )

    def loss(params):
        return params["x"] if params["branch"] == 0 else 1.0 + params["z"]

    history = _run(space, loss, 0, 40, n_startup_jobs=10)
    picks = tpe.suggest(
        space, history, np.random.default_rng(3), n=100, constant_liar=False
    )
    for params in picks:
        assert set(params) == (
            {"branch", "x"} if params["branch"] == 0 else {"branch", "z"}
        )
    assert np.mean([p["branch"] == 0 for p in picks]) > 0.6
    assert np.median([p["x"] for p in picks if p["branch"] == 0]) < 0.2


def test_above_kernel_cap_still_gives_valid_deterministic_points():
    history = _run(MIXED, _loss, 5, 60, n_startup_jobs=10)
    capped = partial(tpe.suggest, max_above_kernels=8)
    first = capped(MIXED, history, np.random.default_rng(0), n=3)
    assert len(first) == 3
    assert first == capped(MIXED, history, np.random.default_rng(0), n=3)
    for params in first:
        assert validate_params(MIXED, params) == params


def test_settings_are_json_and_checked():
    json.dumps(asdict(TPESettings()))
    history = History(QUADRATIC)
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match="n_ei_candidate"):
        tpe.suggest(QUADRATIC, history, rng, n_ei_candidate=5)
    with pytest.raises(ValueError, match="gamma"):
        tpe.suggest(QUADRATIC, history, rng, gamma=0.0)
    with pytest.raises(ValueError, match="n >= 1"):
        tpe.suggest(QUADRATIC, history, rng, n=0)


@pytest.mark.parametrize(("n", "expected"), [(1, 1), (7, 1), (8, 2), (16, 4), (100, 8)])
def test_points_per_fit_is_one_for_small_calls(n, expected):
    assert tpe.points_per_fit(n) == expected


def test_large_calls_give_distinct_valid_deterministic_points():
    history = _run(MIXED, _loss, 2, 60, n_startup_jobs=10)
    first = tpe.suggest(MIXED, history, np.random.default_rng(1), n=32)
    assert first == tpe.suggest(MIXED, history, np.random.default_rng(1), n=32)
    for params in first:
        assert validate_params(MIXED, params) == params
    assert len({json.dumps(p, sort_keys=True) for p in first}) == 32


def _density_at(estimator, group, points):
    raw = group.layout.normalise(np.array([[p["x"], p["y"]] for p in points]))
    values = group.layout.to_values(raw)
    empty = np.empty((len(points), 0), dtype=int)
    return estimator.log_pdf(Candidates(raw=raw, values=values, options=empty))


def test_liars_of_good_width_repel_on_the_good_density_scale():
    history = _run(QUADRATIC, _quadratic, 0, 40, n_startup_jobs=10)
    group = _groups(QUADRATIC, True)[0]
    pending = [{"x": 3.0, "y": -1.0}] * 3
    settings = TPESettings(liar_width="good")
    rng = np.random.default_rng(0)
    good, bad = _models(group, history, pending, rng, settings)
    _, without = _models(group, history, [], np.random.default_rng(0), settings)
    near = [{"x": 3.05, "y": -1.0}]
    assert _density_at(bad, group, near)[0] > _density_at(without, group, near)[0]
    liars = bad.parts[-1][1]  # the pending points' kernels (then a negligible prior)
    np.testing.assert_allclose(liars.sigmas[:-1], np.tile(good.sigmas[0], (3, 1)))


def _spread_history(n):
    """``n`` trials on a line; the three best far apart (wide good kernels)."""
    history = History(QUADRATIC)
    xs = np.linspace(-9, 9, n)
    for i, x in enumerate(xs):
        history.add({"x": float(x), "y": 0.0}, 0.0 if i % (n // 3) == 0 else 1.0 + i)
    return history


def test_pending_points_widen_the_good_density_only_when_asked():
    history = _spread_history(30)
    group = _groups(QUADRATIC, True)[0]
    pending = [{"x": 0.0, "y": 0.0}] * 30

    def good_sigmas(pending, **settings):
        rng = np.random.default_rng(0)
        good, _ = _models(group, history, pending, rng, TPESettings(**settings))
        return good.sigmas[:-1]  # the observations' kernels (the prior's is last)

    unchanged = good_sigmas([], pending_widen=1.0)
    np.testing.assert_array_equal(unchanged, good_sigmas([], pending_widen=0.0))
    np.testing.assert_array_equal(good_sigmas(pending, pending_widen=0.0), unchanged)
    wider = good_sigmas(pending, pending_widen=1.0)  # 30 pending, 30 finished: x2
    np.testing.assert_allclose(wider[:, 0], np.minimum(2 * unchanged[:, 0], 1.0))


def test_the_widening_is_capped_at_max_widen():
    history = _spread_history(30)
    group = _groups(QUADRATIC, True)[0]

    def good_sigmas(n_pending, **settings):
        pending = [{"x": 0.0, "y": 0.0}] * n_pending
        rng = np.random.default_rng(0)
        good, _ = _models(group, history, pending, rng, TPESettings(**settings))
        return good.sigmas[:-1, 0]

    unchanged = good_sigmas(0)
    # 150 pending on 30 finished asks for x6; the default cap allows x2, a cap of 8 x6.
    np.testing.assert_allclose(good_sigmas(150), np.minimum(2 * unchanged, 1.0))
    np.testing.assert_allclose(good_sigmas(30), good_sigmas(150))
    six = good_sigmas(150, max_widen=8.0)
    np.testing.assert_allclose(six, np.minimum(6 * unchanged, 1.0))
    np.testing.assert_array_equal(good_sigmas(150, max_widen=1.0), unchanged)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("liar_weight", 0.0),
        ("liar_width", "narrow"),
        ("pending_widen", -1.0),
        ("max_widen", 0.5),
    ],
)
def test_liar_settings_are_checked(setting, value):
    with pytest.raises(ValueError, match=setting):
        TPESettings(**{setting: value})


_SWITCHES = [
    "multivariate",
    "constant_liar",
    "consider_endpoints",
    "ignore_failures",
    "whole_end_bins",
    "branch_joint",
]


@pytest.mark.parametrize("setting", _SWITCHES)
@pytest.mark.parametrize("value", ["no", "false", 1, 0, None, 2.5])
def test_switch_settings_must_be_bools(setting, value):
    # "no" or "false" would otherwise switch the option on (a non-empty string is true)
    # and None would silently mean False.
    expected = f"`{setting} in (True, False)` must hold, but got {setting}={value!r}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        TPESettings(**{setting: value})
    with pytest.raises(ValueError, match=re.escape(expected)):
        tpe.check_settings({setting: value})


@pytest.mark.parametrize("setting", _SWITCHES)
def test_switch_settings_take_bools(setting):
    assert getattr(TPESettings(**{setting: True}), setting) is True
    assert getattr(TPESettings(**{setting: False}), setting) is False


@pytest.mark.parametrize(
    ("setting", "value", "rule"),
    [
        # Each of these used to pass the check and fail at the first TPE suggestion
        # (after the startup trials) with a numpy or math error, or fail the check
        # with a bare TypeError.
        ("n_ei_candidates", 2.5, "n_ei_candidates is an int"),
        ("n_ei_candidates", True, "n_ei_candidates is an int"),
        ("max_below", 1.5, "max_below is an int"),
        ("linear_forgetting", 2.5, "linear_forgetting is an int"),
        ("n_startup_jobs", None, "n_startup_jobs is an int"),
        ("max_above_kernels", "8", "max_above_kernels is an int"),
        ("gamma", "0.1", "gamma is a finite number"),
        ("prior_weight", math.inf, "prior_weight is a finite number"),
        ("liar_weight", math.inf, "liar_weight is a finite number"),
        ("bandwidth_factor", False, "bandwidth_factor is a finite number"),
    ],
)
def test_numeric_settings_must_be_numbers_of_their_kind(setting, value, rule):
    expected = f"`{rule}` must hold, but got {setting}={value!r}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        tpe.check_settings({setting: value})


def test_numeric_settings_take_numpy_and_whole_numbers():
    # JSON written by a script may spell a count 24.0; it is the int 24.
    settings = TPESettings(
        n_startup_jobs=np.int64(5), n_ei_candidates=24.0, gamma=1, max_widen=math.inf
    )
    assert (settings.n_startup_jobs, settings.n_ei_candidates) == (5, 24)
    assert type(settings.n_startup_jobs) is type(settings.n_ei_candidates) is int
    assert settings.gamma == 1
    json.dumps(asdict(settings))
    space = compile_space({"x": hp.uniform("x", 0, 1)})
    history = History(space)
    for x in (0.1, 0.5, 0.9):
        history.add({"x": x}, x)
    rng = np.random.default_rng(0)
    assert len(tpe.suggest(space, history, rng, n_startup_jobs=0, n_ei_candidates=8.0))
