"""Parameter importance by functional ANOVA (fANOVA) on a random forest.

Method: Hutter, Hoos and Leyton-Brown, "An Efficient Approach for Assessing
Hyperparameter Importance", ICML 2014. A random forest (scikit-learn's) is fitted to
the finished trials' losses; for each tree, the variance of its prediction over the
whole search space is split exactly into the variance of each parameter's marginal
(the prediction averaged over all other parameters). A parameter's importance is that
fraction of variance, averaged over the trees. The reference implementation is
``automl/fanova``; Optuna's ``FanovaImportanceEvaluator`` follows it too.

Details of this implementation:

- every parameter is mapped onto ``[0, 1]`` under its prior's scale: log-scale
  parameters in log space, bounded ones by their bounds (unbounded ones by the values
  seen), a choice with ``n`` options as ``n`` cells of width ``1/n``; the measure the
  variance is taken under is uniform on that box (as in the paper);
- a conditional parameter gets one more cell, ``[-a, 0)``, standing for "inactive",
  sized so that its share of the axis equals the share of trials in which it was
  inactive; the forest sees inactive as ``-1`` and any split between ``-1`` and the
  active values is put at ``0`` exactly; its importance is the variance of its
  marginal over the active cells only, times the probability of being active (the
  inactive/active step belongs to the parent choice, not to the parameter);
- ``importance`` is normalised to sum to 1 over the parameters (as Optuna shows it);
  ``variance_fraction`` keeps the raw main-effect fraction of the loss variance (the
  remainder, ``1 - sum``, is interactions between parameters).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from hpo_service.insight._data import StudyData, TrialRow
    from hpo_service.insight._params import ParamInfo

_logger = logging.getLogger(__name__)

_INACTIVE = -1.0
_MIN_TRIALS = 4


@dataclass(frozen=True)
class ParamImportance:
    """The importance of one parameter.

    Attributes:
        label: The parameter.
        importance: Share of the explained main-effect variance (sums to 1).
        variance_fraction: Fraction of the loss variance this parameter's marginal
            explains on its own (mean over trees).
        std: Standard deviation of ``variance_fraction`` over the trees.
    """

    label: str
    importance: float
    variance_fraction: float
    std: float


def param_importances(
    data: StudyData,
    *,
    objective: int = 0,
    n_trees: int = 64,
    max_samples: int = 2000,
    seed: int = 0,
) -> list[ParamImportance]:
    """fANOVA importances of a study's parameters, most important first.

    Args:
        data: The study (finished ``done`` trials with a loss are used).
        objective: Which loss of a multi-objective study (index into the vector).
        n_trees: Trees in the random forest.
        max_samples: Trials each tree is fitted on (a bootstrap sample of at most this
            many), which bounds the cost on long studies: on 20,000 trials the
            importances stay within 0.002 of fitting every tree on all trials
            (``python -m benchmarks.insight --stability``).
        seed: Seed of the forest.

    Returns:
        One entry per parameter that varied, sorted by importance (ties by label);
        an empty list when fewer than 4 trials finished or every loss is equal.

    Raises:
        ImportError: scikit-learn is not installed (``pip install
            "hpo-service[dashboard]"``).
    """
    problem = _problem(data, objective)
    if problem is None:
        return []
    forest = _fit_forest(
        problem.x, problem.y, n_trees=n_trees, max_samples=max_samples, seed=seed
    )
    fractions = np.array(
        [
            _tree_fractions(t.tree_, problem.lows, problem.conditional)
            for t in forest.estimators_
        ]
    )
    fractions = fractions[~np.isnan(fractions).any(axis=1)]  # constant trees
    return _ranked(problem.labels, fractions)


@dataclass(frozen=True)
class _Problem:
    """What the forest is fitted on: features in ``[low, 1]`` and the losses."""

    labels: list[str]
    x: np.ndarray  # trials x features
    y: np.ndarray
    lows: np.ndarray  # 0, or -a for a conditional parameter
    conditional: np.ndarray


def _problem(data: StudyData, objective: int) -> _Problem | None:
    """The features and losses of the finished trials, or None when too few."""
    rows = [r for r in data.sorted_rows() if _target(r, objective) is not None]
    y = np.array([_target(r, objective) for r in rows], dtype=float)
    finite = np.isfinite(y)
    rows, y = [r for r, f in zip(rows, finite, strict=True) if f], y[finite]
    if len(rows) < _MIN_TRIALS or np.ptp(y) == 0:
        return None
    y = _power_of_two_scaled(y)
    features = _features(data, rows)
    if not features:
        return None
    return _Problem(
        labels=[f.label for f in features],
        x=np.column_stack([f.column for f in features]),
        y=y,
        lows=np.array([f.low for f in features]),
        conditional=np.array([f.conditional for f in features]),
    )


def _power_of_two_scaled(y: np.ndarray) -> np.ndarray:
    """``y`` scaled by a power of two into ``[-1, 1]``, so that the variances the
    trees are split by (squares of losses near 1e155 or beyond) stay finite.

    Variance fractions do not depend on the losses' scale, and a power of two scales
    exactly: the forest and every fraction come out as without it.
    """
    _, exponent = np.frexp(np.max(np.abs(y)))
    return np.ldexp(y, -int(exponent))


def _target(row: TrialRow, objective: int) -> float | None:
    if row.state != "done":
        return None
    if row.losses is not None:
        return row.losses[objective] if objective < len(row.losses) else None
    return row.loss if objective == 0 else None


@dataclass
class _Feature:
    label: str
    column: np.ndarray  # in [0, 1], inactive = -1
    low: float  # 0, or -a for a conditional parameter
    conditional: bool


def _features(data: StudyData, rows: list[TrialRow]) -> list[_Feature]:
    params = data.params
    matrix = data.param_matrix(rows, params)
    features = []
    for info in params:
        unit = _unit(info, matrix[info.label])
        if unit is None:
            continue
        inactive = np.isnan(unit)
        share = float(inactive.mean())
        if share >= 1.0:
            continue
        column = np.where(inactive, _INACTIVE, unit)
        low = -share / (1.0 - share) if share > 0 else 0.0
        features.append(_Feature(info.label, column, low, share > 0))
    return features


def _unit(info: ParamInfo, values: np.ndarray) -> np.ndarray | None:
    """Values mapped onto [0, 1] under the prior's scale (NaN stays NaN)."""
    if info.type == "choice":
        n = len(info.choices) or int(np.nanmax(values, initial=0)) + 1
        return (values + 0.5) / n if n > 1 else None
    if info.log:
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.log(np.where(values > 0, values, np.nan))
    seen = values[~np.isnan(values)]
    if seen.size == 0:
        return None
    low = _scaled(info.low, info.log, float(seen.min()))
    high = _scaled(info.high, info.log, float(seen.max()))
    if not high > low:
        return None
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def _scaled(bound: float | None, log: bool, fallback: float) -> float:
    if bound is None or (log and bound <= 0):
        return fallback
    return math.log(bound) if log else bound


