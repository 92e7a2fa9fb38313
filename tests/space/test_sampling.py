"""Each distribution's prior, checked statistically against SciPy on seeded draws."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from hpo_service.space import compile_space, hp, sample, sample_params

N = 4000
P_MIN = 1e-3  # fixed seeds make every test deterministic; this only sets strictness


def draws(param, n: int = N, seed: int = 0) -> list:
    compiled = compile_space({"v": param})
    rng = np.random.default_rng(seed)
    return [sample_params(compiled, rng)["v"] for _ in range(n)]


def quantised_probs(cdf, support: np.ndarray, q: float) -> np.ndarray:
    """P(round(X / q) * q == v) for each v of ``support``, from X's CDF."""
    return cdf(support + q / 2) - cdf(support - q / 2)


def assert_frequencies(values, support, probs) -> None:
    support = list(support)
    counts = np.array([values.count(v) for v in support], dtype=float)
    assert counts.sum() == len(values), "values outside the expected support"
    expected = np.asarray(probs, dtype=float) / np.sum(probs) * len(values)
    assert stats.chisquare(counts, expected).pvalue > P_MIN


def test_uniform_matches_scipy_uniform():
    values = draws(hp.uniform("v", -2, 3))
    assert all(type(v) is float and -2 <= v <= 3 for v in values)
    assert stats.kstest(values, stats.uniform(-2, 5).cdf).pvalue > P_MIN


def test_loguniform_is_exp_of_uniform_on_log_bounds():
    values = np.array(draws(hp.loguniform("v", -3, 1)))
    assert values.min() >= math.exp(-3) and values.max() <= math.exp(1)
    assert stats.kstest(np.log(values), stats.uniform(-3, 4).cdf).pvalue > P_MIN


def test_normal_matches_scipy_normal():
    values = draws(hp.normal("v", 1.0, 2.0))
    assert all(type(v) is float for v in values)
    assert stats.kstest(values, stats.norm(1.0, 2.0).cdf).pvalue > P_MIN


def test_lognormal_is_exp_of_normal():
    values = draws(hp.lognormal("v", 0.5, 0.4))
    assert min(values) > 0
    dist = stats.lognorm(s=0.4, scale=math.exp(0.5))
    assert stats.kstest(values, dist.cdf).pvalue > P_MIN


def test_quniform_rounds_to_multiples_of_q():
    values = draws(hp.quniform("v", 0, 10, 2.5))
    support = np.arange(0, 10.01, 2.5)
    assert_frequencies(
        values, support, quantised_probs(stats.uniform(0, 10).cdf, support, 2.5)
    )


def test_qloguniform_rounds_after_exp():
    values = draws(hp.qloguniform("v", 0, 3, 5))
    support = np.arange(0, 25, 5.0)
    cdf = stats.loguniform(1, math.exp(3)).cdf
    assert_frequencies(values, support, quantised_probs(cdf, support, 5))


def test_qnormal_rounds_a_normal_draw():
    values = draws(hp.qnormal("v", 0, 3, 2))
    assert all(v % 2 == 0 for v in values)
    values = [min(max(v, -8.0), 8.0) for v in values]  # pool the thin tails
    support = np.arange(-8, 8.01, 2.0)
    probs = quantised_probs(stats.norm(0, 3).cdf, support, 2)
    probs[0], probs[-1] = stats.norm(0, 3).cdf(-7), stats.norm(0, 3).sf(7)
    assert_frequencies(values, support, probs)


def test_qlognormal_rounds_after_exp():
    values = draws(hp.qlognormal("v", 1, 0.5, 2))
    assert min(values) >= 0
    values = [min(v, 10.0) for v in values]
    support = np.arange(0, 10.01, 2.0)
    dist = stats.lognorm(s=0.5, scale=math.e)
    probs = quantised_probs(dist.cdf, support, 2)
    probs[-1] = dist.sf(9)
    assert_frequencies(values, support, probs)


@pytest.mark.parametrize(("args", "support"), [((5,), range(5)), ((3, 7), range(3, 7))])
def test_randint_is_uniform_on_half_open_range(args, support):
    values = draws(hp.randint("v", *args))
    assert all(type(v) is int for v in values)
    assert_frequencies(values, support, [1] * len(support))


def test_uniformint_is_quniform_with_q_1_as_int():
    values = draws(hp.uniformint("v", 1, 5))
    assert all(type(v) is int for v in values)
    assert_frequencies(values, range(1, 6), [1, 2, 2, 2, 1])


def test_choice_indices_are_equally_likely():
    values = draws(hp.choice("v", ["a", "b", "c"]))
    assert all(type(v) is int for v in values)
    assert_frequencies(values, range(3), [1, 1, 1])


def test_pchoice_indices_follow_probabilities():
    values = draws(hp.pchoice("v", [(0.1, "a"), (0.6, "b"), (0.3, "c")]))
    assert_frequencies(values, range(3), [0.1, 0.6, 0.3])


def test_pchoice_never_draws_zero_probability_option():
    values = draws(hp.pchoice("v", [(0.0, "a"), (1.0, "b")]), n=500)
    assert set(values) == {1}


def test_conditional_parameters_are_drawn_only_when_active():
    space = hp.choice(
        "c",
        [
            {"a": hp.uniform("a", 0, 1)},
            {"b": hp.choice("d", [hp.normal("n", 0, 1), 3])},
        ],
    )
    compiled = compile_space(space)
    rng = np.random.default_rng(1)
    seen = []
    for _ in range(2000):
        params = sample_params(compiled, rng)
        seen.append(tuple(params))
        assert set(params) == set(compiled.active_labels(params))
    expected = {("c", "a"): 0.5, ("c", "d", "n"): 0.25, ("c", "d"): 0.25}
    assert set(seen) == set(expected)
    assert_frequencies(seen, expected, list(expected.values()))


def test_same_seed_gives_same_draws_and_other_seeds_differ():
    compiled = compile_space({"x": hp.uniform("x", 0, 1), "c": hp.choice("c", [1, 2])})

    def run(seed):
        rng = np.random.default_rng(seed)
        return [sample_params(compiled, rng) for _ in range(20)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_sample_returns_the_config_of_sampled_params():
    space = {"lr": hp.loguniform("lr", -5, 0), "opt": hp.choice("opt", ["sgd", "adam"])}
    config = sample(space, rng=3)
    params = sample_params(compile_space(space), np.random.default_rng(3))
    assert config == {"lr": params["lr"], "opt": ["sgd", "adam"][params["opt"]]}
    assert sample(space, np.random.default_rng(3)) == config
