"""TPE's ``avoid_repeats``: no proposal repeats a pending (or finished) point."""

from __future__ import annotations

import re

import numpy as np
import pytest

from hpo_service.algorithms import motpe, tpe
from hpo_service.algorithms._history import History
from hpo_service.space import compile_space, hp

SPACE = compile_space(
    {
        "depth": hp.uniformint("depth", 1, 6),
        "kind": hp.choice("kind", ["a", "b"]),
        "x": hp.uniform("x", 0, 1),
    }
)
FAVOURITE = {"depth": 3, "kind": 0}


def history_of(objectives: int = 1) -> History:
    """40 trials; the 4 good ones all at depth 3, kind "a", x near 0.5 (the others
    are of kind "b")."""
    rng = np.random.default_rng(0)
    history = History(SPACE)
    for i in range(40):
        if i % 13 == 0:
            params = {**FAVOURITE, "x": 0.5 + 0.01 * float(rng.standard_normal())}
        else:
            params = {
                "depth": int(rng.integers(1, 7)),
                "kind": 1,
                "x": float(rng.random()),
            }
        good = all(params[k] == v for k, v in FAVOURITE.items())
        loss = abs(params["x"] - 0.5) + (0.0 if good else 1.0)
        losses = [loss, loss + params["depth"] / 10] if objectives > 1 else loss
        history.add(params, losses)
    return history


def repeats(point: dict, taken: list[dict], radius: float = 0.1) -> bool:
    """The rule, written out: same discrete values, x within ``radius``."""
    return any(
        point["depth"] == t["depth"]
        and point["kind"] == t["kind"]
        and abs(point["x"] - t["x"]) <= radius
        for t in taken
    )


def proposals(history: History, algo=tpe, **settings) -> list[dict]:
    return [
        algo.suggest(SPACE, history, np.random.default_rng(s), **settings)[0]
        for s in range(40)
    ]


@pytest.mark.parametrize("algo", [tpe, motpe])
def test_a_proposal_never_repeats_a_pending_point(algo):
    history = history_of(2 if algo is motpe else 1)
    pending = [{**FAVOURITE, "x": 0.5}]
    history.set_pending(pending)
    plain = proposals(history, algo, avoid_repeats="none")
    assert sum(repeats(p, pending) for p in plain) >= 10  # TPE alone repeats it
    avoiding = proposals(history, algo, avoid_repeats="pending")
    assert not any(repeats(p, pending) for p in avoiding)
    # the cheapest change keeps most proposals near the good region
    assert sum(p["depth"] == 3 for p in avoiding) >= 20


def test_motpe_avoids_pending_repeats_by_default_and_tpe_does_not():
    pending = [{**FAVOURITE, "x": 0.5}]
    several = history_of(2)
    several.set_pending(pending)
    assert not any(repeats(p, pending) for p in proposals(several, motpe))
    one = history_of(1)
    one.set_pending(pending)
    assert sum(repeats(p, pending) for p in proposals(one, tpe)) >= 10


def test_all_counts_finished_trials_and_pending_counts_only_pending():
    history = history_of()
    finished = [
        {"depth": int(d), "kind": int(k), "x": float(x)}
        for d, k, x in zip(
            history.values("depth"),
            history.values("kind"),
            history.values("x"),
            strict=True,
        )
    ]
    only_pending = proposals(history, avoid_repeats="pending")  # nothing pending
    assert sum(repeats(p, finished) for p in only_pending) >= 10
    avoiding = proposals(history, avoid_repeats="all")
    assert not any(repeats(p, finished) for p in avoiding)


def test_a_radius_of_one_compares_the_discrete_values_only():
    history = history_of()
    history.set_pending([{**FAVOURITE, "x": 0.0}])  # far from the good x
    near_only = proposals(history, avoid_repeats="pending")
    assert sum(repeats(p, history.pending, radius=1.0) for p in near_only) >= 10
    everywhere = proposals(history, avoid_repeats="pending", repeat_radius=1.0)
    assert not any(repeats(p, history.pending, radius=1.0) for p in everywhere)


def test_when_every_candidate_repeats_the_best_one_stays():
    space = compile_space({"only": hp.choice("only", ["a"]), "d": hp.randint("d", 1)})
    history = History(space)
    for _ in range(20):
        history.add({"only": 0, "d": 0}, 1.0)
    history.set_pending([{"only": 0, "d": 0}])
    point = tpe.suggest(space, history, np.random.default_rng(0), avoid_repeats="all")
    assert point == [{"only": 0, "d": 0}]


def test_a_batch_does_not_repeat_its_own_points():
    history = history_of()
    batch = tpe.suggest(
        SPACE, history, np.random.default_rng(0), n=8, avoid_repeats="pending"
    )
    assert len(batch) == 8
    for i, point in enumerate(batch):
        assert not repeats(point, batch[:i])


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"avoid_repeats": "yes"}, "avoid_repeats in ('none', 'pending', 'all')"),
        ({"repeat_radius": -0.1}, "repeat_radius >= 0"),
    ],
)
def test_bad_values_are_refused(settings, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        tpe.suggest(SPACE, history_of(), np.random.default_rng(0), **settings)


@pytest.mark.parametrize("algo", [tpe, motpe])
def test_pending_changes_nothing_without_pending_points(algo):
    """Sequentially (nothing pending) ``"pending"`` proposes exactly the default's
    points, so one worker's runs stay bit for bit as they were."""
    history = history_of(2 if algo is motpe else 1)
    assert proposals(history, algo, avoid_repeats="pending") == proposals(history, algo)
