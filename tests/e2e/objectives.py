"""Spaces and objectives that the end-to-end tests run by reference."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from hpo_service import hp
from hpo_service.pyll import scope

space = {"x": hp.uniform("x", -5.0, 5.0), "y": hp.uniform("y", -5.0, 5.0)}
#: A dict of defaults, no ``hp`` expression: what ``--space`` may name by a slip.
defaults = {"x": 1.0, "y": -2.0}

BEHAVIOURS = ["ok", "raise", "nan", "exit", "hang"]
misbehaving_space = {"x": hp.uniform("x", -5.0, 5.0), "do": hp.choice("do", BEHAVIOURS)}


def quadratic(config: dict[str, Any]) -> float:
    """A bowl with its minimum 0 at (1, -2); sleeps ``HPO_TEST_SLEEP`` seconds first."""
    time.sleep(float(os.environ.get("HPO_TEST_SLEEP", "0")))
    return (config["x"] - 1.0) ** 2 + (config["y"] + 2.0) ** 2


def misbehaving(config: dict[str, Any]) -> float:
    """Does what ``config["do"]`` says: succeed, raise, return NaN, exit or hang."""
    match config["do"]:
        case "raise":
            raise ValueError("objective failed on purpose")
        case "nan":
            return math.nan
        case "exit":
            os._exit(9)
        case "hang":
            time.sleep(3600)
    return config["x"] ** 2


duplicate_label_space = {"a": hp.uniform("x", 0.0, 1.0), "b": hp.normal("x", 0.0, 1.0)}


def always_fails(config: dict[str, Any]) -> float:
    """Raises on every config."""
    raise RuntimeError("this objective always fails")


curve_space = {"level": hp.uniform("level", 0.0, 10.0)}


def curve(config: dict[str, Any]) -> float:
    """A learning curve ``level + 1 / (step + 1)`` over ``HPO_TEST_STEPS`` steps.

    Reports each step and stops when pruned. ``HPO_TEST_STEP_SECONDS`` seconds pass
    between reports (not ``HPO_TEST_PAUSE``, a process's pause point: see
    ``hpo_service._common.stop_signals.pause_point``); with ``HPO_TEST_ATTEMPTS`` (a
    path) each run appends a line there and adds ``100 * run number`` to its values,
    so a test can tell the attempts apart.
    """
    from hpo_service import TrialPruned, report, should_prune

    offset = 0.0
    attempts = os.environ.get("HPO_TEST_ATTEMPTS")
    if attempts:
        with open(attempts, "a") as f:
            f.write("run\n")
        with open(attempts) as f:
            offset = 100.0 * len(f.read().splitlines())
    for step in range(int(os.environ.get("HPO_TEST_STEPS", "9"))):
        report(offset + config["level"] + 1.0 / (step + 1), step)
        if should_prune():
            raise TrialPruned()
        time.sleep(float(os.environ.get("HPO_TEST_STEP_SECONDS", "0")))
    return config["level"]


grid_space = {
    "x": hp.quniform("x", -2.0, 2.0, 1.0),
    "y": hp.choice("y", [-2.0, 0.0]),
}


oversized_space = {"x": hp.uniform("x", -5.0, 5.0), "big": hp.choice("big", [0, 1])}


def oversized(config: dict[str, Any]) -> dict[str, Any]:
    """A result of 17 MiB (more than a MongoDB document holds) when ``big`` is 1."""
    blob = "x" * (17 * 1024 * 1024) if config["big"] else ""
    return {"loss": config["x"] ** 2, "status": "ok", "blob": blob}


def quadratic_of_branch(config: dict[str, Any]) -> float:
    """A loss for ``{"m": {"a": int} | {"b": float}}`` (a choice between branches)."""
    branch = config["m"]
    return float(branch["a"]) + 1.0 if "a" in branch else (branch["b"] - 0.5) ** 2


def sum_of_squares(config: dict[str, Any]) -> float:
    """The sum of the squares of the config's values, whatever its labels (a space
    changed between two runs of one study)."""
    return float(sum(value**2 for value in config.values()))


#: Two spaces of one study (``--override``): every config of the second has a larger
#: sum_of_squares than every config of the first.
narrow_x_space = {"x": hp.uniform("x", -0.5, 0.5)}
x_and_y_space = {"x": hp.uniform("x", -0.5, 0.5), "y": hp.uniform("y", 1.0, 2.0)}
#: ``narrow_x_space`` widened: every point of the narrow one is a point of this one
#: with the same config (a queued trial of the narrow space stays queued).
wide_x_space = {"x": hp.uniform("x", -1.0, 1.0)}
#: A choice, a randint and a uniform: params stored as an int index, an int and a
#: float (an import must keep them so).
indexed_space = {
    "c": hp.choice("c", ["a", "b", "z"]),
    "n": hp.randint("n", 5),
    "x": hp.uniform("x", 0.0, 2.0),
}


#: ``x`` and its square root: a complex number (no JSON value) at a negative ``x``.
signed_x_space = {"v": hp.uniform("x", -1.0, 1.0)}
root_x_space = {"v": hp.uniform("x", -1.0, 1.0) ** 0.5}


#: Every kind of whole-number parameter: a choice's index, a randint, a
#: uniformint, an int of a quantised uniform; and a float.
whole_space = {
    "c": hp.choice("c", ["a", "b", "z"]),
    "n": hp.randint("n", 5),
    "u": hp.uniformint("u", 0, 8),
    "q": scope.int(hp.quniform("q", 0, 10, 1)),
    "x": hp.uniform("x", 0.0, 2.0),
}


def whole_loss(config: dict[str, Any]) -> float:
    """A loss of ``whole_space``'s config."""
    return config["x"] + config["n"] + config["u"] + config["q"]


