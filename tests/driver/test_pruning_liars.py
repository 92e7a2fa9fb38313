"""Under a pruner, running trials it judged and kept are weaker constant-liar points."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from hpo_service import hp
from hpo_service.algorithms import resolve
from hpo_service.algorithms.pruners import (
    ASHAPruner,
    HyperbandPruner,
    MedianPruner,
    NopPruner,
)
from hpo_service.driver._study import open_study, space_settings
from hpo_service.driver._study_loop import Driver, DriverOptions
from hpo_service.driver._suggest import (
    SURVIVOR_WEIGHT,
    Suggester,
    liar_pending,
    survivor_weights,
)
from hpo_service.store import NewTrial, TrialState

SPACE = {"x": hp.uniform("x", 0.0, 1.0)}
PENDING = {tid: {"x": tid / 10} for tid in range(5)}


def test_survivors_of_the_first_rung_are_left_out():
    asha = ASHAPruner(min_resource=3, max_resource=27)
    assert asha.first_decision(0) == 3
    reports = {
        0: {1: 0.5, 2: 0.4},  # before the first rung: not judged yet, a liar
        1: {1: 0.5, 3: 0.4},  # reported at the rung and still runs: kept
        3: {4: 0.3},  # past the rung (its first report there)
    }  # 2 and 4: queued or no report yet
    assert list(liar_pending(PENDING, reports, asha)) == [0, 2, 4]


def test_survivors_can_weigh_less_instead_of_being_left_out():
    asha = ASHAPruner(min_resource=3, max_resource=27)
    reports = {0: {1: 0.5, 2: 0.4}, 1: {1: 0.5, 3: 0.4}, 3: {4: 0.3}}
    weights = survivor_weights(PENDING, reports, asha, 0.25)
    assert weights == {0: 1.0, 1: 0.25, 2: 1.0, 3: 0.25, 4: 1.0}
    assert list(weights) == list(PENDING)
    assert survivor_weights(PENDING, reports, None, 0.25) == dict.fromkeys(PENDING, 1.0)
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="`0 < weight <= 1` must hold"):
            survivor_weights(PENDING, reports, asha, bad)


def test_the_suggester_passes_each_pending_trials_weight_to_its_group():
    """With Hyperband's brackets as sampling groups, each group's history gets its
    own pending points' weights, in the same order as the points."""
    groups = {0: 0, 1: 1, 2: 0, 3: 1, 4: 0, 5: 0}
    suggester = Suggester(SPACE, resolve("tpe", {}), groups=groups.__getitem__)
    weights = {0: 1.0, 1: 0.5, 2: 0.25, 3: 1.0, 4: 0.1}
    suggester.suggest_for(np.random.default_rng(0), [5], PENDING, weights)
    history = suggester._group_history(0)
    assert history.pending == [PENDING[t] for t in (0, 2, 4)]
    assert history.pending_weights == [1.0, 0.25, 0.1]
    suggester = Suggester(SPACE, resolve("tpe", {}))
    suggester.suggest_for(np.random.default_rng(0), [5], PENDING, weights)
    assert suggester.history.pending_weights == list(weights.values())
    suggester.suggest_for(np.random.default_rng(0), [5], PENDING)
    assert suggester.history.pending_weights is None


def test_without_a_pruner_or_with_none_every_pending_trial_is_a_liar():
    reports = {tid: {27: 0.1} for tid in PENDING}
    assert liar_pending(PENDING, reports, None) == PENDING
    assert NopPruner().first_decision(0) is None
    assert liar_pending(PENDING, reports, NopPruner()) == PENDING


def test_hyperband_uses_the_first_rung_of_each_trials_bracket():
    band = HyperbandPruner(min_resource=1, max_resource=27, reduction_factor=3)
    first = {b: [1, 3, 9, None][b] for b in range(4)}  # bracket 3 has no rungs
    tids = range(len(band._schedule))
    assert {t: band.first_decision(t) for t in tids} == {
        t: first[band.bracket_of(t)] for t in tids
    }
    pending = {t: {"x": t} for t in tids}
    reports = {t: {3: 0.5} for t in tids}  # every trial has reported at step 3
    kept = list(liar_pending(pending, reports, band))
    assert kept == [t for t in tids if band.bracket_of(t) >= 2]
    assert kept  # brackets 2 and 3 occur in one round


def test_median_judges_from_the_end_of_the_warm_up():
    assert MedianPruner().first_decision(7) == 0
    median = MedianPruner(n_warmup_steps=5)
    assert median.first_decision(7) == 5
    reports = {0: {4: 0.1}, 1: {5: 0.1}}
    assert list(liar_pending(PENDING, reports, median)) == [0, 2, 3, 4]


class Recording(Suggester):
    """Keeps the pending points and weights each suggestion was given."""

    given: ClassVar[list[tuple[list[dict], list[float] | None]]] = []

    def suggest_params(self, rng, n=1, pending=(), weights=None):
        # every suggestion passes here (suggest, numbered_params: the driver's)
        Recording.given.append(([dict(p) for p in pending], weights))
        return super().suggest_params(rng, n, pending, weights)


def test_the_driver_gives_survivors_a_lighter_liar_weight(monkeypatch, store):
    """Of three running trials, the one that reported at ASHA's first rung reaches
    TPE with weight ``SURVIVOR_WEIGHT``, the others with 1; without a pruner all
    three are given without weights (full liars)."""
    monkeypatch.setattr("hpo_service.driver._study_loop.Suggester", Recording)
    asha = {"pruner": "asha", "pruner_settings": {"min_resource": 2}}
    for name, pruner in (("asha", asha), ("plain", {})):
        given = {"objective": "m:f", **space_settings(SPACE), "max_evals": 10}
        settings = open_study(store, name, {**given, "seed": 1, **pruner})[0]
        store.insert_trials(
            name, [NewTrial({"x": x}, {"x": x}) for x in (0.1, 0.2, 0.3)]
        )
        running = [store.claim("w", 60.0, study=name) for _ in range(3)]
        assert store.report(name, running[0].tid, running[0].token, 1, 0.9)
        assert store.report(name, running[1].tid, running[1].token, 2, 0.8)
        driver = Driver(
            store, name, settings, SPACE, options=DriverOptions(progress=False)
        )
        driver._read_changes()
        assert driver._counts[TrialState.RUNNING] == 3
        Recording.given.clear()
        assert driver._fill_queue() > 0
        points, weights = Recording.given[0]
        by_x = {round(p["x"], 6): i for i, p in enumerate(points)}
        assert sorted(by_x) == [0.1, 0.2, 0.3]
        if name == "plain":
            assert weights is None
            continue
        expected = {0.1: 1.0, 0.2: SURVIVOR_WEIGHT, 0.3: 1.0}
        assert {x: weights[i] for x, i in by_x.items()} == expected
        assert np.isclose(running[1].params["x"], 0.2)
