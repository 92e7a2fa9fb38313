"""A trivial objective and a 10-D mixed space for runtime benchmarks."""

from __future__ import annotations

from typing import Any

from hpo_service import hp

space = {
    "a": hp.uniform("a", -5, 5),
    "b": hp.uniform("b", -5, 5),
    "c": hp.loguniform("c", -5, 2),
    "d": hp.quniform("d", 0, 100, 1),
    "e": hp.uniformint("e", 1, 32),
    "f": hp.choice("f", ["relu", "tanh", "gelu"]),
    "g": hp.normal("g", 0, 1),
    "h": hp.uniform("h", 0, 1),
    "i": hp.qloguniform("i", 0, 6, 1),
    "j": hp.choice("j", [0.1, 0.2, 0.5, 1.0]),
}


def objective(config: dict[str, Any]) -> float:
    """Cheap and smooth: the time per trial is the service's own overhead."""
    return (config["a"] - 1) ** 2 + config["b"] ** 2 + config["h"]
