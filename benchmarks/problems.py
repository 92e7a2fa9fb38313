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
        true_loss: For a noisy ``loss``, its expected value; the regret of a run is
            then the true loss of the trial it found best (its incumbent).
    """

    name: str
    make_space: Callable[[Any], Any]
    optuna_config: Callable[[Any], Any]
    loss: Callable[[Any], float]
    optimum: float | None
    success: float | None = None
    expensive: bool = False
    true_loss: Callable[[Any], float] | None = None


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


def _svr(config: dict[str, Any]) -> Any:
    from sklearn.svm import SVR

    kernel = dict(config["kernel"])
    name = kernel.pop("name")
    if "degree" in kernel:
        kernel["degree"] = int(kernel["degree"])
    return SVR(
        kernel=name, C=config["C"], epsilon=config["epsilon"], max_iter=20_000, **kernel
    )


def _cv_mse(config: dict[str, Any], cv: Any) -> float:
    from sklearn.model_selection import cross_val_score

    x, y = _diabetes()
    scores = cross_val_score(
        _svr(config), x, y, cv=cv, scoring="neg_mean_squared_error"
    )
    return float(-scores.mean())


def svm(config: dict[str, Any]) -> float:
    """3-fold CV mean squared error of an SVR on scikit-learn's diabetes data set."""
    return _cv_mse(config, 3)


# Noisy objectives draw their CV split from this generator; runners reseed it per run.
_NOISE = np.random.default_rng(0)


def reseed(seed: int) -> None:
    """Make a run's noisy evaluations reproducible (call before the run)."""
    global _NOISE
    _NOISE = np.random.default_rng([seed, 99])


def svm_noisy(config: dict[str, Any]) -> float:
    """``svm``, but every evaluation shuffles the 3 folds with a fresh seed."""
    from sklearn.model_selection import KFold

    cv = KFold(3, shuffle=True, random_state=int(_NOISE.integers(2**31)))
    return _cv_mse(config, cv)


def svm_noisy_truth(config: dict[str, Any]) -> float:
    """The expected value of ``svm_noisy``: the mean over 10 fixed shuffles."""
    from sklearn.model_selection import KFold

    return float(
        np.mean(
            [_cv_mse(config, KFold(3, shuffle=True, random_state=s)) for s in range(10)]
        )
    )


# --- gradient boosting and an MLP on scikit-learn's breast-cancer data ----------------
@lru_cache(maxsize=1)
def _cancer() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    return (x - x.mean(axis=0)) / x.std(axis=0), y


def _cv_log_loss(model: Any) -> float:
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    x, y = _cancer()
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(model, x, y, cv=cv, scoring="neg_log_loss")
    return float(-scores.mean())


def _gbm_space(hp: Any) -> Any:
    return {
        "learning_rate": hp.loguniform("learning_rate", math.log(0.01), 0.0),
        "max_iter": hp.quniform("max_iter", 10, 60, 5),
        "max_leaf_nodes": hp.qloguniform(
            "max_leaf_nodes", math.log(4), math.log(32), 1
        ),
        "min_samples_leaf": hp.uniformint("min_samples_leaf", 2, 60),
        "l2_regularization": hp.loguniform(
            "l2_regularization", math.log(1e-6), math.log(10.0)
        ),
        "max_features": hp.uniform("max_features", 0.2, 1.0),
    }


def _gbm_optuna(trial: Any) -> Any:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 1.0, log=True),
        "max_iter": trial.suggest_float("max_iter", 10, 60, step=5),
        "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 4, 32, log=True),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 2, 60),
        "l2_regularization": trial.suggest_float(
            "l2_regularization", 1e-6, 10.0, log=True
        ),
        "max_features": trial.suggest_float("max_features", 0.2, 1.0),
    }