def indexed_loss(config: dict[str, Any]) -> float:
    """A loss of ``indexed_space``'s config."""
    return config["x"] + config["n"] + "abz".index(config["c"])


def gated_sum_of_squares(config: dict[str, Any]) -> float:
    """:func:`sum_of_squares`; with ``HPO_TEST_GATE`` set, first write
    ``$HPO_TEST_GATE.started`` and wait (up to 120 s) until ``$HPO_TEST_GATE``
    exists: a trial a test holds running while it does something else."""
    gate = os.environ.get("HPO_TEST_GATE")
    if gate:
        Path(gate + ".started").write_text("")
        deadline = time.monotonic() + 120.0
        while not Path(gate).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return sum_of_squares(config)


def squares_and_sizes(config: dict[str, Any]) -> list[float]:
    """Two losses of any config: the sum of its values' squares, and of their sizes."""
    values = list(config.values())
    return [float(sum(v**2 for v in values)), float(sum(abs(v) for v in values))]


#: numpy values in a space (a choice over an array, numpy constants): stored as JSON.
numpy_space = {
    "d": hp.choice("d", np.arange(1, 6)),
    "x": hp.uniform("x", -5.0, 5.0),
    "y": np.int64(-2),
    "on": np.bool_(True),
}


def prints(config: dict[str, Any]) -> float:
    """Prints one line naming x, then returns :func:`quadratic`'s loss."""
    print(f"evaluating x={config['x']:.3f}")
    return quadratic(config)


def without_status(config: dict[str, Any]) -> dict[str, Any]:
    """:func:`quadratic` as a result dict with no ``status`` key (hyperopt raises
    ``KeyError: 'status'`` on it; here it counts as ``"ok"``)."""
    return {"loss": quadratic(config), "note": "no status"}


def with_extra_keys(config: dict[str, Any]) -> dict[str, Any]:
    """:func:`quadratic` as a hyperopt user's result: extra keys (a number, a text,
    a list, a dict; ``late`` only when x > 0) and two constraints (feasible when
    x <= 0 and y <= 0)."""
    x, y = config["x"], config["y"]
    result = {
        "loss": quadratic(config),
        "status": "ok",
        "accuracy": 1.0 / (1.0 + abs(x)),
        "note": f"x={x:.3f}, y",
        "history": [x, y],
        "sizes": {"in": 2},
        "constraints": [x, y],
    }
    return result | ({"late": True} if x > 0 else {})


