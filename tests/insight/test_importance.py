"""fANOVA importances against objectives whose true importances are known."""

from __future__ import annotations

import math

import pytest

from hpo_service import hp
from hpo_service.insight import param_importances

from ._support import random_study

LOW, HIGH = math.log(1e-4), math.log(1.0)


def additive(config):
    """4*a + 2*u(lr) + k, with u(lr) the position of lr on its log axis in [0, 1]."""
    u = (math.log(config["lr"]) - LOW) / (HIGH - LOW)
    return 4 * config["a"] + 2 * u + config["k"]


ADDITIVE_SPACE = {
    "a": hp.uniform("a", 0.0, 1.0),
    "lr": hp.loguniform("lr", LOW, HIGH),
    "k": hp.choice("k", [0.0, 1.0, 2.0]),
    "unused": hp.uniform("unused", -3.0, 3.0),
}
# Variance of each additive term under the prior: 16/12, 4/12, 2/3 and 0.
_VAR = {"a": 16 / 12, "lr": 4 / 12, "k": 2 / 3, "unused": 0.0}
TRUE = {label: v / sum(_VAR.values()) for label, v in _VAR.items()}


def test_additive_objective_recovers_the_true_variance_shares():
    data = random_study(ADDITIVE_SPACE, additive, n=600, seed=1)
    result = param_importances(data, seed=0)
    assert [p.label for p in result] == ["a", "k", "lr", "unused"]
    for p in result:
        assert p.importance == pytest.approx(TRUE[p.label], abs=0.05), p
        # additive: the main effects explain (nearly) all of the variance
        assert p.variance_fraction == pytest.approx(TRUE[p.label], abs=0.06), p
    assert sum(p.importance for p in result) == pytest.approx(1.0)


def test_a_long_study_is_fitted_on_bounded_samples_and_the_result_is_stable():
    """5,000 trials while each tree sees a bootstrap sample of at most 2,000: the
    known shares are recovered, another forest seed agrees, and so does a forest
    whose trees each see all 5,000 trials."""
    data = random_study(ADDITIVE_SPACE, additive, n=5000, seed=5)
    capped = {p.label: p.importance for p in param_importances(data, seed=0)}
    reseeded = {p.label: p.importance for p in param_importances(data, seed=1)}
    full = {p.label: p.importance for p in param_importances(data, max_samples=5000)}
    for label, share in TRUE.items():
        assert capped[label] == pytest.approx(share, abs=0.03), label
        assert reseeded[label] == pytest.approx(capped[label], abs=0.01), label
        assert full[label] == pytest.approx(capped[label], abs=0.01), label


def test_importance_is_measured_on_the_log_axis_of_a_log_parameter():
    """A loss linear in log(lr) is all lr; on a linear axis half of it would be lost
    in the first percent of the range, which only a log-scale measure avoids."""
    space = {"lr": hp.loguniform("lr", LOW, HIGH), "b": hp.uniform("b", 0, 1)}

    def loss(config):
        return (math.log(config["lr"]) - LOW) / (HIGH - LOW) + 0.5 * config["b"]

    result = {p.label: p for p in param_importances(random_study(space, loss, 400))}
    # Var(u) = 1/12 vs Var(0.5 b) = 1/48: shares 0.8 and 0.2
    assert result["lr"].importance == pytest.approx(0.8, abs=0.05)
    assert result["b"].importance == pytest.approx(0.2, abs=0.05)


CONDITIONAL_SPACE = {
    "model": hp.choice(
        "model",
        [
            {"kind": "linear", "c": hp.uniform("c", 0.0, 1.0)},
            {"kind": "tree", "depth": hp.uniform("depth", 0.0, 1.0),
             "noise": hp.uniform("noise", 0.0, 1.0)},
        ],
    ),
    "x": hp.uniform("x", 0.0, 1.0),
}  # fmt: skip


def conditional(config):
    model = config["model"]
    if model["kind"] == "linear":
        return 1.0 + 0.1 * config["x"]
    return 4.0 * model["depth"] + 0.1 * config["x"]


