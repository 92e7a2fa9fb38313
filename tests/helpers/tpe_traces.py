"""Recorded TPE suggestions: a bit-identity check for changes that must not alter them.

Each case replays a small study (prior draws, then suggestions with pending points
finishing out of order, some failing) in a fixed space with fixed settings and seed,
and lists every suggestion. ``tests/algorithms/test_tpe_bit_identity.py`` compares
them, float for float, with the suggestions recorded in ``tpe_traces.json`` (next to
this file). A speed-up of the sampler must leave them unchanged.

A change that is *meant* to change suggestions (a new default, a different density)
records them again, after its benchmarks justify it::

    python -m tests.helpers.tpe_traces --write

Floats are compared exactly, so the file also pins numpy's and scipy's results (a
library upgrade that moves a last bit shows up here too: record again then).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.problems import PROBLEMS
from benchmarks.suggest_latency import make_space, synthetic_loss
from hpo_service.algorithms import motpe, tpe
from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe.sampler import sample_prior
from hpo_service.space import compile_space, hp, space_eval

RECORDED = Path(__file__).with_name("tpe_traces.json")


def _mixed10() -> tuple[Any, Callable[[Any], float]]:
    return make_space(hp), synthetic_loss


def _problem(name: str) -> Callable[[], tuple[Any, Callable[[Any], float]]]:
    def build() -> tuple[Any, Callable[[Any], float]]:
        return PROBLEMS[name].make_space(hp), PROBLEMS[name].loss

    return build


def _spread(config: Any) -> float:
    """A cheap loss for any space: every numeric leaf of the config counts."""
    leaves = config.values() if isinstance(config, dict) else [config]
    total = 0.0
    for i, value in enumerate(leaves):
        if isinstance(value, dict):
            total += _spread(value)
        elif isinstance(value, int | float):
            total += math.sin(1.3 * float(value) + i) ** 2 + 0.05 * abs(float(value))
        else:
            total += 0.1 * (len(str(value)) % 3)
    return total


def _svm_space() -> tuple[Any, Callable[[Any], float]]:
    return PROBLEMS["svm"].make_space(hp), _spread


@dataclass(frozen=True)
class Case:
    """One replayed study.

    Attributes:
        name: Key in the recorded file.
        space: Builds ``(space, loss of a space_eval'ed config)``.
        seed: Seed of the one generator used throughout.
        prior: Finished prior draws before the first suggestion.
        steps: Suggestion calls.
        sizes: ``n`` of successive calls (cycled).
        keep_pending: Trials left pending after each call (the oldest are not
            necessarily the first to finish: one at random finishes at a time).
        weighted: Pass liar weights with the pending points.
        objectives: 2: the loss is ``[loss, spread]`` (MOTPE).
        settings: TPE settings.
    """

    name: str
    space: Callable[[], tuple[Any, Callable[[Any], float]]]
    seed: int
    prior: int
    steps: int
    sizes: tuple[int, ...] = (1,)
    keep_pending: int = 0
    weighted: bool = False
    objectives: int = 1
    settings: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case("mixed10_seq", _mixed10, 0, 300, 12),
    Case("mixed10_pending", _mixed10, 1, 280, 12, (1, 3), keep_pending=4),
    Case("mixed10_batch", _mixed10, 2, 40, 4, (8, 32), keep_pending=6),
    Case("mixed10_weighted", _mixed10, 3, 60, 10, (1, 2), 5, weighted=True),
    Case(
        "mixed10_above_liar",
        _mixed10,
        4,
        30,
        8,
        (1,),
        3,
        settings={"liar_width": "above"},
    ),
    Case(
        "mixed10_univariate",
        _mixed10,
        5,
        30,
        8,
        (1, 2),
        3,
        settings={"multivariate": False},
    ),
    Case(
        "mixed10_neighbour",
        _mixed10,
        6,
        25,
        6,
        (1,),
        2,
        settings={"bandwidth": "neighbour"},
    ),
    Case("mixed10_startup", _mixed10, 7, 0, 14, (1,), 2),
    Case("decoy_pending", _problem("decoy"), 8, 20, 10, (1, 2), 3),
    Case("svm_conditional", _svm_space, 9, 40, 10, (1, 3), 3),
    Case(
        "svm_ignore_failures",
        _svm_space,
        10,
        40,
        6,
        (1,),
        2,
        settings={"ignore_failures": True},
    ),
    Case("wide100", _problem("wide100"), 11, 120, 3, (1, 2), 2),
    Case(
        "wide100_univariate",
        _problem("wide100"),
        12,
        60,
        2,
        (1,),
        1,
        settings={"multivariate": False},
    ),
    Case("motpe", _mixed10, 13, 60, 8, (1, 2), 3, objectives=2),
    Case("motpe_svm", _svm_space, 14, 40, 6, (1,), 2, weighted=True, objectives=2),
]


def replay(case: Case) -> list[dict[str, Any]]:
    """Every suggestion of ``case``'s study, in order."""
    raw, loss = case.space()
    space = compile_space(raw)
    history = History(space)
    rng = np.random.default_rng(case.seed)
    algo = motpe.suggest if case.objectives > 1 else tpe.suggest

    def finish(params: dict[str, Any], i: int) -> None:
        config = space_eval(raw, params)
        value: Any = None if i % 13 == 5 else loss(config)  # some trials fail
        if case.objectives > 1 and value is not None:
            value = [value, _spread(config)]
        history.add(params, value)

    for i in range(case.prior):
        finish(sample_prior(space, rng), i)
    pending: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for step in range(case.steps):
        weights = [0.25 + 0.25 * (i % 4) for i in range(len(pending))]
        history.set_pending(pending, weights if case.weighted else None)
        n = case.sizes[step % len(case.sizes)]
        new = algo(space, history, rng, n, **case.settings)
        out += new
        pending += new
        while len(pending) > case.keep_pending:
            finish(pending.pop(int(rng.integers(len(pending)))), len(history))
    return out


def _dumps(traces: dict[str, list[dict[str, Any]]]) -> str:
    """The traces as JSON, one suggestion a line (readable diffs)."""
    cases = []
    for name, points in traces.items():
        lines = ",\n".join(json.dumps(p) for p in points)
        cases.append(f"{json.dumps(name)}: [\n{lines}\n]")
    return "{\n" + ",\n".join(cases) + "\n}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"record {RECORDED.name}")
    args = parser.parse_args()
    traces = {case.name: replay(case) for case in CASES}
    if args.write:
        RECORDED.write_text(_dumps(traces))
        print(f"wrote {RECORDED} ({sum(map(len, traces.values()))} suggestions)")
        return
    recorded = json.loads(RECORDED.read_text())
    for name, points in traces.items():
        same = json.dumps(points) == json.dumps(recorded.get(name))
        print(f"{name}: {'same' if same else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