def rich_curve(config: dict[str, Any]) -> dict[str, Any]:
    """:func:`quadratic` reported over 6 steps (pruned when the pruner says so), then
    returned with every kind of extra key (number, int, text with a comma, text that
    looks like a number, bool, list, dict), two constraints and an attachment."""
    from hpo_service import TrialPruned, report, should_prune

    x, y = config["x"], config["y"]
    loss = quadratic(config)
    for step in range(6):
        report(loss + 1.0 / (step + 1), step)
        if should_prune():
            raise TrialPruned()
    return {
        "loss": loss,
        "status": "ok",
        "accuracy": 1.0 / (1.0 + abs(x)),
        "epochs": 6,
        "note": f"x={x:.3f}, y",
        "code": "1e5",
        "converged": x > 0,
        "history": [x, y],
        "sizes": {"in": 2, "out": [1, 2]},
        "constraints": [x, y - 1],
        "attachments": {"model": f"{x:.6f}".encode()},
    }


def rich_curve_pair(config: dict[str, Any]) -> dict[str, Any]:
    """:func:`rich_curve` with two objectives: its loss and ``abs(x)``."""
    result = rich_curve(config)
    result["loss"] = [result["loss"], abs(config["x"])]
    return result


_k = hp.randint("k", 2)
_j = hp.randint("j", 2)
#: Labels that several ``scope.switch`` calls share (hyperopt's ``hp.choice`` over
#: one ``hp.randint``): ``k`` in two branches of ``m`` (one reached at a time),
#: ``j`` in two switches side by side (both reached).
shared_switch_space = {
    "m": hp.choice("m", [
        {"opt": scope.switch(_k, "sgd", "adam")},
        {"act": scope.switch(_k, "relu", "tanh")},
    ]),
    "a": scope.switch(_j, "p", "q"),
    "b": scope.switch(_j, 10, 20),
}  # fmt: skip


def text_length(config: Any) -> float:
    """A loss of any config: the length of its text."""
    return float(len(repr(config)))


#: Two points with one loss under :func:`sum_of_squares` (1.0): no trial improves on
#: the first (``--no-improvement``).
flat_space = {"c": hp.choice("c", [1.0, -1.0])}


def prunes_itself(config: dict[str, Any]) -> float:
    """Reports its quadratic at step 1, then stops as pruned (a study whose every
    trial is pruned, whatever its pruner)."""
    from hpo_service import TrialPruned, report

    report(quadratic(config), step=1)
    raise TrialPruned()


@scope.define
def inverse_of(d: float) -> float:
    """``1 / d``: the space's own code, which raises ZeroDivisionError at ``d == 0``."""
    return 1 / d


#: A space whose own code raises for the points sampled: ``d`` rounds to 0 always.
inverse_space = {"v": scope.inverse_of(hp.quniform("d", -0.4, 0.4, 1))}

#: A space whose own code raises for some points: ``d`` 0 of -2..2.
sometimes_inverse_space = {"v": scope.inverse_of(hp.quniform("d", -2.4, 2.4, 1))}


@scope.define
def cholesky_of(d: float) -> float:
    """The Cholesky factor of ``[[d]]``: numpy raises LinAlgError inside its own
    code at ``d == 0`` (the space's code calls a library that raises)."""
    return float(np.linalg.cholesky(np.array([[d]]))[0, 0])


#: A space whose code calls numpy, which raises for the points sampled.
cholesky_space = {"v": scope.cholesky_of(hp.quniform("d", -0.4, 0.4, 1))}


@scope.define
def power_of_two(e: float) -> int:
    """``2 ** e``: the space's own code, an integer beyond 64 bits at ``e == 70``."""
    return 2 ** int(e)


#: A space whose config holds an integer MongoDB cannot store: ``e`` rounds to 70.
big_int_space = {"v": scope.power_of_two(hp.quniform("e", 69.6, 70.4, 1))}


def big_int_result(config: dict[str, Any]) -> dict[str, Any]:
    """A result holding an integer beyond 64 bits (``2**70``) beside its loss."""
    return {"loss": sum_of_squares(config), "status": "ok", "count": 2**70}
