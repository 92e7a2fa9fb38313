"""``Suggester(groups=...)``: each trial drawn from its own group's trials (Optuna's
per-bracket sampling under Hyperband, compared in benchmarks/README.md)."""

from __future__ import annotations

import numpy as np

from hpo_service import hp
from hpo_service.algorithms.pruners import HyperbandPruner
from hpo_service.driver._suggest import Suggester

SPACE = {"x": hp.uniform("x", 0.0, 1.0)}


class Recorder:
    """An algorithm that records what it was shown and proposes x = 0.5."""

    def __init__(self) -> None:
        self.seen: list[tuple[list[float], list[float], int]] = []

    def __call__(self, space, history, rng, n):
        pending = [p["x"] for p in history.pending]
        self.seen.append((list(history.values("x")), pending, n))
        return [{"x": 0.5}] * n


def test_each_trial_is_drawn_from_its_groups_trials_only():
    algorithm = Recorder()
    suggester = Suggester(SPACE, algorithm, groups=lambda tid: tid % 2)
    for tid in range(4):
        suggester.observe({"x": tid / 10}, {"status": "ok", "loss": 1.0}, tid=tid)
    pending = {4: {"x": 0.4}, 5: {"x": 0.5}}
    new = suggester.suggest_for(np.random.default_rng(0), [6, 7, 8], pending)
    assert [t.params for t in new] == [{"x": 0.5}] * 3
    assert algorithm.seen == [
        ([0.0, 0.2], [0.4], 2),  # group 0: tids 6 and 8, one batch
        ([0.1, 0.3], [0.5], 1),  # group 1: tid 7
    ]
    assert list(suggester.history.values("x")) == [0.0, 0.1, 0.2, 0.3]  # all trials


def test_without_groups_one_batch_sees_every_trial():
    algorithm = Recorder()
    suggester = Suggester(SPACE, algorithm)
    for tid in range(3):
        suggester.observe({"x": tid / 10}, {"status": "ok", "loss": 1.0}, tid=tid)
    suggester.suggest_for(np.random.default_rng(0), [3, 4], {9: {"x": 0.9}})
    assert algorithm.seen == [([0.0, 0.1, 0.2], [0.9], 2)]


def test_hyperband_brackets_as_groups():
    pruner = HyperbandPruner(max_resource=27, reduction_factor=3)
    algorithm = Recorder()
    suggester = Suggester(SPACE, algorithm, groups=pruner.bracket_of)
    tids = range(len(pruner.bracket_sizes()) * 20)
    for tid in tids:
        suggester.observe({"x": tid / 1000}, {"status": "ok", "loss": 1.0}, tid=tid)
    suggester.suggest_for(np.random.default_rng(0), [1000], {})
    ((shown, _, _),) = algorithm.seen
    same = [
        tid / 1000 for tid in tids if pruner.bracket_of(tid) == pruner.bracket_of(1000)
    ]
    assert shown == same and 0 < len(same) < len(tids)
