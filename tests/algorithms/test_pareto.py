"""Pareto ranks, exact hypervolume and greedy subset selection, against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hpo_service.algorithms._pareto import (
    ParetoArchive,
    dominates,
    greedy_hypervolume_subset,
    hypervolume,
    non_dominated_ranks,
    pareto_mask,
)


def brute_ranks(points: np.ndarray) -> np.ndarray:
    """Ranks by the definition: peel off the points nobody left dominates."""
    ranks = np.full(len(points), -1)
    left = set(range(len(points)))
    rank = 0
    while left:
        front = {
            i for i in left if not any(dominates(points[j], points[i]) for j in left)
        }
        for i in front:
            ranks[i] = rank
        left -= front
        rank += 1
    return ranks


def brute_hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """Inclusion-exclusion over every subset: the volume of a union of boxes."""
    total = 0.0
    for size in range(1, len(points) + 1):
        for subset in itertools.combinations(points, size):
            corner = np.max(subset, axis=0)
            total += (-1) ** (size + 1) * np.prod(np.clip(ref - corner, 0, None))
    return float(total)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_ranks_match_the_definition_with_ties_and_duplicates(m):
    rng = np.random.default_rng(m)
    points = rng.integers(0, 4, size=(60, m)).astype(float)
    np.testing.assert_array_equal(non_dominated_ranks(points), brute_ranks(points))


def test_ranking_can_stop_after_enough_points():
    points = np.array([[i, 10 - i] for i in range(5)] + [[5, 9], [6, 10], [7, 11]])
    ranks = non_dominated_ranks(points.astype(float), max_points=5)
    assert (ranks[:5] == 0).all()
    assert (ranks[5:] == len(points)).all()  # not ranked: after every real rank


def test_pareto_mask_keeps_duplicates_of_front_points():
    points = np.array([[1.0, 2.0], [1.0, 2.0], [2.0, 1.0], [2.0, 2.0]])
    assert pareto_mask(points).tolist() == [True, True, True, False]


@pytest.mark.parametrize(("m", "n"), [(1, 5), (2, 9), (3, 8), (4, 7)])
def test_hypervolume_is_exact(m, n):
    rng = np.random.default_rng(10 * m + n)
    ref = np.full(m, 1.0)
    for _ in range(5):
        points = rng.random((n, m))
        expected = brute_hypervolume(points, ref)
        assert hypervolume(points, ref) == pytest.approx(expected, rel=1e-12)


def test_hypervolume_ignores_points_beyond_the_reference():
    ref = np.array([1.0, 1.0])
    assert hypervolume(np.array([[0.5, 1.0], [2.0, 0.0]]), ref) == 0.0
    assert hypervolume(np.empty((0, 2)), ref) == 0.0
    assert hypervolume(np.array([[0.5, 0.5], [0.5, 2.0]]), ref) == 0.25


@pytest.mark.parametrize("m", [2, 3])
def test_greedy_subset_adds_the_most_volume_at_each_step(m):
    rng = np.random.default_rng(m)
    points = rng.random((12, m))
    points = points[pareto_mask(points)]
    ref = np.full(m, 1.1)
    chosen = greedy_hypervolume_subset(points, min(4, len(points)), ref)
    for step in range(len(chosen)):
        before = hypervolume(points[chosen[:step]], ref)
        gains = [
            hypervolume(points[[*chosen[:step], i]], ref) - before
            for i in range(len(points))
        ]
        assert gains[chosen[step]] == pytest.approx(max(gains), rel=1e-12)


def test_greedy_subset_is_near_the_best_subset():
    rng = np.random.default_rng(0)
    points = rng.random((30, 2))
    points = points[pareto_mask(points)]
    ref = np.full(2, 1.1)
    k = 3
    best = max(
        hypervolume(points[list(c)], ref)
        for c in itertools.combinations(range(len(points)), k)
    )
    greedy = hypervolume(points[greedy_hypervolume_subset(points, k, ref)], ref)
    assert greedy >= (1 - 1 / np.e) * best
    assert greedy <= best + 1e-12


def test_greedy_subset_checks_k():
    with pytest.raises(ValueError, match="0 <= k <= n"):
        greedy_hypervolume_subset(np.zeros((2, 2)), 3, np.ones(2))


def test_greedy_subset_starts_from_the_given_rows():
    rng = np.random.default_rng(3)
    points = rng.random((20, 2))
    points = points[pareto_mask(points)]
    ref = np.full(2, 1.1)
    plain = greedy_hypervolume_subset(points, 3, ref)
    start = [int(i) for i in range(len(points)) if i not in plain[:1]][:1]
    chosen = greedy_hypervolume_subset(points, 3, ref, first=start)
    assert chosen[0] == start[0] and len(set(chosen)) == 3
    # After the given row, each step still adds the most volume.
    for step in range(1, 3):
        before = hypervolume(points[chosen[:step]], ref)
        gains = [
            hypervolume(points[[*chosen[:step], i]], ref) - before
            for i in range(len(points))
        ]
        assert gains[chosen[step]] == pytest.approx(max(gains), rel=1e-12)


def test_greedy_subset_checks_the_given_rows():
    with pytest.raises(ValueError, match="distinct rows, at most k=1"):
        greedy_hypervolume_subset(np.zeros((3, 2)), 1, np.ones(2), first=[0, 1])
    with pytest.raises(ValueError, match="distinct rows"):
        greedy_hypervolume_subset(np.zeros((3, 2)), 2, np.ones(2), first=[1, 1])
    with pytest.raises(ValueError, match="rows of `points`"):
        greedy_hypervolume_subset(np.zeros((3, 2)), 2, np.ones(2), first=[5])


def test_archive_size_counts_trials_with_equal_loss_vectors():
    archive = ParetoArchive()
    assert archive.add([1.0, 2.0])
    assert not archive.add([1.0, 2.0])  # a tie is on the front, but no improvement
    assert not archive.add([1.0, 3.0])  # dominated
    assert archive.add([2.0, 1.0])
    assert (len(archive.points), archive.size) == (2, 3)
    assert archive.add([0.5, 0.5])  # dominates all three
    assert (len(archive.points), archive.size) == (1, 1)