def test_conditional_parameters_are_ranked_and_an_irrelevant_one_is_not():
    data = random_study(CONDITIONAL_SPACE, conditional, n=2000, seed=2)
    result = {p.label: p for p in param_importances(data)}
    assert set(result) == {"model", "c", "depth", "noise", "x"}
    assert max(result, key=lambda k: result[k].importance) == "depth"
    assert result["noise"].variance_fraction < 0.03
    assert result["c"].variance_fraction < 0.03
    assert result["x"].variance_fraction < 0.03


def test_too_few_or_constant_trials_give_no_importances():
    assert param_importances(random_study(ADDITIVE_SPACE, additive, n=3)) == []
    assert param_importances(random_study(ADDITIVE_SPACE, lambda c: 1.0, n=50)) == []


def test_losses_of_any_magnitude_give_the_same_importances():
    """Importances do not depend on the losses' scale: losses near 1e-180 or 1e180
    give exactly the importances of the same study near 1 (their squares, which a
    variance sums, underflow or overflow a float), and near 1e300 nearly the same
    (a scale that is no power of two rounds the losses, and so some splits)."""
    plain = param_importances(random_study(ADDITIVE_SPACE, additive, n=80, seed=2))
    assert [p.label for p in plain][:2] == ["a", "k"]
    for scale in (2.0**-600, 2.0**600):
        data = random_study(ADDITIVE_SPACE, lambda c, s=scale: s * additive(c), 80, 2)
        assert param_importances(data) == plain, scale
    data = random_study(ADDITIVE_SPACE, lambda c: 1e300 * additive(c), 80, 2)
    huge = {p.label: p.importance for p in param_importances(data)}
    for p in plain:
        assert huge[p.label] == pytest.approx(p.importance, abs=0.02), p.label


def test_only_done_trials_count():
    data = random_study(ADDITIVE_SPACE, additive, n=1000, seed=4)
    for row in list(data.rows.values())[:500]:
        row.state = "error"
        row.loss = 1e9  # must be ignored
    result = param_importances(data)
    assert result[0].label == "a"
    assert result[0].importance == pytest.approx(TRUE["a"], abs=0.08)


def test_a_conditional_parameter_split_inside_its_range_explains_at_most_all():
    """A conditional parameter whose effect is a step inside its active range (trees
    split it away from the inactive/active boundary) explains a fraction of the
    variance in [0, 1], as every variance share must."""
    space = hp.choice("m", [{"k": 0}, {"k": 1, "n": hp.uniform("n", 0, 1)}])
    data = random_study(space, lambda c: 5.0 + (c.get("n", 0.0) > 0.7), 60, seed=3)
    result = {p.label: p for p in param_importances(data)}
    assert result["n"].importance > 0.3
    for p in result.values():
        assert 0.0 <= p.variance_fraction <= 1.0 + 1e-9, (p.label, p.variance_fraction)
    assert sum(p.variance_fraction for p in result.values()) <= 1.0 + 1e-9


def test_the_importance_figure_never_draws_below_0_or_above_1():
    """Few trials: a parameter's per-tree shares spread more than its mean share;
    the whisker stops at 0 (an importance is a share of variance), not below."""
    from hpo_service.insight import importance_figure

    result = param_importances(random_study(ADDITIVE_SPACE, additive, n=8))
    scale = sum(p.variance_fraction for p in result)
    assert any(p.std / scale > p.importance for p in result)  # the case at hand
    (bar,) = importance_figure(result).data
    low = [x - m for x, m in zip(bar.x, bar.error_x.arrayminus, strict=True)]
    high = [x + m for x, m in zip(bar.x, bar.error_x.array, strict=True)]
    assert min(low) >= 0.0 and max(high) <= 1.0 + 1e-12
    assert max(bar.error_x.array) > 0  # a spread is still drawn
    assert all(p.importance >= 0 for p in result)
    assert sum(p.importance for p in result) == pytest.approx(1.0)
