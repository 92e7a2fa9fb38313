"""TPE numerics against SciPy: truncated normals, estimator densities and masses."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from hpo_service.algorithms._tpe import _truncnorm
from hpo_service.algorithms._tpe.parzen_estimator import (
    Candidates,
    GroupLayout,
    ParzenEstimator,
)
from hpo_service.space import ParamSpec

BOUNDS = [-np.inf, -40.0, -12.0, -8.5, -3.0, -0.5, 0.0, 0.7, 2.0, 9.0, 35.0, np.inf]
PAIRS = [(a, b) for a in BOUNDS for b in BOUNDS if a < b]


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_log_gauss_mass_matches_scipy(a, b):
    got = _truncnorm.log_gauss_mass(np.array([a]), np.array([b]))[0]
    # scipy's truncnorm divides the normal density by that mass: read it back.
    x = max(a, min(b, 0.0))
    expected = stats.norm.logpdf(x) - stats.truncnorm.logpdf(x, a, b)
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("mu", [-3.0, 0.0, 0.4, 2.5])
@pytest.mark.parametrize("sigma", [0.01, 0.3, 2.0])
@pytest.mark.parametrize(("low", "high"), [(0.0, 1.0), (-1.0, 3.0), (-np.inf, np.inf)])
def test_truncnorm_logpdf_matches_scipy(mu, sigma, low, high):
    x = np.linspace(max(low, -4.0), min(high, 4.0), 17)
    got = _truncnorm.logpdf(x, mu, sigma, low, high)
    expected = stats.truncnorm.logpdf(
        x, (low - mu) / sigma, (high - mu) / sigma, loc=mu, scale=sigma
    )
    finite = np.isfinite(expected)
    assert np.array_equal(finite, np.isfinite(got))
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize(
    ("mu", "sigma", "low", "high"),
    [
        (0.2, 0.1, 0.0, 1.0),
        (0.9, 2.0, 0.0, 1.0),
        (-30.0, 1.0, -1.0, 1.0),
        (0.0, 1.0, -np.inf, np.inf),
    ],
)
def test_truncnorm_samples_follow_the_distribution(mu, sigma, low, high):
    rng = np.random.default_rng(0)
    draws = _truncnorm.sample(np.full(4000, mu), sigma, low, high, rng)
    assert np.all((draws >= low) & (draws <= high))
    a, b = (low - mu) / sigma, (high - mu) / sigma
    cdf = stats.truncnorm(a, b, loc=mu, scale=sigma).cdf
    assert stats.kstest(draws, cdf).pvalue > 1e-3


def _estimator(specs, k=12, seed=0, weights=None, prior_weight=1.0, **rule):
    layout = GroupLayout(specs)
    rng = np.random.default_rng(seed)
    bounded = np.isfinite(layout.low)
    numeric = np.where(
        bounded, rng.random((k, bounded.size)), rng.normal(size=(k, bounded.size))
    )
    options = np.empty((k, len(layout.categorical)), dtype=int)
    for j, spec in enumerate(layout.categorical):
        options[:, j] = rng.integers(0, spec.n_options, k)
    raw_values = layout.to_values(numeric)
    obs_numeric = layout.normalise(raw_values)
    w = np.ones(k) if weights is None else weights
    return layout, ParzenEstimator(
        layout, obs_numeric, options, w, prior_weight=prior_weight, **rule
    )


RULES = [
    {"bandwidth": "neighbour"},
    {"bandwidth": "scott", "bandwidth_floor": 0.3},
    {"bandwidth": "neighbour", "consider_endpoints": True, "bandwidth_factor": 0.5},
]


def _candidates(layout, raw=None, values=None, options=None, m=None):
    m = m or (
        len(raw)
        if raw is not None
        else len(values)
        if values is not None
        else len(options)
    )
    raw = np.zeros((m, len(layout.numeric))) if raw is None else raw
    values = layout.to_values(raw) if values is None else values
    options = np.zeros((m, 0), dtype=int) if options is None else options
    return Candidates(raw=raw, values=values, options=options)


@pytest.mark.parametrize("k", [0, 1, 2, 30])
@pytest.mark.parametrize("rule", RULES, ids=lambda r: "-".join(map(str, r.values())))
def test_continuous_density_integrates_to_one(k, rule):
    spec = ParamSpec("x", "uniform", low=-2.0, high=5.0)
    layout, est = _estimator([spec], k=k, **rule)

    def density(u):
        return float(np.exp(est.log_pdf(_candidates(layout, raw=np.array([[u]])))[0]))

    total, _ = integrate.quad(density, 0.0, 1.0, limit=400)
    assert total == pytest.approx(1.0, abs=1e-6)


def test_normal_density_integrates_to_one():
    layout, est = _estimator(
        [ParamSpec("x", "normal", mu=1.0, sigma=3.0)], k=15, seed=3
    )

    def density(u):
        return float(np.exp(est.log_pdf(_candidates(layout, raw=np.array([[u]])))[0]))

    total, _ = integrate.quad(density, -np.inf, np.inf, limit=400)
    assert total == pytest.approx(1.0, abs=1e-6)


def test_joint_two_dimensional_density_integrates_to_one():
    specs = [
        ParamSpec("x", "uniform", low=0, high=1),
        ParamSpec("y", "uniform", low=-1, high=1, log=False),
    ]
    layout, est = _estimator(specs, k=7, seed=1, bandwidth="scott", bandwidth_floor=0.3)
    grid = (np.arange(400) + 0.5) / 400
    xs, ys = np.meshgrid(grid, grid)
    raw = np.column_stack([xs.ravel(), ys.ravel()])
    total = np.exp(est.log_pdf(_candidates(layout, raw=raw))).mean()
    assert total == pytest.approx(1.0, abs=2e-3)


QUANTISED = [
    ParamSpec("q", "uniform", low=0.3, high=10.2, q=0.5),
    ParamSpec("i", "uniform", low=1, high=100, q=1.0, is_int=True),
    ParamSpec("lq", "uniform", low=math.log(1), high=math.log(300), q=2.0, log=True),
    ParamSpec("f", "uniform", low=0.0, high=10.0, q=0.001),
]


@pytest.mark.parametrize("spec", QUANTISED, ids=lambda s: s.label)
@pytest.mark.parametrize("k", [0, 3, 80])
@pytest.mark.parametrize("rule", RULES, ids=lambda r: "-".join(map(str, r.values())))
def test_quantised_mass_sums_to_one(spec, k, rule):
    layout, est = _estimator([spec], k=k, seed=k, **rule)
    raw = np.linspace(0.0, 1.0, 200_001)[:, None]
    values = np.unique(layout.to_values(raw))[:, None]
    mass = np.exp(
        est.log_pdf(_candidates(layout, raw=np.zeros_like(values), values=values))
    )
    # Bins much narrower than every kernel use density x width (see _FINE_BIN).
    tolerance = 1e-3 if layout.fine.any() else 1e-9
    assert mass.sum() == pytest.approx(1.0, abs=tolerance)


def test_quantised_lognormal_mass_sums_to_one():
    spec = ParamSpec("ln", "normal", mu=1.0, sigma=1.0, q=1.0, log=True)
    layout, est = _estimator([spec], k=10, seed=4)
    values = np.arange(0.0, 20_000.0)[:, None]
    mass = np.exp(est.log_pdf(_candidates(layout, values=values)))
    assert mass.sum() == pytest.approx(1.0, abs=1e-9)


def test_quantised_mass_matches_scipy_bin_probability():
    spec = ParamSpec("i", "uniform", low=1, high=20, q=1.0, is_int=True)
    layout, est = _estimator([spec], k=4, seed=2)
    values = np.array([[1.0], [7.0], [20.0]])
    got = est.log_pdf(_candidates(layout, values=values))
    lo, hi = layout.bin_edges(values, np.array([0]))
    expected = []
    for v_lo, v_hi in zip(lo[:, 0], hi[:, 0], strict=True):
        p = 0.0
        for w, mu, s in zip(est.weights, est.mus[:, 0], est.sigmas[:, 0], strict=True):
            dist = stats.truncnorm((0 - mu) / s, (1 - mu) / s, loc=mu, scale=s)
            p += w * (dist.cdf(v_hi) - dist.cdf(v_lo))
        expected.append(math.log(p))
    np.testing.assert_allclose(got, expected, rtol=1e-9)


@pytest.mark.parametrize("prior_weight", [0.1, 1.0, 5.0])
def test_categorical_probabilities_sum_to_one(prior_weight):
    specs = [
        ParamSpec("c", "choice", weights=(0.5, 0.3, 0.2)),
        ParamSpec("r", "randint", low=3, high=7),
    ]
    layout, est = _estimator(specs, k=9, prior_weight=prior_weight)
    options = np.array([[c, r] for c in range(3) for r in range(4)])
    mass = np.exp(est.log_pdf(_candidates(layout, options=options)))
    assert mass.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(mass > 0)


def test_samples_stay_in_bounds_and_on_the_grid():
    specs = [
        *QUANTISED,
        ParamSpec("u", "uniform", low=-1, high=1),
        ParamSpec("c", "choice", weights=(0.2, 0.8)),
    ]
    layout, est = _estimator(specs, k=20)
    cands = est.sample(np.random.default_rng(5), 500)
    for j, spec in enumerate(layout.numeric):
        values = cands.values[:, j]
        if spec.q is not None:
            np.testing.assert_allclose(
                values / spec.q, np.round(values / spec.q), atol=1e-9
            )
    assert np.all((cands.raw >= 0) & (cands.raw <= 1))
    assert set(np.unique(cands.options[:, 0])) <= {0, 1}
