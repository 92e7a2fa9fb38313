"""Benchmark problems shared by the sample-efficiency runs.

Each :class:`Problem` builds its search space from an ``hp`` module (ours or hyperopt's:
the API is the same), describes the same space define-by-run for optuna, and scores the
nested configuration that ``space_eval`` (or hyperopt) hands to the objective.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Problem:
    """One benchmark: a space (for hp modules and optuna), a loss and its optimum.

    Attributes:
        name: Short name used on the command line.
        make_space: Builds the space with a given ``hp`` module.
        optuna_config: Draws the same configuration from an optuna trial.
        loss: Scores a configuration (lower is better).
        optimum: The known minimum of ``loss`` (``None`` when unknown).
        success: Regret below which a run counts as a success (reported as a share).
        expensive: Whether the objective is slow enough to run fewer seeds by default.
    """

    name: str
    make_space: Callable[[Any], Any]
    optuna_config: Callable[[Any], Any]
    loss: Callable[[Any], float]
    optimum: float | None
    success: float | None = None
    expensive: bool = False


def _box_space(bounds: list[tuple[float, float]]) -> Callable[[Any], Any]:
    def make(hp: Any) -> Any:
        return [hp.uniform(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)]

    return make


def _box_optuna(bounds: list[tuple[float, float]]) -> Callable[[Any], Any]:
    def draw(trial: Any) -> Any:
        return [
            trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)
        ]

    return draw


def branin(x: list[float]) -> float:
    """Branin-Hoo on [-5, 10] x [0, 15]; minimum 0.397887."""
    x1, x2 = x
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    t = 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def branin_fail(x: list[float]) -> float:
    """Branin, but a disc of radius 5 around (2.5, 9) fails (NaN): 35% of the box."""
    if (x[0] - 2.5) ** 2 + (x[1] - 9.0) ** 2 < 25.0:
        return math.nan
    return branin(x)


_HARTMANN_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_HARTMANN_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(x: list[float]) -> float:
    """Hartmann 6-D on [0, 1]^6; minimum -3.32237."""
    inner = np.sum(_HARTMANN_A * (np.asarray(x) - _HARTMANN_P) ** 2, axis=1)
    return float(-np.sum(_HARTMANN_ALPHA * np.exp(-inner)))


def rosenbrock(x: list[float]) -> float:
    """Rosenbrock; minimum 0 at (1, ..., 1)."""
    v = np.asarray(x)
    return float(np.sum(100 * (v[1:] - v[:-1] ** 2) ** 2 + (1 - v[:-1]) ** 2))


def ackley(x: list[float]) -> float:
    """Ackley; minimum 0 at the origin."""
    v = np.asarray(x)
    d = v.size
    a = -20 * math.exp(-0.2 * math.sqrt(float(np.sum(v * v)) / d))
    return a - math.exp(float(np.sum(np.cos(2 * math.pi * v))) / d) + 20 + math.e


# --- conditional space with a decoy branch ------------------------------------------
# The decoy branch is a wide, shallow bowl: random points there score 0.3-0.8, and its
# floor is 0.3. The good branch is 1.0 almost everywhere but hides a well reaching 0:
# early on it looks worse, so a sampler that commits to the decoy never finds the well.
_WELL = (1.5, -2.0)
_WELL_WIDTH = 1.5


def _decoy_space(hp: Any) -> Any:
    return hp.choice(
        "branch",
        [
            {
                "branch": "good",
                "x": hp.uniform("gx", -5, 5),
                "y": hp.uniform("gy", -5, 5),
            },
            {
                "branch": "decoy",
                "x": hp.uniform("dx", -5, 5),
                "y": hp.uniform("dy", -5, 5),
            },
        ],
    )


def _decoy_optuna(trial: Any) -> Any:
    branch = trial.suggest_categorical("branch", ["good", "decoy"])
    prefix = "g" if branch == "good" else "d"
    x = trial.suggest_float(f"{prefix}x", -5, 5)
    y = trial.suggest_float(f"{prefix}y", -5, 5)
    return {"branch": branch, "x": x, "y": y}


def decoy(config: dict[str, Any]) -> float:
    """Loss of the decoy problem (minimum 0 in the good branch, 0.3 in the decoy)."""
    x, y = config["x"], config["y"]
    if config["branch"] == "decoy":
        return 0.3 + 0.5 * (x * x + y * y) / 50.0
    d2 = (x - _WELL[0]) ** 2 + (y - _WELL[1]) ** 2
    return 1.0 - math.exp(-d2 / (2 * _WELL_WIDTH**2))


# --- a cheap real ML objective ------------------------------------------------------
def _svm_space(hp: Any) -> Any:
    return {
        "C": hp.loguniform("C", math.log(1e-2), math.log(1e2)),
        "epsilon": hp.loguniform("epsilon", math.log(1e-3), math.log(1.0)),
        "kernel": hp.choice(
            "kernel",
            [
                {"name": "rbf", "gamma": hp.loguniform("gamma", math.log(1e-4), 0.0)},
                {
                    "name": "poly",
                    "degree": hp.uniformint("degree", 2, 3),
                    "coef0": hp.uniform("coef0", 0.0, 2.0),
                },
                {"name": "linear"},
            ],
        ),
    }


def _svm_optuna(trial: Any) -> Any:
    config: dict[str, Any] = {
        "C": trial.suggest_float("C", 1e-2, 1e2, log=True),
        "epsilon": trial.suggest_float("epsilon", 1e-3, 1.0, log=True),
    }
    name = trial.suggest_categorical("kernel", ["rbf", "poly", "linear"])
    kernel: dict[str, Any] = {"name": name}
    if name == "rbf":
        kernel["gamma"] = trial.suggest_float("gamma", 1e-4, 1.0, log=True)
    elif name == "poly":
        kernel["degree"] = trial.suggest_int("degree", 2, 3)
        kernel["coef0"] = trial.suggest_float("coef0", 0.0, 2.0)
    config["kernel"] = kernel
    return config


@lru_cache(maxsize=1)
def _diabetes() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x, (y - y.mean()) / y.std()


def svm(config: dict[str, Any]) -> float:
    """3-fold CV mean squared error of an SVR on scikit-learn's diabetes data set."""
    from sklearn.model_selection import cross_val_score
    from sklearn.svm import SVR

    x, y = _diabetes()
    kernel = dict(config["kernel"])
    name = kernel.pop("name")
    if "degree" in kernel:
        kernel["degree"] = int(kernel["degree"])
    model = SVR(
        kernel=name, C=config["C"], epsilon=config["epsilon"], max_iter=20_000, **kernel
    )
    scores = cross_val_score(model, x, y, cv=3, scoring="neg_mean_squared_error")
    return float(-scores.mean())


_BRANIN = [(-5.0, 10.0), (0.0, 15.0)]
_HART = [(0.0, 1.0)] * 6
_ROSEN = [(-2.0, 2.0)] * 5
_ACKLEY = [(-32.768, 32.768)] * 5

PROBLEMS: dict[str, Problem] = {
    p.name: p
    for p in [
        Problem("branin", _box_space(_BRANIN), _box_optuna(_BRANIN), branin, 0.397887),
        Problem(
            "hartmann6", _box_space(_HART), _box_optuna(_HART), hartmann6, -3.32237
        ),
        Problem(
            "rosenbrock5", _box_space(_ROSEN), _box_optuna(_ROSEN), rosenbrock, 0.0
        ),
        Problem("ackley5", _box_space(_ACKLEY), _box_optuna(_ACKLEY), ackley, 0.0),
        Problem("decoy", _decoy_space, _decoy_optuna, decoy, 0.0, success=0.05),
        Problem(
            "branin_fail",
            _box_space(_BRANIN),
            _box_optuna(_BRANIN),
            branin_fail,
            0.397887,
        ),
        Problem("svm", _svm_space, _svm_optuna, svm, None, expensive=True),
    ]
}