def _fit_forest(
    x: np.ndarray, y: np.ndarray, *, n_trees: int, max_samples: int, seed: int
) -> Any:
    """scikit-learn's random forest: bootstrap samples of at most ``max_samples``,
    every parameter a split candidate at each node, leaves of at least 2 trials."""
    try:
        from sklearn.ensemble import RandomForestRegressor
    except ImportError as e:
        raise ImportError(
            "parameter importance needs scikit-learn: "
            'pip install "hpo-service[dashboard]"'
        ) from e
    forest = RandomForestRegressor(
        n_estimators=n_trees,
        max_samples=min(len(y), max_samples),
        min_samples_leaf=2,
        max_features=None,
        random_state=seed,
        n_jobs=1,
    )
    return forest.fit(x, y)


def _tree_fractions(tree: Any, lows: np.ndarray, conditional: np.ndarray) -> np.ndarray:
    """Main-effect variance fraction of each feature for one fitted tree."""
    lower, upper, values = _leaf_boxes(tree, lows, conditional)
    widths = upper - lower
    spans = 1.0 - lows
    volume = np.prod(widths / spans, axis=1)
    mean = float(volume @ values)
    total = float(volume @ values**2) - mean**2
    if total <= 1e-12 * max(1.0, mean**2):
        return np.full(len(lows), np.nan)
    fractions = np.empty(len(lows))
    for i in range(len(lows)):
        share_i = widths[:, i] / spans[i]
        marginal_weight = volume * values / share_i
        fractions[i] = (
            _marginal_variance(lower[:, i], upper[:, i], marginal_weight, lows[i], mean)
            / total
        )
    return fractions


