"""Objectives with several losses, importable by worker processes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def two_losses(config: dict[str, Any]) -> dict[str, Any]:
    """Error and cost that trade off along x; y only adds to both."""
    x, y = config["x"], config["y"]
    return {"loss": [x + y, (1 - x) ** 2 + y], "status": "ok"}


def three_losses(config: dict[str, Any]) -> list[float]:
    """Three losses: a study with two objectives refuses them."""
    return [config["x"], config["y"], 1.0]


def constant_losses(config: dict[str, Any]) -> list[float]:
    """The same two losses every time: only the first trial joins the front."""
    return [1.0, 1.0]


def losses_after_barrier(config: dict[str, Any]) -> list[float]:
    """``config["n"]`` losses, returned once ``config["parties"]`` trials have started.

    Each call leaves a file in directory ``config["barrier"]`` and waits (up to a
    minute) for the others': trials in several worker processes finish together.
    """
    barrier = Path(config["barrier"])
    (barrier / f"{config['n']}-{time.monotonic_ns()}").touch()
    deadline = time.monotonic() + 60.0
    while len(list(barrier.iterdir())) < config["parties"]:
        if time.monotonic() > deadline:
            raise TimeoutError("the other trials did not start within a minute")
        time.sleep(0.01)
    return [1.0] * int(config["n"])


def _space() -> dict[str, Any]:
    from hpo_service import hp

    return {"x": hp.uniform("x", 0, 1), "y": hp.uniform("y", 0, 0.5)}


space = _space()


def constrained_losses(config: dict[str, Any]) -> dict[str, Any]:
    """:func:`two_losses`, feasible only for x <= 0.6 (``constraints``: x - 0.6)."""
    return {**two_losses(config), "constraints": [config["x"] - 0.6]}


def never_feasible_losses(config: dict[str, Any]) -> dict[str, Any]:
    """:func:`two_losses` with a constraint no trial satisfies."""
    return {**two_losses(config), "constraints": [1.0]}


def pruned_or_two_losses(config: dict[str, Any]) -> list[float]:
    """Reports ``x + 10`` at step 1, then is pruned when ``config["kind"]`` is
    ``"pruned"``; otherwise returns the two losses ``[x, 2 - x]``."""
    from hpo_service import TrialPruned, report

    report(config["x"] + 10.0, step=1)
    if config["kind"] == "pruned":
        raise TrialPruned()
    return [config["x"], 2.0 - config["x"]]


def _pruned_space() -> dict[str, Any]:
    from hpo_service import hp

    return {
        "kind": hp.choice("kind", ["pruned", "done"]),
        "x": hp.quniform("x", 0, 2, 1),
    }


#: Searched by ``grid``: the three pruned trials first (tids 0-2), then three done.
pruned_space = _pruned_space()


def varying_constraints(config: dict[str, Any]) -> dict[str, Any]:
    """:func:`two_losses` with no constraint for x < 0.2, one for x < 0.6, else two:
    a study fixes its constraint count at its first result that carries any."""
    x = config["x"]
    constraints = [x - 0.5, 0.1 - x][: 0 if x < 0.2 else 1 if x < 0.6 else 2]
    return {**two_losses(config), "constraints": constraints or None}
