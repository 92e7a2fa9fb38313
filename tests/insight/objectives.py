"""A small study for the report and dashboard tests: log, choice and conditional
parameters, and trials that fail with two kinds of errors."""

from __future__ import annotations

import math
import os
import time
from typing import Any

from hpo_service import hp

space = {
    "x": hp.uniform("x", -5.0, 5.0),
    "lr": hp.loguniform("lr", math.log(1e-4), math.log(1.0)),
    "model": hp.choice(
        "model",
        [{"kind": "linear"}, {"kind": "tree", "depth": hp.quniform("depth", 1, 8, 1)}],
    ),
}


def objective(config: dict[str, Any]) -> float:
    """A bowl in x and log(lr); x > 4 raises ValueError, x < -4.5 KeyError."""
    time.sleep(float(os.environ.get("HPO_TEST_SLEEP", "0")))
    if config["x"] > 4.0:
        raise ValueError(f"x={config['x']:.3f} is too large")
    if config["x"] < -4.5:
        raise KeyError("missing")
    loss = (config["x"] - 1.0) ** 2 + (math.log10(config["lr"]) + 2.0) ** 2
    if config["model"]["kind"] == "tree":
        loss += 0.1 * config["model"]["depth"]
    return loss


#: For :func:`tests.helpers.objectives.learning_curve`: trials report 8 values and a
#: pruner stops the ones whose level is high.
curve_space = {"level": hp.uniform("level", 0.0, 1.0), "steps": 8}


def huge(config: dict[str, Any]) -> float:
    """:func:`objective` times 1e300: losses whose squares overflow a float."""
    return objective(config) * 1e300


def narrow(config: dict[str, Any]) -> float:
    """:func:`objective`, but x > 3 raises ValueError too: under seed 5 the first
    trials, drawn before any result, hold x = 3.05 and (with 2 workers) x = -4.46,
    so a study of this objective surely has both a failed and a finished trial."""
    if config["x"] > 3.0:
        raise ValueError(f"x={config['x']:.3f} is above 3")
    return objective(config)


def mostly_fails(config: dict[str, Any]) -> dict[str, Any]:
    """``STATUS_FAIL`` (a done trial without a loss) for x < 2, else
    :func:`objective`'s loss: most trials of a study are done but unusable."""
    if config["x"] < 2.0:
        return {"status": "fail"}
    return {"status": "ok", "loss": objective(config)}
