"""A quadratic bowl with a conditional branch: the smallest complete study.

Run it on one machine with four local workers::

    hpo-driver start --db sqlite:///hpo.sqlite --study quadratic \
        --objective examples.quadratic:objective --space examples.quadratic:space \
        --max-evals 100 --workers 4
"""

from __future__ import annotations

from typing import Any

from hpo_service import hp

space = {
    "x": hp.uniform("x", -5.0, 5.0),
    "y": hp.quniform("y", -5, 5, 0.5),
    "shape": hp.choice(
        "shape",
        [
            {"kind": "bowl"},
            {"kind": "tilted", "tilt": hp.loguniform("tilt", -3, 1)},
        ],
    ),
}


def objective(config: dict[str, Any]) -> float:
    """Minimum 0 at x=1, y=-2 with the plain bowl; the tilted bowl is never better."""
    loss = (config["x"] - 1.0) ** 2 + (config["y"] + 2.0) ** 2
    if config["shape"]["kind"] == "tilted":
        loss += config["shape"]["tilt"]
    return loss
