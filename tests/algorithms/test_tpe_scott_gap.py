"""TPE's ``bandwidth="scott_gap"``: isolated observations get wide kernels."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_service.algorithms import motpe
from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe.parzen_estimator import GroupLayout, ParzenEstimator
from hpo_service.algorithms._tpe.sampler import TPESettings
from hpo_service.space import compile_space, hp

SPACE = compile_space({"x": hp.uniform("x", 0, 1)})
# A cluster and one observation far from it.
POINTS = np.array([[0.50], [0.51], [0.52], [0.53], [0.95]])


def estimator(rule: str) -> ParzenEstimator:
    return ParzenEstimator(
        GroupLayout(list(SPACE)),
        POINTS,
        np.empty((5, 0), dtype=np.intp),
        np.ones(5),
        bandwidth=rule,
        bandwidth_floor=0.3,
    )


def kernel_widths(rule: str) -> np.ndarray:
    return estimator(rule).sigmas[:5, 0]


def test_an_isolated_observation_reaches_its_neighbour_and_the_cluster_keeps_scott():
    scott, gap = kernel_widths("scott"), kernel_widths("scott_gap")
    assert np.ptp(scott) == 0  # one shared width
    assert scott[0] < 0.2
    # The lone observation's kernel spans its gap to the cluster (0.95 - 0.53)...
    assert gap[4] == pytest.approx(0.42)
    # ...and so does the cluster's edge towards it, as in Optuna's rule.
    assert gap[3] == pytest.approx(0.42)
    # Inside the cluster the gaps (0.01) are narrower than Scott's width: kept.
    np.testing.assert_array_equal(gap[1:3], scott[1:3])
    assert np.all(gap >= scott)


def test_draws_fill_the_gap_around_the_isolated_observation():
    def share_between(rule: str) -> float:
        raw = estimator(rule).sample(np.random.default_rng(0), 4000).raw[:, 0]
        return float(np.mean((raw > 0.6) & (raw < 0.85)))

    # 4,000 draws: a share is known to within about 0.01.
    assert share_between("scott_gap") > share_between("scott") + 0.04


def test_motpe_takes_the_setting():
    history = History(SPACE)
    for x in np.linspace(0.0, 1.0, 21):
        history.add({"x": float(x)}, [x, (1.0 - x) ** 2])
    scott, gap = (
        motpe.suggest(SPACE, history, np.random.default_rng(3), bandwidth=rule)
        for rule in ("scott", "scott_gap")
    )
    assert gap != scott  # the same draws through other kernels: the rule reached them
    assert 0.0 <= gap[0]["x"] <= 1.0


def test_an_unknown_rule_names_the_choices():
    with pytest.raises(ValueError, match="scott_gap"):
        TPESettings(bandwidth="gap")
