"""MOTPE: ranks by front, hypervolume and feasibility; suggestions that learn."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpo_service.algorithms import motpe, rand, tpe
from hpo_service.algorithms._history import History
from hpo_service.algorithms._pareto import hypervolume
from hpo_service.algorithms._tpe.sampler import TPESettings
from hpo_service.space import compile_space, hp

XY = compile_space({"x": hp.uniform("x", 0, 1), "y": hp.uniform("y", 0, 1)})


def history_of(points, violations=None) -> History:
    history = History(XY)
    for i, losses in enumerate(points):
        v = 0.0 if violations is None else violations[i]
        history.add({"x": i / 10, "y": 0.5}, losses, violation=v)
    return history


def below(history: History, n_below: int) -> set[int]:
    settings = TPESettings(gamma=1.0, max_below=n_below)
    places = motpe.rank_trials(history, settings)
    return {int(i) for i in np.flatnonzero(places < n_below)}


def test_good_set_is_the_front_then_the_largest_hypervolume_share():
    # Front: two extremes, a centre point, and a near-duplicate of the centre.
    front = [[0.0, 1.0], [0.5, 0.5], [0.51, 0.49], [1.0, 0.0]]
    dominated = [[0.9, 0.9], [1.0, 1.0]]
    history = history_of(front + dominated)
    assert below(history, 4) == {0, 1, 2, 3}
    # Two of the front's four: the centre first (largest box), then an extreme,
    # which adds more volume than the centre's near-duplicate.
    two = below(history, 2)
    assert 1 in two and 2 not in two and two & {0, 3}


def test_keep_extremes_puts_both_ends_of_the_front_in_the_good_set():
    # A front like error against model size: steep at the small end, flat at the
    # accurate end, whose last point owns only a thin strip of the scaled volume.
    front = [[0.9, 1], [0.5, 3], [0.3, 7], [0.2, 15], [0.15, 40], [0.14, 90]]
    front.append([0.139, 100])
    history = history_of(front)
    plain = motpe.rank_trials(history, TPESettings(gamma=1.0, max_below=3))
    kept = motpe.rank_trials(
        history, TPESettings(gamma=1.0, max_below=3, keep_extremes=True)
    )
    assert 6 not in set(np.flatnonzero(plain < 3))  # the greedy choice leaves it out
    good = set(np.flatnonzero(kept < 3))
    assert {0, 6} <= good  # smallest size and lowest error
    # The third is the one adding the most scaled volume to the two ends.
    points = np.array(front)
    scaled = (points - points.min(axis=0)) / np.ptp(points, axis=0)
    ref = np.full(2, 1.1)
    gains = {i: hypervolume(scaled[[0, 6, i]], ref) for i in range(1, 6)}
    assert good - {0, 6} == {max(gains, key=gains.get)}


def test_keep_extremes_changes_nothing_when_a_whole_rank_fits():
    front = [[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]
    history = history_of([*front, [0.9, 0.9], [1.0, 1.0]])
    for n_below in (3, 5):
        settings = {"gamma": 1.0, "max_below": n_below}
        np.testing.assert_array_equal(
            motpe.rank_trials(history, TPESettings(**settings, keep_extremes=True)),
            motpe.rank_trials(history, TPESettings(**settings)),
        )


def test_ranking_ignores_shifting_and_scaling_an_objective():
    rng = np.random.default_rng(0)
    points = rng.random((40, 2))
    plain = motpe.rank_trials(history_of(points), TPESettings(gamma=0.2))
    moved = points * [1.0, 1000.0] + [5.0, 0.0]
    np.testing.assert_array_equal(
        motpe.rank_trials(history_of(moved), TPESettings(gamma=0.2)), plain
    )


def test_feasible_trials_rank_first_then_by_violation_and_failures_last():
    points = [[0.0, 0.0], [0.5, 0.5], None, [0.9, 0.9], [0.1, 0.1]]
    violations = [2.0, 0.0, 0.0, 0.0, 0.5]
    places = motpe.rank_trials(history_of(points, violations), TPESettings())
    assert places[1] == 0 and places[3] == 1  # feasible, by rank
    assert places[4] == 2 and places[0] == 3  # infeasible, by violation
    assert math.isnan(places[2])  # failed


def test_single_objective_with_constraints_ranks_feasible_losses_first():
    history = History(XY)
    for x, loss, violation in [(0.1, 0.0, 1.0), (0.2, 3.0, 0.0), (0.3, 1.0, 0.0)]:
        history.add({"x": x, "y": 0.5}, loss, violation=violation)
    places = motpe.rank_trials(history, TPESettings())
    np.testing.assert_array_equal(places, [2.0, 1.0, 0.0])


def test_tpe_hands_several_objectives_to_motpe_with_its_defaults():
    rng = np.random.default_rng(1)
    history = history_of(rng.random((30, 2)))
    a = tpe.suggest(XY, history, np.random.default_rng(5), n=3)
    b = motpe.suggest(XY, history, np.random.default_rng(5), n=3)
    c = motpe.suggest(XY, history, np.random.default_rng(5), n=3, gamma=0.5)
    assert a == b != c
    assert all(set(p) == {"x", "y"} for p in a)


def zdt1(p: dict[str, float]) -> list[float]:
    xs = [p[f"x{i}"] for i in range(4)]
    g = 1 + 9 * sum(xs[1:]) / 3
    return [xs[0], g * (1 - math.sqrt(xs[0] / g))]


BOX4 = compile_space({f"x{i}": hp.uniform(f"x{i}", 0, 1) for i in range(4)})


def final_hypervolume(algo, seed: int, evals: int = 80, batch: int = 1) -> float:
    history = History(BOX4)
    rng = np.random.default_rng(seed)
    points = []
    while len(points) < evals:
        for params in algo(BOX4, history, rng, n=batch):
            losses = zdt1(params)
            history.add(params, losses)
            points.append(losses)
    return hypervolume(np.array(points), np.array([1.1, 1.1]) * 10)


@pytest.mark.parametrize("batch", [1, 4])
def test_motpe_finds_a_better_front_than_random_search(batch):
    ours = [final_hypervolume(tpe.suggest, s, batch=batch) for s in range(4)]
    random = [final_hypervolume(rand.suggest, s, batch=batch) for s in range(4)]
    assert np.mean(ours) > np.mean(random) + 1.0


def test_pending_trials_push_suggestions_away():
    rng = np.random.default_rng(3)
    history = history_of(rng.random((30, 2)))
    favourite = motpe.suggest(XY, history, np.random.default_rng(0))[0]
    spread = {}
    for pending in ([], [favourite] * 8):
        history.set_pending(pending)
        picks = [
            motpe.suggest(XY, history, np.random.default_rng(s))[0] for s in range(30)
        ]
        spread[len(pending)] = np.mean(
            [
                math.dist((p["x"], p["y"]), (favourite["x"], favourite["y"]))
                for p in picks
            ]
        )
    assert spread[8] > spread[0]


def constrained_run(seed: int, *, aware: bool) -> tuple[float, float]:
    """Minimise (x - 0.8)^2 subject to x <= 0.5 (optimum 0.09 at x = 0.5).

    Returns the best feasible loss and the share of feasible points after startup.
    """
    space = compile_space({"x": hp.uniform("x", 0, 1)})
    history = History(space)
    rng = np.random.default_rng(seed)
    xs = []
    for _ in range(50):
        (params,) = tpe.suggest(space, history, rng)
        x = params["x"]
        violation = max(0.0, x - 0.5) if aware else 0.0
        history.add(params, (x - 0.8) ** 2, violation=violation)
        xs.append(x)
    feasible = np.array(xs)[np.array(xs) <= 0.5]
    return float(np.min((feasible - 0.8) ** 2)), float(
        np.mean(np.array(xs[10:]) <= 0.5)
    )


def test_constraints_steer_the_search_to_the_feasible_optimum():
    aware = np.array([constrained_run(s, aware=True) for s in range(4)])
    blind = np.array([constrained_run(s, aware=False) for s in range(4)])
    assert np.all(aware[:, 0] < 0.095)  # within 0.005 of the constrained optimum
    assert np.mean(aware[:, 0]) < np.mean(blind[:, 0])
    assert np.mean(aware[:, 1]) > 2 * np.mean(blind[:, 1])
