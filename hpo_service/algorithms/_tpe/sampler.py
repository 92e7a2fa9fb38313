"""The TPE suggestion loop: groups, below/above split, constant liar, candidates.

Parameters are grouped by their condition set: parameters of one group are active in
exactly the same trials, so (with ``multivariate=True``) they are modelled, sampled and
scored jointly; with ``multivariate=False`` every parameter is its own group. Groups are
visited parents first; a group is sampled only if the choices made so far activate it,
and it learns only from the trials (and pending points) in which it was active.

With ``branch_joint=True`` a conditional group also holds the unconditional numeric
parameters (they are active in every trial, so in every trial of the branch too): its
density is fit on the branch's trials over (own parameters, shared numeric ones), and
when it is sampled its draw of the shared parameters replaces the one made by the
unconditional group, which still decides the choices (the branch). So an rbf SVM's
``(C, gamma)`` is one density over the rbf trials and can follow the diagonal ridge of
its loss, which two separate densities cannot. If several conditional groups are active
in one point, the last one visited sets the shared values. Spaces without conditions,
and conditional groups in spaces without unconditional numeric parameters, are
unchanged. Optuna's ``TPESampler(multivariate=True, group=True)`` keeps such groups
apart (its groups are the same as ours without this option); hyperopt's TPE models
every parameter on its own.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from hpo_service._common.words import did_you_mean_each
from hpo_service.algorithms._history import History
from hpo_service.algorithms._tpe import _observed, _repeats, _rows, _scoring
from hpo_service.algorithms._tpe.parzen_estimator import (
    Candidates,
    GroupLayout,
    ParzenEstimator,
)
from hpo_service.space._sample import finish
from hpo_service.space._spec import CompiledSpace, Condition, ParamSpec

_logger = logging.getLogger(__name__)


_RULES = ("scott", "neighbour", "scott_gap")
_LIAR_WIDTHS = ("above", "good", "gaps")
#: The on/off settings: only ``True``/``False`` (a string such as "no" is refused).
_SWITCHES = (
    "multivariate",
    "constant_liar",
    "consider_endpoints",
    "ignore_failures",
    "whole_end_bins",
    "branch_joint",
    "keep_extremes",
    "ei_per_parameter",
    "marginal_draws",
)
#: The count settings: ints (numpy's too); 2.5 candidates would fail mid-study.
_COUNTS = (
    "n_startup_jobs",
    "n_ei_candidates",
    "max_below",
    "linear_forgetting",
    "max_above_kernels",
)
#: The settings spelt as words (checked against their choices).
_WORDS = (
    "bandwidth",
    "liar_width",
    "avoid_repeats",
    "prior_gate",
    "marginal_gate",
    "quantised_kernels",
    "continuous_kernels",
    "duplicate_losses",
    "below_rule",
    "good_weights",
)
#: The choices of ``prior_gate`` and ``marginal_gate``.
_PRIOR_GATES = ("none", "count")
#: The choices of ``quantised_kernels``.
_QUANTISED_KERNELS = ("same", "gaps_above", "gaps")
#: The choices of ``continuous_kernels``.
_CONTINUOUS_KERNELS = ("same", "gaps")
#: The choices of ``duplicate_losses``.
_DUPLICATE_LOSSES = ("keep", "last")
#: The choices of ``good_weights``.
_GOOD_WEIGHTS = ("uniform", "copies")
#: The choices of ``below_rule``.
_BELOW_RULES = ("share", "sqrt")


@dataclass(frozen=True)
class TPESettings:
    """Tunable settings of TPE (every value JSON-able).

    Defaults were tuned with ``benchmarks/sample_efficiency.py`` (see its README).

    Attributes:
        n_startup_jobs: Trials drawn from the prior before TPE starts modelling.
        n_ei_candidates: Candidates drawn from the "good" density per suggestion
            (per group of parameters; see ``ei_per_parameter``).
        ei_per_parameter: Draw ``n_ei_candidates`` per parameter of a group (a
            group of ``d`` parameters draws ``d * n_ei_candidates``), as hyperopt
            draws and scores ``n_EI_candidates`` for every parameter on its own
            (``suggest`` and ``build_posterior`` in hyperopt/tpe.py); False (the
            default) draws ``n_ei_candidates`` per group. Groups of one parameter
            are unchanged.
        marginal_draws: Draw each numeric and each categorical parameter of a
            candidate from its own, independently chosen component of the good
            mixture (hyperopt samples every parameter from its own 1-D mixture,
            so one candidate can take C from one good trial and epsilon from
            another or from the prior), then score the candidates jointly as
            before; False (the default) draws a whole candidate from one
            component. Groups of one parameter draw the same distribution.
        gamma: Fraction of a group's trials that form the "good" (below) set
            (with ``below_rule="sqrt"``: the factor of ``sqrt(n)``).
        below_rule: How many trials are good: ``"share"`` (the default) the best
            ``ceil(gamma * m)`` of the ``m`` trials in which the group is active;
            ``"sqrt"`` hyperopt's rule (``ap_split_trials`` in hyperopt/tpe.py,
            there with gamma 0.25): the best ``ceil(gamma * sqrt(n))`` of all
            ``n`` trials of the study, and of those the ones in which the group
            is active (so a conditional group may have none: its good density
            is then its prior). Both capped at ``max_below``. One objective only
            (MOTPE splits by its own rule).
        max_below: Upper bound on the size of the below set.
        prior_weight: Weight of the prior component in both densities (relative to
            one observation), also the smoothing strength of categorical kernels.
        multivariate: Model parameters that are active together jointly.
        constant_liar: Treat pending trials (and earlier suggestions of the same
            call) as bad observations so that parallel workers spread out.
        linear_forgetting: Number of most recent "above" trials with full weight;
            older ones get linearly decreasing weights.
        consider_endpoints: Let the bounds act as neighbours (``"neighbour"`` rule).
        bandwidth: ``"scott"`` (one kernel width per dimension from the spread of
            the observations), ``"neighbour"`` (hyperopt's per-kernel gap rule) or
            ``"scott_gap"`` (each kernel the wider of the two: isolated observations
            get wide kernels, clusters keep Scott's width).
        bandwidth_factor: Multiplier on every kernel bandwidth.
        bandwidth_floor: Bandwidths are at least ``bandwidth_floor / min(100, k + 1)``
            of the range for ``k`` observations (hyperopt's "magic clip" is 1.0).
        quantised_floor: The floor of the quantised parameters' bandwidths
            (``uniformint``, ``q*``) in the same units, so that their kernels can
            cover neighbouring values (hyperopt's and Optuna's "magic clip" is
            1.0); 0 gives them ``bandwidth_floor``.
        log_floor: The floor of the log-scaled parameters' bandwidths
            (``loguniform``, ``qloguniform``, ``lognormal``, ``qlognormal``) in the
            same units (of the log range; of the prior sigma for lognormal); 0 (the
            default) gives them ``bandwidth_floor``; a parameter both quantised and
            log-scaled takes the larger of its two floors. Aimed at real
            objectives whose parameters span decades (hyperopt's clip is 1.0);
            measured on svm, see benchmarks/README.md ("Real, noisy objectives").
        max_above_kernels: Cap on the number of components of the "above" density;
            a weighted subsample is used beyond it (keeps latency flat).
        ignore_failures: Leave failed trials (NaN loss) out of both densities instead
            of counting them as the worst observations.
        liar_weight: Weight of each pending point in the bad density (constant
            liar), relative to one finished trial.
        liar_width: Kernel width of the pending points in the bad density:
            ``"above"`` (they join the bad observations and share their
            bandwidths) or ``"good"`` (a component of their own with the good
            density's bandwidths: a pending point repels candidates on the scale at
            which they are drawn) or ``"gaps"`` (as ``"above"``, but each pending
            point's kernel in a continuous parameter is as wide as its larger gap
            to a sorted neighbour among the bad observations and pending points,
            floored, as Optuna 5 gives its running trials; the bad trials keep the
            ``bandwidth`` rule, unlike ``continuous_kernels="gaps"``, which gives
            gap widths to every kernel of both densities). With nothing pending
            ``"gaps"`` and ``"above"`` build the same densities. Not MOTPE's
            default: with 8 workers it lost ZDT hypervolume (1-2.5% by the median)
            and, without ``avoid_repeats``, ``tree`` hypervolume too
            (``benchmarks/README.md``, thirteenth attempt at ``tree``).
        liar_floor: With ``liar_width="gaps"``: each pending point's kernel in a
            continuous parameter is at least ``liar_floor / min(100, k + 1)`` of
            the range wide for ``k`` kernels in the bad density (besides
            ``bandwidth_floor``'s floor); 1.0 is Optuna's "magic clip" (1/100 of
            the range from 99 kernels on), against which ours' floor (0.3) leaves
            the gap widths 2.5 times narrower late in a run (``benchmarks/
            README.md``, thirteenth attempt at ``tree``). 0 (the default): no
            floor of its own. Refused (``ValueError``) when negative, or non-zero
            with another ``liar_width``. Not MOTPE's default: with 1.0 the pending
            kernels are Optuna's (within 0.001 of the range) and ZDT x8 held, but
            ``tree`` x8 was not better than the default (fourteenth attempt).
        pending_widen: With ``p`` pending points and ``n`` finished trials, the good
            density's bandwidths are multiplied by ``(1 + p / n) ** pending_widen``
            (at most ``max_widen``): many workers per finished trial explore more
            widely (0 turns it off).
        max_widen: Upper bound on that factor (>= 1). Without it 64 workers on 10
            results widened the good density eightfold, i.e. back to random search.
        whole_end_bins: The densities give the end values of a bounded quantised
            parameter (``uniformint``, ``quniform``, ``qloguniform``) a whole
            rounding bin, as inner values have and as Optuna's ``suggest_int`` draws
            them (the support widened by half a step at each end; proposals still
            rounded and clipped to the space's values). False keeps hyperopt's
            definition, which clips the end bins to the bounds, so that an end
            value weighs half an inner one. The startup trials and random search
            draw from the space's (hyperopt's) prior either way.
        branch_joint: Model each conditional group jointly with the unconditional
            numeric parameters, on the trials of its branch (see the module
            docstring; needs ``multivariate``).
        avoid_repeats: ``"none"``; ``"pending"``: a proposal that repeats a
            pending point (same discrete values, continuous ones within
            ``repeat_radius``) is changed in its cheapest group (see
            :mod:`._repeats`); ``"all"``: finished trials count as well.
        repeat_radius: How close (in units of a parameter's range) continuous
            values must be to count as the same (>= 1: only the discrete values
            count).
        prior_gate: ``"count"`` (the default since 2026-11-30, s14): no candidate
            is drawn from the good density's prior component while at least
            ``n_startup_jobs`` points are pending (their ``pending_weights``
            summed; a call's earlier suggestions count), its weight in the scores
            unchanged; ``"none"``: the prior gets its share of the draws always
            (the default before). Runs with nothing pending (``fmin`` with
            ``Trials`` and ``max_queue_len=1``; with 11 or more its own earlier
            suggestions count) are untouched, and so are 4 workers on trials of a
            second or more (never 10 pending); on much shorter trials the driver queues
            more ahead and it acts with fewer workers (``parallel_efficiency.py
            --workers 4 --eval-median 0.01``: 6.7-9.5 queued on average, every
            run changed). With 16 or 64 workers the prior's random draws only
            spread points the liars spread already. Measured
            (``benchmarks/parallel_efficiency.py``, seeds 4000-4063, five
            problems, W=16 and 64, 300 trials, against ``"none"`` seed by seed;
            the rule fixed before the run in commit 39691a4): per seed the mean
            log ratio of regrets over the 20 cells (W=16/64 x @100/@300) favours
            it, one-sided Wilcoxon p = 0.002 (geometric mean 0.87, ahead on 67% of
            the seeds); no cell worse with p < 0.05; ackley5 W=16 @100 0.92.
            Chosen with the constant liar of the single-objective problems; MOTPE
            keeps ``"none"``. See benchmarks/README.md, "no prior draws while 10
            or more trials are pending".
        marginal_gate: ``"none"`` (the default): ``marginal_draws`` alone decides
            how candidates are drawn; ``"count"``: while at least
            ``n_startup_jobs`` points are pending (their ``pending_weights``
            summed, a call's earlier suggestions counted, as ``prior_gate``
            counts them) every candidate is drawn as with ``marginal_draws``
            (each numeric and categorical parameter from its own, independently
            chosen component of the good mixture; hyperopt's per-parameter draws),
            and still scored jointly. With 16 workers a suggestion is made ~16
            results late, so in 100 trials the search gets only ~5 rounds of
            moving its good set; per-parameter draws recombine what different
            good trials got right in one round. Runs with fewer pending points
            (sequential ones, 4 workers on trials of a second or more) are
            untouched. An option for issue 14's ackley5 W=16 cell: on seeds
            6000-6031 (W=16, 100 trials) ackley5's regret 0.88 of the default's
            (p = 0.008), but hartmann6's 1.17x by the median (paired p = 0.071), so
            not adopted; benchmarks/README.md ("ackley5 at W=16: recombining the
            good trials under the lag"). Re-measured in s21 for the record: over
            seeds 6000-6063 hartmann6 1.08 (p = 0.40), ackley5 0.886 (p = 0.0005);
            on 7000-7063 ackley5 W=16 @100 level with optuna (9.83 vs 9.33, p =
            0.5) ("a share of the candidates recombined"). s22's confirmation,
            rule set first (seeds 7064-7127, W=16 and 64): level with optuna on
            that cell, but decoy W=16 @100 1.56x the default (paired p = 0.036),
            so still not the default ("Confirming ``marginal_gate="count"``").
        marginal_share: While candidates are drawn per parameter (with
            ``marginal_draws``, or while ``marginal_gate`` holds), the share of each
            suggestion's ``n_ei_candidates`` drawn so (``round(marginal_share *
            n_ei_candidates)``, halves up); the others are whole-point draws (every
            parameter from one good component, as multivariate TPE draws), and the
            joint score picks among both kinds, so a recombined candidate is taken
            only where it scores better than copies of single good trials. 1.0 (the
            default): every candidate per parameter; 0.0: none (as without
            per-parameter draws). For issue 14's ackley5 W=16 cell, where
            recombining helps ackley5 and costs early hartmann6 and branin (good
            trials in different basins); benchmarks/README.md ("a share of the
            candidates recombined").
        keep_extremes: Several objectives only (MOTPE): when hypervolume subset
            selection splits a non-domination rank, the rank's best trial in each
            objective (the ends of the front) is in the good set first (see
            :mod:`~hpo_service.algorithms.motpe`); no effect on one objective.
        quantised_kernels: Kernel widths of the quantised parameters
            (``uniformint``, ``q*``): ``"same"`` (the ``bandwidth`` rule, as every
            numeric parameter); ``"gaps_above"``: in the bad density each kernel is
            as wide as the larger gap to its sorted neighbours (floored), as in
            Optuna 5's univariate Parzen estimator, so that a value tried many
            times gets kernels narrower than its bin and the bad density becomes a
            histogram of the values tried, where a shared Scott width spreads them
            over the neighbouring values; ``"gaps"``: the good density too.
            Continuous and categorical parameters are unchanged either way.
        continuous_kernels: Kernel widths of the continuous (not quantised)
            numeric parameters: ``"same"`` (the ``bandwidth`` rule); ``"gaps"``:
            in both densities each kernel is as wide as the larger gap to its
            sorted neighbours (floored by ``bandwidth_floor``), as in Optuna 5's
            univariate Parzen estimator, so that pending points in the bad density
            get narrow kernels of their own instead of the bad observations' shared
            width, and an isolated good trial a kernel reaching its neighbours
            (unlike ``bandwidth="scott_gap"``, a cluster's kernels are not kept at
            Scott's width or wider). Quantised and categorical parameters are
            unchanged (see ``quantised_kernels``).
        duplicate_losses: Several objectives only (MOTPE): ``"keep"`` (the paper's
            and Optuna's ranking) ranks a trial whose losses equal an earlier
            trial's exactly like that trial, so repeats of a Pareto-front point are
            non-dominated ties and all join the good set while the front fits in
            it; ``"last"`` counts each loss vector once: the first trial to give it
            is ranked as before among the first arrivals, and every later copy
            ranks after all first arrivals (so copies fill the good set only when
            too few distinct loss vectors exist). No effect on one objective.
        good_weights: Several objectives only (MOTPE): the weight of each good
            trial's kernel in the good density. ``"uniform"`` (the default, as in
            Optuna 5): 1 each. ``"copies"``: ``1 / c``, where ``c`` counts the
            finished trials whose loss vector equals the good trial's exactly (the
            trial itself included), so a front point that proposals keep
            reproducing (the same small tree from many configurations) draws less
            of the good density, and the rest of the front more. A loss vector
            given once weighs 1, so continuous problems, where exact copies do not
            occur, are unchanged. No effect on one objective.
    """

    n_startup_jobs: int = 10
    n_ei_candidates: int = 24
    ei_per_parameter: bool = False
    marginal_draws: bool = False
    gamma: float = 0.07
    below_rule: str = "share"
    max_below: int = 25
    prior_weight: float = 1.5
    multivariate: bool = True
    constant_liar: bool = True
    linear_forgetting: int = 25
    consider_endpoints: bool = False
    bandwidth: str = "scott"
    bandwidth_factor: float = 1.0
    bandwidth_floor: float = 0.3
    quantised_floor: float = 0.0
    log_floor: float = 0.0
    max_above_kernels: int = 256
    ignore_failures: bool = False
    liar_weight: float = 1.0
    liar_width: str = "good"
    liar_floor: float = 0.0
    pending_widen: float = 1.0
    max_widen: float = 2.0
    prior_gate: str = "count"
    marginal_gate: str = "none"
    marginal_share: float = 1.0
    whole_end_bins: bool = False
    branch_joint: bool = False
    avoid_repeats: str = "none"
    repeat_radius: float = 0.1
    keep_extremes: bool = False
    quantised_kernels: str = "same"
    continuous_kernels: str = "same"
    duplicate_losses: str = "keep"
    good_weights: str = "uniform"

    def __post_init__(self) -> None:
        for name in _COUNTS:  # 24.0 (JSON from a script) or numpy's 24 is the int 24
            value = getattr(self, name)
            if _is_whole(value):
                object.__setattr__(self, name, int(value))
        _check(_kind_rules(self), self)  # first: the range rules compare numbers
        rules = [
            ("n_startup_jobs", "n_startup_jobs >= 0", self.n_startup_jobs >= 0),
            ("n_ei_candidates", "n_ei_candidates >= 1", self.n_ei_candidates >= 1),
            ("gamma", "0 < gamma <= 1", 0.0 < self.gamma <= 1.0),
            ("max_below", "max_below >= 1", self.max_below >= 1),
            ("prior_weight", "prior_weight > 0", self.prior_weight > 0),
            (
                "linear_forgetting",
                "linear_forgetting >= 0",
                self.linear_forgetting >= 0,
            ),
            (
                "bandwidth",
                "bandwidth in ('scott', 'neighbour', 'scott_gap')",
                self.bandwidth in _RULES,
            ),
            ("bandwidth_factor", "bandwidth_factor > 0", self.bandwidth_factor > 0),
            ("bandwidth_floor", "bandwidth_floor > 0", self.bandwidth_floor > 0),
            ("quantised_floor", "quantised_floor >= 0", self.quantised_floor >= 0),
            ("log_floor", "log_floor >= 0", self.log_floor >= 0),
            ("liar_weight", "liar_weight > 0", self.liar_weight > 0),
            (
                "liar_width",
                "liar_width in ('above', 'good', 'gaps')",
                self.liar_width in _LIAR_WIDTHS,
            ),
            ("liar_floor", "liar_floor >= 0", self.liar_floor >= 0),
            (
                "liar_floor",
                "liar_floor == 0 or liar_width == 'gaps'",
                self.liar_floor == 0 or self.liar_width == "gaps",
            ),
            ("pending_widen", "pending_widen >= 0", self.pending_widen >= 0),
            (
                "avoid_repeats",
                "avoid_repeats in ('none', 'pending', 'all')",
                self.avoid_repeats in _repeats.CHOICES,
            ),
            (
                "prior_gate",
                "prior_gate in ('none', 'count')",
                self.prior_gate in _PRIOR_GATES,
            ),
            (
                "marginal_gate",
                "marginal_gate in ('none', 'count')",
                self.marginal_gate in _PRIOR_GATES,
            ),
            (
                "marginal_share",
                "0 <= marginal_share <= 1",
                0.0 <= self.marginal_share <= 1.0,
            ),
            ("repeat_radius", "repeat_radius >= 0", self.repeat_radius >= 0),
            (
                "quantised_kernels",
                "quantised_kernels in ('same', 'gaps_above', 'gaps')",
                self.quantised_kernels in _QUANTISED_KERNELS,
            ),
            (
                "continuous_kernels",
                "continuous_kernels in ('same', 'gaps')",
                self.continuous_kernels in _CONTINUOUS_KERNELS,
            ),
            (
                "duplicate_losses",
                "duplicate_losses in ('keep', 'last')",
                self.duplicate_losses in _DUPLICATE_LOSSES,
            ),
            (
                "good_weights",
                "good_weights in ('uniform', 'copies')",
                self.good_weights in _GOOD_WEIGHTS,
            ),
            (
                "below_rule",
                "below_rule in ('share', 'sqrt')",
                self.below_rule in _BELOW_RULES,
            ),
            ("max_widen", "max_widen >= 1", self.max_widen >= 1),
            (
                "max_above_kernels",
                "max_above_kernels >= 1",
                self.max_above_kernels >= 1,
            ),
        ]
        _check(rules, self)

    @classmethod
    def from_kwargs(cls, settings: Mapping[str, Any]) -> TPESettings:
        """Build settings from user keyword arguments, rejecting unknown names.

        Raises:
            TypeError: If a setting name is unknown.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise TypeError(
                f"`settings` must be among {sorted(known)}, but got unknown={unknown}"
                + did_you_mean_each(unknown, known)
            )
        return cls(**settings)


def _kind_rules(settings: TPESettings) -> list[tuple[str, str, bool]]:
    """``(name, rule, holds)``: switches are bools, counts ints, the rest finite
    numbers (``max_widen`` may be infinite: no cap)."""
    rules = []
    for name, value in vars(settings).items():
        if name in _SWITCHES:
            rules.append((name, f"{name} in (True, False)", isinstance(value, bool)))
        elif name in _COUNTS:
            rules.append((name, f"{name} is an int", type(value) is int))
        elif name not in _WORDS:
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
            ok = ok and (math.isfinite(value) or name == "max_widen")
            rules.append((name, f"{name} is a finite number", ok))
    return rules


def _is_whole(value: Any) -> bool:
    """Whether ``value`` is a whole number other than a bool (24, 24.0, numpy's)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return math.isfinite(value) and float(value).is_integer()


def _check(rules: list[tuple[str, str, bool]], settings: TPESettings) -> None:
    for name, rule, ok in rules:
        if not ok:
            value = getattr(settings, name)
            raise ValueError(f"`{rule}` must hold, but got {name}={value!r}")


@dataclass(frozen=True)
class _Group:
    conditions: tuple[Condition, ...]
    specs: tuple[ParamSpec, ...]
    layout: GroupLayout

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(s.label for s in self.specs)

    def is_active(self, chosen: Mapping[str, Any]) -> bool:
        return self.specs[0].is_active(chosen)


_GROUP_CACHE: dict[
    tuple[int, bool, bool, bool], tuple[CompiledSpace, list[_Group]]
] = {}


def _groups(
    space: CompiledSpace,
    multivariate: bool,
    whole_end_bins: bool = False,
    joint: bool = False,
) -> list[_Group]:
    """The groups of ``space`` in parents-first order (cached per space object)."""
    key = (id(space), multivariate, whole_end_bins, joint)
    cached = _GROUP_CACHE.get(key)
    if cached is not None and cached[0] is space:
        return cached[1]
    buckets: dict[Any, list[ParamSpec]] = {}
    for spec in space:
        bucket = spec.conditions if multivariate else spec.label
        buckets.setdefault(bucket, []).append(spec)
    shared = [s for s in space if not s.conditions and s.kind in ("uniform", "normal")]
    groups = []
    for specs in buckets.values():
        if joint and multivariate and specs[0].conditions:
            specs = specs + shared
        layout = GroupLayout(specs, whole_end_bins)
        groups.append(_Group(specs[0].conditions, tuple(specs), layout))
    if len(_GROUP_CACHE) > 32:
        _GROUP_CACHE.clear()
    _GROUP_CACHE[key] = (space, groups)
    return groups


def suggest_batch(
    space: CompiledSpace,
    history: History,
    pending: Sequence[Mapping[str, Any]],
    rng: np.random.Generator,
    settings: TPESettings,
    size: int = 1,
    pending_weights: Sequence[float] | None = None,
) -> list[dict[str, Any]]:
    """``size`` TPE suggestions from one fit of the densities.

    Each point takes the best of its own ``n_ei_candidates`` draws, so the points of
    one batch differ without refitting; ``size=1`` is the classic single suggestion.

    Args:
        space: The compiled search space.
        history: Finished trials.
        pending: Params of trials not finished yet (used as bad observations).
        rng: Random generator.
        settings: TPE settings.
        size: Number of points to draw from this fit.
        pending_weights: One weight per pending point, multiplying
            ``settings.liar_weight`` (and counted, not the number of points, in the
            good density's widening), or None: every point weighs 1.

    Returns:
        ``size`` params dicts holding the active parameters only.
    """
    chosen: list[dict[str, Any]] = [{} for _ in range(size)]
    draws: list[_repeats.GroupDraw] = []
    groups = _groups(
        space, settings.multivariate, settings.whole_end_bins, settings.branch_joint
    )
    for group in groups:
        rows = [i for i, point in enumerate(chosen) if group.is_active(point)]
        if not rows:
            continue
        n_ei = settings.n_ei_candidates
        if settings.ei_per_parameter:
            n_ei *= len(group.specs)
        good, bad = _models(group, history, pending, rng, settings, pending_weights)
        with_prior = _prior_draws(settings, pending, pending_weights)
        n_marginal = 0
        if _marginal(settings, pending, pending_weights):
            n_marginal = math.floor(settings.marginal_share * n_ei + 0.5)
        candidates = good.sample_blocks(
            rng, len(rows), n_ei - n_marginal, n_marginal, with_prior=with_prior
        )
        score = _log_ratio(good, bad, candidates)
        best = np.argmax(score.reshape(len(rows), n_ei), axis=1)
        for row, index in zip(rows, best + n_ei * np.arange(len(rows)), strict=True):
            chosen[row].update(group.layout.to_params(candidates, int(index)))
        if settings.avoid_repeats != "none":
            draws.append(_draw_record(group, rows, candidates, score, n_ei))
    if draws:
        _avoid_repeats(space, history, pending, settings, chosen, draws)
    return [{s.label: p[s.label] for s in space if s.label in p} for p in chosen]


def _prior_draws(
    settings: TPESettings,
    pending: Sequence[Mapping[str, Any]],
    pending_weights: Sequence[float] | None,
) -> bool:
    """Whether the good density's prior gets its share of the candidate draws:
    always with ``prior_gate="none"``; with ``"count"`` only while fewer than
    ``n_startup_jobs`` points (their weights summed) are pending."""
    return not _gate_holds(settings.prior_gate, settings, pending, pending_weights)


def _marginal(
    settings: TPESettings,
    pending: Sequence[Mapping[str, Any]],
    pending_weights: Sequence[float] | None,
) -> bool:
    """Whether candidates are drawn per parameter: with ``marginal_draws``, or
    while ``marginal_gate`` holds."""
    gate = _gate_holds(settings.marginal_gate, settings, pending, pending_weights)
    return settings.marginal_draws or gate


def _gate_holds(
    gate: str,
    settings: TPESettings,
    pending: Sequence[Mapping[str, Any]],
    pending_weights: Sequence[float] | None,
) -> bool:
    """Whether a ``"count"`` gate holds: at least ``n_startup_jobs`` points (their
    weights summed) are pending; ``"none"`` never holds."""
    if gate == "none":
        return False
    n_pending = len(pending) if pending_weights is None else sum(pending_weights)
    return n_pending > 0 and n_pending >= settings.n_startup_jobs


def _draw_record(
    group: _Group,
    rows: list[int],
    candidates: Candidates,
    score: np.ndarray,
    n_ei: int,
) -> _repeats.GroupDraw:
    """What :func:`_repeats.resolve` needs of one group's candidates."""

    def params(index: int) -> dict[str, Any]:
        return group.layout.to_params(candidates, index)

    scores = score.reshape(len(rows), n_ei)
    return _repeats.GroupDraw(group.labels, rows, params, scores, n_ei)


def _avoid_repeats(
    space: CompiledSpace,
    history: History,
    pending: Sequence[Mapping[str, Any]],
    settings: TPESettings,
    chosen: list[dict[str, Any]],
    draws: list[_repeats.GroupDraw],
) -> None:
    """``avoid_repeats``: re-pick rows of ``chosen`` that repeat a taken point."""
    include_finished = settings.avoid_repeats == "all"
    taken = _repeats.Taken(
        space, history, pending, settings.repeat_radius, include_finished
    )
    _repeats.resolve(chosen, draws, taken, _repeats.parent_labels(space))


def _models(
    group: _Group,
    history: History,
    pending: Sequence[Mapping[str, Any]],
    rng: np.random.Generator,
    settings: TPESettings,
    weights: Sequence[float] | None = None,
) -> tuple[ParzenEstimator, ParzenEstimator | _Mixture]:
    """The good (below) and bad (above plus pending points) densities of a group;
    ``weights``: the pending points' weights (None: all 1)."""
    below, above, liars = _split(group, history, pending, rng, settings, weights)
    n_pending = len(pending) if weights is None else float(sum(weights))
    options: dict[str, Any] = {
        "prior_weight": settings.prior_weight,
        "consider_endpoints": settings.consider_endpoints,
        "bandwidth_factor": settings.bandwidth_factor,
        "bandwidth_floor": _floor(group.layout, settings),
        "bandwidth": settings.bandwidth,
        "continuous_gaps": settings.continuous_kernels == "gaps",
    }
    widen = min(
        (1.0 + n_pending / max(len(history), 1)) ** settings.pending_widen,
        settings.max_widen,
    )
    good = ParzenEstimator(
        group.layout,
        *below,
        **{**options, "bandwidth_factor": settings.bandwidth_factor * widen},
        quantised_gaps=settings.quantised_kernels == "gaps",
    )
    options["quantised_gaps"] = settings.quantised_kernels != "same"
    if settings.liar_width in ("above", "gaps") or liars[0].shape[0] == 0:
        merged = [np.concatenate(p) for p in zip(above, liars, strict=True)]
        if settings.liar_width == "gaps" and liars[0].shape[0] > 0:
            options["gap_rows"] = np.arange(merged[0].shape[0]) >= above[0].shape[0]
            options["gap_floor"] = settings.liar_floor
        return good, ParzenEstimator(group.layout, *merged, **options)
    bad = ParzenEstimator(group.layout, *above, **options)
    narrow = good.sigmas[0] if good.sigmas.shape[0] > 1 else None
    near = ParzenEstimator(
        group.layout,
        *liars,
        **{
            **options,
            "prior_weight": 1e-9,
            "quantised_gaps": False,
            "continuous_gaps": False,
        },
        sigmas=narrow,
    )
    weight_bad = float(np.sum(above[2])) + settings.prior_weight
    return good, _Mixture([(weight_bad, bad), (float(np.sum(liars[2])), near)])


def _floor(layout: GroupLayout, settings: TPESettings) -> float | np.ndarray:
    """The bandwidth floor: one number, or one per numeric dimension of ``layout``
    when ``quantised_floor`` or ``log_floor`` gives those parameters their own."""
    quantised = settings.quantised_floor != 0 and layout.quantised.any()
    log = settings.log_floor != 0 and layout.log.any()
    if not (quantised or log):
        return settings.bandwidth_floor
    floor = np.full(layout.log.size, settings.bandwidth_floor)
    if quantised:
        floor[layout.quantised] = settings.quantised_floor
    if log:
        floor[layout.log] = np.maximum(
            np.where(layout.quantised, floor, 0.0), settings.log_floor
        )[layout.log]
    return floor


def _log_ratio(
    good: ParzenEstimator, bad: ParzenEstimator | _Mixture, candidates: Candidates
) -> np.ndarray:
    """``log l(x) - log g(x)`` per candidate, every density scored in one pass."""
    if isinstance(bad, ParzenEstimator):
        log_good, log_bad = _scoring.log_pdfs([good, bad], candidates)
        return log_good - log_bad
    log_good, *logs = _scoring.log_pdfs([good, *bad.densities], candidates)
    return log_good - bad.combine(logs)


class _Mixture:
    """A weighted mixture of densities (the bad observations and the pending points).

    Args:
        parts: ``(weight, density)`` pairs; weights are positive, any scale.
    """

    def __init__(self, parts: list[tuple[float, ParzenEstimator]]) -> None:
        total = sum(w for w, _ in parts)
        self.parts = [(math.log(w / total), d) for w, d in parts]

    @property
    def densities(self) -> list[ParzenEstimator]:
        """The mixed densities, in order."""
        return [d for _, d in self.parts]

    def log_pdf(self, candidates: Candidates) -> np.ndarray:
        """Log density of the mixture per candidate."""
        return self.combine(_scoring.log_pdfs(self.densities, candidates))

    def combine(self, logs: Sequence[np.ndarray]) -> np.ndarray:
        """The mixture's log density from its densities' (in :attr:`densities`
        order)."""
        return np.logaddexp.reduce(
            [lw + log for (lw, _), log in zip(self.parts, logs, strict=True)], axis=0
        )


_Observations = tuple[np.ndarray, np.ndarray, np.ndarray]


def _split(
    group: _Group,
    history: History,
    pending: Sequence[Mapping[str, Any]],
    rng: np.random.Generator,
    settings: TPESettings,
    weights: Sequence[float] | None = None,
) -> tuple[_Observations, _Observations, _Observations]:
    """Below (best ``gamma`` share) and above observations of the group's trials,
    and the pending points that activate the group (the constant liar's), weighted.

    Below kernels weigh 1 unless the history carries ``good_weights`` (MOTPE's
    ``good_weights="copies"``).
    """
    state = _rows.group_rows(history, group.labels, settings.ignore_failures)
    if settings.below_rule == "sqrt":
        below_rows = _study_below_rows(history, state, settings)
    else:
        n_active = state.count
        n_below = min(
            math.ceil(settings.gamma * n_active), settings.max_below, n_active
        )
        below_rows = _rows.below_rows(history, state, n_below)
    above_rows, above_weights = _rows.above_rows(
        state, below_rows, settings.linear_forgetting, settings.max_above_kernels, rng
    )
    numeric, options = _observed.observed(history, group.layout)
    below = numeric[below_rows], options[below_rows]
    above = numeric[above_rows], options[above_rows]
    good_weights = history.good_weights
    return (
        (
            *below,
            np.ones(below_rows.size)
            if good_weights is None
            else good_weights[below_rows],
        ),
        (*above, above_weights),
        _liars(group, pending, settings.liar_weight, weights),
    )


def _study_below_rows(
    history: History, state: _rows.GroupRows, settings: TPESettings
) -> np.ndarray:
    """``below_rule="sqrt"``: of the best ``ceil(gamma * sqrt(n))`` trials of the
    study (at most ``max_below``; ties to the earlier row, failed trials last), the
    rows in which the group is active, ascending."""
    n = len(history)
    n_best = min(math.ceil(settings.gamma * math.sqrt(n)), settings.max_below, n)
    best = _rows.study_best_rows(history, n_best, settings.ignore_failures)
    return np.intersect1d(best, state.active, assume_unique=True)


def _liars(
    group: _Group,
    pending: Sequence[Mapping[str, Any]],
    liar_weight: float,
    weights: Sequence[float] | None,
) -> _Observations:
    """The pending points that activate the group, as weighted observations."""
    if not pending:
        return (*group.layout.no_observations(), np.empty(0))
    pending_cols, active = _pending_columns(group, pending)
    liars = group.layout.observations(pending_cols)
    liar_weights = np.full(pending_cols[0].size, liar_weight)
    if weights is not None:
        liar_weights *= np.asarray(weights, dtype=float)[active]
    return (*liars, liar_weights)


def _pending_columns(
    group: _Group, pending: Sequence[Mapping[str, Any]]
) -> tuple[list[np.ndarray], np.ndarray]:
    """Values of the group's parameters in the pending points that activate it, and
    those points' indices in ``pending``."""
    labels = group.labels
    rows = [[p.get(label) for label in labels] for p in pending]
    active = [i for i, row in enumerate(rows) if None not in row]
    table = np.array([rows[i] for i in active], dtype=float)
    return list(table.reshape(len(active), len(labels)).T), np.array(active, dtype=int)


def sample_prior(space: CompiledSpace, rng: np.random.Generator) -> dict[str, Any]:
    """One draw from the prior of ``space`` (active parameters only).

    Args:
        space: The compiled search space.
        rng: Random generator.

    Returns:
        A params dict typed like :func:`suggest_batch`'s.
    """
    chosen: dict[str, Any] = {}
    for spec in space:
        if spec.is_active(chosen):
            chosen[spec.label] = _draw(spec, rng)
    return chosen


def _draw(spec: ParamSpec, rng: np.random.Generator) -> Any:
    if spec.kind == "choice":
        weights = np.asarray(spec.weights, dtype=float)
        return int(rng.choice(weights.size, p=weights / weights.sum()))
    if spec.kind == "randint":
        return int(rng.integers(int(spec.low), int(spec.high)))  # type: ignore[arg-type]
    if spec.kind == "uniform":
        value = rng.uniform(spec.low, spec.high)  # type: ignore[arg-type]
    else:
        value = rng.normal(spec.mu, spec.sigma)  # type: ignore[arg-type]
    return finish(spec, float(value))


__all__ = ["Candidates", "TPESettings", "sample_prior", "suggest_batch"]