def gbm(config: dict[str, Any]) -> float:
    """3-fold CV log loss of histogram gradient boosting on the breast-cancer data."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(
        learning_rate=config["learning_rate"],
        max_iter=int(config["max_iter"]),
        max_leaf_nodes=max(2, int(config["max_leaf_nodes"])),
        min_samples_leaf=int(config["min_samples_leaf"]),
        l2_regularization=config["l2_regularization"],
        max_features=config["max_features"],
        early_stopping=False,
        random_state=0,
    )
    return _cv_log_loss(model)


def _mlp_space(hp: Any) -> Any:
    width = (math.log(4), math.log(64), 1)
    return {
        "layers": hp.choice(
            "layers",
            [
                {"h1": hp.qloguniform("h1_of_1", *width)},
                {
                    "h1": hp.qloguniform("h1_of_2", *width),
                    "h2": hp.qloguniform("h2_of_2", *width),
                },
            ],
        ),
        "alpha": hp.loguniform("alpha", math.log(1e-6), 0.0),
        "learning_rate_init": hp.loguniform("lr", math.log(1e-4), math.log(0.3)),
        "activation": hp.choice("activation", ["relu", "tanh"]),
        "batch_size": hp.choice("batch_size", [32, 64, 128]),
    }


def _mlp_optuna(trial: Any) -> Any:
    depth = trial.suggest_categorical("layers", [1, 2])
    layers = {"h1": trial.suggest_int(f"h1_of_{depth}", 4, 64, log=True)}
    if depth == 2:
        layers["h2"] = trial.suggest_int("h2_of_2", 4, 64, log=True)
    return {
        "layers": layers,
        "alpha": trial.suggest_float("alpha", 1e-6, 1.0, log=True),
        "learning_rate_init": trial.suggest_float("lr", 1e-4, 0.3, log=True),
        "activation": trial.suggest_categorical("activation", ["relu", "tanh"]),
        "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
    }


def mlp(config: dict[str, Any]) -> float:
    """3-fold CV log loss of a small MLP (20 epochs) on the breast-cancer data."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    layers = config["layers"]
    sizes = tuple(max(1, int(layers[k])) for k in ("h1", "h2") if k in layers)
    model = MLPClassifier(
        hidden_layer_sizes=sizes,
        alpha=config["alpha"],
        learning_rate_init=config["learning_rate_init"],
        activation=config["activation"],
        batch_size=config["batch_size"],
        max_iter=20,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _cv_log_loss(model)


# --- a wide space: 100 parameters, mixed types, partly conditional --------------------
# 30 uniform, 14 loguniform, 10 quniform, 10 uniformint, 15 four-way choices, and a
# ``model`` choice whose two branches hold 10 parameters each (90 active per trial).
# The loss is a weighted sum of squared normalised distances to a hidden optimum, with
# importance decaying over the parameters (a few matter, most barely), five coupled
# pairs, and branch B's floor at 0.3. Optimum 0 (branch A, every parameter at its best).
_WIDE_RNG = np.random.default_rng(20261129)
_WIDE_KINDS = ["u"] * 30 + ["l"] * 14 + ["q"] * 10 + ["i"] * 10 + ["c"] * 15
_WIDE_OPT = _WIDE_RNG.uniform(0.1, 0.9, size=100)  # optimum, as a share of the range
_WIDE_WEIGHT = np.exp(-_WIDE_RNG.permutation(100) / 12.0)  # importance
_WIDE_PAIRS = _WIDE_RNG.choice(30, size=(5, 2), replace=False)  # coupled uniforms
_WIDE_BEST_OPTION = _WIDE_RNG.integers(4, size=100)
_LOG_LO, _LOG_HI = math.log(1e-4), 0.0


def _wide_param(hp: Any, kind: str, name: str) -> Any:
    if kind == "u":
        return hp.uniform(name, -5, 5)
    if kind == "l":
        return hp.loguniform(name, _LOG_LO, _LOG_HI)
    if kind == "q":
        return hp.quniform(name, 0, 20, 1)
    if kind == "i":
        return hp.uniformint(name, 1, 64)
    return hp.choice(name, ["a", "b", "c", "d"])


def _wide_names() -> list[tuple[str, str]]:
    names = [(k, f"{k}{i}") for i, k in enumerate(_WIDE_KINDS)]
    names += [("u", f"a{i}") for i in range(10)]
    names += [(k, f"b{i}") for i, k in enumerate("uuuullqqic")]
    return names


def _wide_space(hp: Any) -> Any:
    names = _wide_names()
    space = {name: _wide_param(hp, kind, name) for kind, name in names[:79]}
    branch_a = {name: _wide_param(hp, kind, name) for kind, name in names[79:89]}
    branch_b = {name: _wide_param(hp, kind, name) for kind, name in names[89:]}
    space["model"] = hp.choice(
        "model", [{"kind": "A", **branch_a}, {"kind": "B", **branch_b}]
    )
    return space


def _wide_optuna_param(trial: Any, kind: str, name: str) -> Any:
    if kind == "u":
        return trial.suggest_float(name, -5, 5)
    if kind == "l":
        return trial.suggest_float(name, 1e-4, 1.0, log=True)
    if kind == "q":
        return trial.suggest_float(name, 0, 20, step=1)
    if kind == "i":
        return trial.suggest_int(name, 1, 64)
    return trial.suggest_categorical(name, ["a", "b", "c", "d"])


def _wide_optuna(trial: Any) -> Any:
    names = _wide_names()
    config = {name: _wide_optuna_param(trial, kind, name) for kind, name in names[:79]}
    kind = trial.suggest_categorical("model", ["A", "B"])
    branch = names[79:89] if kind == "A" else names[89:]
    config["model"] = {"kind": kind}
    config["model"].update({n: _wide_optuna_param(trial, k, n) for k, n in branch})
    return config


def _wide_share(kind: str, value: Any) -> float:
    """Where ``value`` sits in its parameter's range, in [0, 1]."""
    if kind == "u":
        return (value + 5) / 10
    if kind == "l":
        return (math.log(value) - _LOG_LO) / (_LOG_HI - _LOG_LO)
    if kind == "q":
        return value / 20
    return (value - 1) / 63


def wide(config: dict[str, Any]) -> float:
    """Loss of the 100-parameter problem (minimum 0)."""
    names = _wide_names()
    model = config["model"]
    active = names[:79] + (names[79:89] if model["kind"] == "A" else names[89:])
    slot = list(range(79)) + list(
        range(79, 89) if model["kind"] == "A" else range(89, 99)
    )
    shares = {}
    loss = 0.0 if model["kind"] == "A" else 0.3
    for j, (kind, name) in zip(slot, active, strict=True):
        value = config[name] if name in config else model[name]
        if kind == "c":
            best = "abcd"[_WIDE_BEST_OPTION[j]]
            loss += _WIDE_WEIGHT[j] * (0.0 if value == best else 0.25)
            continue
        shares[name] = _wide_share(kind, value)
        loss += _WIDE_WEIGHT[j] * (shares[name] - _WIDE_OPT[j]) ** 2
    for a, b in _WIDE_PAIRS:  # coupled: the difference of two uniforms matters too
        da = shares[f"u{a}"] - _WIDE_OPT[a]
        db = shares[f"u{b}"] - _WIDE_OPT[b]
        loss += 2.0 * (da - db) ** 2
    return float(loss)


_BRANIN = [(-5.0, 10.0), (0.0, 15.0)]
_HART = [(0.0, 1.0)] * 6
_ROSEN = [(-2.0, 2.0)] * 5
_ACKLEY = [(-32.768, 32.768)] * 5
#: The bounds of the box problems, per dimension (their configs are lists of floats).
BOX_BOUNDS = {
    "branin": _BRANIN,
    "hartmann6": _HART,
    "rosenbrock5": _ROSEN,
    "ackley5": _ACKLEY,
}

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
        Problem(
            "svm_noisy",
            _svm_space,
            _svm_optuna,
            svm_noisy,
            None,
            expensive=True,
            true_loss=svm_noisy_truth,
        ),
        Problem("gbm", _gbm_space, _gbm_optuna, gbm, None, expensive=True),
        Problem("mlp", _mlp_space, _mlp_optuna, mlp, None, expensive=True),
        Problem("wide100", _wide_space, _wide_optuna, wide, 0.0, expensive=True),
    ]
}