def _marginal_variance(
    lower: np.ndarray, upper: np.ndarray, weight: np.ndarray, low: float, mean: float
) -> float:
    """Variance over one axis of the marginal prediction (leaves as axis intervals)."""
    # a leaf may span inactive and active cells ([-a, t) with t > 0): cut it at 0
    cuts = np.unique(np.concatenate([lower, upper, [low, 0.0, 1.0]]))
    start = np.searchsorted(cuts, lower)
    stop = np.searchsorted(cuts, upper)
    diff = np.zeros(len(cuts))
    np.add.at(diff, start, weight)
    np.add.at(diff, stop, -weight)
    marginal = np.cumsum(diff)[:-1]
    if low < 0:  # conditional: vary over the active cells only, weighted by P(active)
        active = cuts[:-1] >= 0
        share = np.diff(cuts)[active]
        centre = float(share @ marginal[active])
        spread = float(share @ marginal[active] ** 2) - centre**2
        return max(0.0, spread / (1.0 - low))
    share = np.diff(cuts) / (1.0 - low)
    return max(0.0, float(share @ marginal**2) - mean**2)


def _leaf_boxes(
    tree: Any, lows: np.ndarray, conditional: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each leaf's box (lower, upper per feature) and predicted value.

    The boxes are pushed down the tree one depth level at a time (a few numpy calls
    per level, not per node).
    """
    left, right = tree.children_left, tree.children_right
    feature, threshold = tree.feature, tree.threshold.copy()
    split = left >= 0
    cond_split = split & conditional[np.where(split, feature, 0)]
    threshold[cond_split & (threshold < 0)] = 0.0  # inactive | active boundary
    lower = np.empty((tree.node_count, len(lows)))
    upper = np.empty_like(lower)
    lower[0], upper[0] = lows, 1.0
    level = np.array([0])
    while level.size:
        parents = level[split[level]]
        f = feature[parents]
        cut = np.clip(threshold[parents], lows[f], 1.0)
        below, above = left[parents], right[parents]
        for kids in (below, above):
            lower[kids], upper[kids] = lower[parents], upper[parents]
        upper[below, f] = np.minimum(upper[parents, f], cut)
        lower[above, f] = np.maximum(lower[parents, f], cut)
        level = np.concatenate([below, above])
    leaves = np.flatnonzero(~split)
    lower, upper = lower[leaves], upper[leaves]
    values = tree.value[leaves, 0, 0]
    keep = np.all(upper > lower, axis=1)  # a split outside the box leaves it empty
    return lower[keep], upper[keep], values[keep]


def _ranked(labels: list[str], fractions: np.ndarray) -> list[ParamImportance]:
    if fractions.size == 0:
        return []
    mean = fractions.mean(axis=0)
    std = fractions.std(axis=0)
    total = float(mean.sum())
    result = [
        ParamImportance(
            label,
            float(m / total) if total > 0 else 0.0,
            float(m),
            float(s),
        )
        for label, m, s in zip(labels, mean, std, strict=True)
    ]
    return sorted(result, key=lambda p: (-p.importance, p.label))


def linear_scale_note(data: StudyData) -> str | None:
    """The caveat of importances computed without the study's space, or None.

    A study without a space (an import's copy made by ``hpo-driver import
    --create``, an in-memory ``Trials``) has its parameters inferred from the
    values (:func:`~hpo_service.insight._params.infer_params`): every number on a
    linear scale, bounded by the values seen. A log-scale parameter
    (``hp.loguniform``) is then measured linearly, so its importance differs from
    the original study's.
    """
    if data.has_space or not any(p.type != "choice" for p in data.params):
        return None
    return (
        f"study {data.name!r} has no search space (an imported copy?): its numeric "
        "parameters are measured on a linear scale of the values seen, so the "
        "importance of a log-scale one (hp.loguniform, hp.qloguniform) may differ "
        "from the original study's; give the study its space (`hpo-driver start "
        "--space REF`) to measure each on its prior's scale"
    )
