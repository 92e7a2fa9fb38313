"""Objectives with several losses, importable by worker processes."""

from __future__ import annotations

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


def _space() -> dict[str, Any]:
    from hpo_service import hp

    return {"x": hp.uniform("x", 0, 1), "y": hp.uniform("y", 0, 0.5)}


space = _space()
