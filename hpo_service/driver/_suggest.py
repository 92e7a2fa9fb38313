"""The suggestion stream shared by in-process ``fmin`` and the study driver."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo_service.algorithms import Algorithm, check, describe
from hpo_service.algorithms._history import History
from hpo_service.exceptions import SpaceCodeError, SpaceError
from hpo_service.objective._result import STATUS_PRUNED, losses_of, violation_of
from hpo_service.space import compile_space, space_eval, validate_params
from hpo_service.store._base import NewTrial

if TYPE_CHECKING:
    from hpo_service.algorithms.pruners import BasePruner

_logger = logging.getLogger(__name__)

PRUNED_RULES = ("last", "failure", "ignore")
"""How a pruned trial enters the history the algorithm learns from.

``"last"`` (the default): as an observation whose loss is the last value it reported.
``"failure"``: as a failed trial (TPE counts it among the worst).
``"ignore"``: not at all (only done and failed trials are learned from).
See ``benchmarks/README.md`` ("What TPE learns from pruned trials") for the comparison.
"""


SURVIVOR_WEIGHT = 0.25
"""Liar weight of a pruner's survivor (see :func:`survivor_weights`), relative to a
full constant-liar point: it still repels candidates at and next to a running
survivor (no duplicates on a grid) but barely the region around it.
Measured in ``benchmarks/README.md`` ("Survivors as weaker liars")."""


def liar_pending(
    pending: Mapping[int, Mapping[str, Any]],
    reports: Mapping[int, Mapping[int, float]],
    pruner: BasePruner | None,
) -> dict[int, Mapping[str, Any]]:
    """The pending trials left when a pruner's survivors are left out entirely.

    A survivor is a running trial whose reports reached the pruner's first decision
    step (:meth:`~hpo_service.algorithms.pruners.BasePruner.first_decision`), so was
    judged and kept. This was the driver's rule before :func:`survivor_weights`
    (which keeps survivors as weaker liars); ``benchmarks/pruning.py`` still
    measures it as ``pending=survivors`` ("Running trials under a pruner" in
    ``benchmarks/README.md``).

    Args:
        pending: Queued and running trials' params, by tid.
        reports: Running trials' reports, ``{tid: {step: value}}``
            (:meth:`~hpo_service.store.BaseTrialStore.running_intermediate`).
        pruner: The study's pruner, or None (every pending trial counts).

    Returns:
        The pending trials' params to pass on, by tid, in ``pending``'s order.
    """
    if pruner is None:
        return dict(pending)
    return {t: p for t, p in pending.items() if not _is_survivor(t, reports, pruner)}


def survivor_weights(
    pending: Mapping[int, Mapping[str, Any]],
    reports: Mapping[int, Mapping[int, float]],
    pruner: BasePruner | None,
    weight: float,
) -> dict[int, float]:
    """Each pending trial's liar weight: ``weight`` for a pruner's survivor (as in
    :func:`liar_pending`), 1.0 for every other pending trial.

    TPE's constant liar counts a pending point as a bad observation. A survivor's
    reports say the opposite, and as survivors run the longest, full liars at them
    keep TPE away from the regions doing best for most of the study; no liar at all
    lets TPE propose a running survivor's configuration again (a wasted duplicate
    on a grid). A light liar with the good density's kernel width repels
    candidates at and next to the survivor and barely elsewhere. Optuna's
    ``TPESampler(constant_liar=True)`` counts every running trial among its bad
    ones. Measured in ``benchmarks/README.md`` ("Survivors as weaker liars").

    Args:
        pending: Queued and running trials' params, by tid.
        reports: Running trials' reports, ``{tid: {step: value}}``.
        pruner: The study's pruner, or None (every weight is 1.0).
        weight: A survivor's weight relative to a full liar (0 < weight <= 1).

    Returns:
        ``{tid: weight}`` in ``pending``'s order.

    Raises:
        ValueError: ``weight`` is not in (0, 1].
    """
    if not 0 < weight <= 1:
        raise ValueError(f"`0 < weight <= 1` must hold, but got weight={weight!r}")
    return {
        t: weight if pruner and _is_survivor(t, reports, pruner) else 1.0
        for t in pending
    }


def _is_survivor(
    tid: int, reports: Mapping[int, Mapping[int, float]], pruner: BasePruner
) -> bool:
    first, steps = pruner.first_decision(tid), reports.get(tid)
    return first is not None and bool(steps) and max(steps) >= first


class Suggester:
    """Feeds finished trials to an algorithm and turns its picks into new trials.

    Args:
        space: The search space.
        algorithm: The suggest function.
        pruned_rule: How pruned trials are learned from, one of :data:`PRUNED_RULES`.
        groups: Maps a tid to its sampling group (Hyperband's bracket), or None.
            With groups, :meth:`suggest_for` draws each trial's params from the
            trials of its own group only (finished and pending), as Optuna's TPE does
            under its ``HyperbandPruner``; ``history`` still holds every trial.

    Raises:
        SpaceError: The space is invalid, or does not suit the algorithm (grid
            search and continuous parameters).
        ValueError: One of hpo-service's algorithms was given settings it does not
            accept, or ``pruned_rule`` is unknown.
    """

    def __init__(
        self,
        space: Any,
        algorithm: Algorithm,
        *,
        pruned_rule: str = "last",
        groups: Callable[[int], int] | None = None,
    ) -> None:
        if pruned_rule not in PRUNED_RULES:
            raise ValueError(
                f"`pruned_rule` must be one of {', '.join(PRUNED_RULES)}, but got "
                f"pruned_rule={pruned_rule!r}"
            )
        self.space = space
        self.compiled = compile_space(space)
        self.history = History(self.compiled)
        _check_algorithm(algorithm, self.compiled)
        self._algorithm = algorithm
        self._pruned_rule = pruned_rule
        self._groups = groups
        self._group_histories: dict[int, History] = {}

    @property
    def labels(self) -> list[str]:
        """Every parameter label of the space."""
        return [spec.label for spec in self.compiled]

    def observe(
        self,
        params: Mapping[str, Any],
        result: Mapping[str, Any] | None,
        *,
        tid: int | None = None,
    ) -> None:
        """Record a finished trial; a failed one (no ok result) counts as a failure.

        A pruned trial (result status ``"pruned"``) is recorded by the pruned rule: by
        default with its last reported value as its loss, so a trial stopped early at
        a poor value is evidence of a poor region, as a bad completed trial is (with
        several objectives, one reported value is no loss vector: it counts as a
        failure). A result whose number of losses differs from the earlier trials'
        (which the worker or ``fmin`` turns into an error trial) counts as a failure.
        """
        entry = self._entry(result)
        if entry is None:
            return
        losses, violation = entry
        # A pruned trial's one value counts only if the study has one objective,
        # which may be unknown yet (no trial succeeded): it does not decide it.
        provisional = result is not None and result.get("status") == STATUS_PRUNED
        self.history.add(params, losses, violation=violation, provisional=provisional)
        if self._groups is not None and tid is not None:
            group = self._group_history(self._groups(tid))
            group.add(params, losses, violation=violation, provisional=provisional)

    def _entry(
        self, result: Mapping[str, Any] | None
    ) -> tuple[float | list[float] | None, float] | None:
        """``(loss or losses, violation)`` to record for ``result``; None: skip it."""
        if result is not None and result.get("status") == STATUS_PRUNED:
            if self._pruned_rule == "ignore":
                return None
            last = result.get("loss") if self._pruned_rule == "last" else None
            if self.history.n_objectives > 1 or isinstance(last, list | tuple):
                last = None
            return (None if last is None else float(last)), 0.0
        if result is None:
            return None, 0.0
        losses = losses_of(result)
        expected = self.history.n_objectives
        if losses is not None and expected and len(losses) != expected:
            _logger.warning(
                "a result with %s losses counts as failed: the study has %s objectives",
                len(losses),
                expected,
            )
            losses = None
        return losses, violation_of(result)

    def _group_history(self, group: int) -> History:
        if group not in self._group_histories:
            self._group_histories[group] = History(self.compiled)
        return self._group_histories[group]

    def suggest_for(
        self,
        rng: np.random.Generator,
        tids: Sequence[int],
        pending: Mapping[int, Mapping[str, Any]],
        weights: Mapping[int, float] | None = None,
    ) -> list[NewTrial]:
        """New trials for the given tids, treating ``pending`` (tid -> params) as
        in flight, each with its liar weight in ``weights`` (tid -> weight; None:
        all 1, see :meth:`.History.set_pending`).

        Without groups this is :meth:`suggest` for ``len(tids)`` trials. With groups,
        each group's trials are drawn (in one batch per group) from that group's
        history and pending trials only.
        """
        if self._groups is None:
            listed = None if weights is None else [weights[t] for t in pending]
            return self.suggest(rng, len(tids), list(pending.values()), listed)
        by_group: dict[int, list[int]] = {}
        for tid in tids:
            by_group.setdefault(self._groups(tid), []).append(tid)
        picks: dict[int, dict[str, Any]] = {}
        for group, members in sorted(by_group.items()):
            history = self._group_history(group)
            mine = [t for t in pending if self._groups(t) == group]
            history.set_pending(
                [pending[t] for t in mine],
                None if weights is None else [weights[t] for t in mine],
            )
            chosen = self._algorithm(self.compiled, history, rng, len(members))
            for tid, params in zip(members, chosen, strict=True):
                picks[tid] = validate_params(self.compiled, params)
        return [
            NewTrial(params=picks[tid], config=self.config(picks[tid])) for tid in tids
        ]

    def suggest(
        self,
        rng: np.random.Generator,
        n: int = 1,
        pending: Sequence[Mapping[str, Any]] = (),
        weights: Sequence[float] | None = None,
    ) -> list[NewTrial]:
        """Ask the algorithm for ``n`` new trials, treating ``pending`` as in flight
        (with liar ``weights``, one per pending point; None: all 1)."""
        return [
            NewTrial(params=params, config=self.config(params))
            for params in self.suggest_params(rng, n, pending, weights)
        ]

    def config(self, params: dict[str, Any], point: str = "sampled point") -> Any:
        """The config the space makes of ``params`` (a point already validated).

        Raises:
            SpaceCodeError: The space's own code raised for this point (a
                ``scope`` function dividing by zero at some values, say), from
                the original error; only the evaluation of the user's space is
                caught here, so that an algorithm's bug still shows as itself.
        """
        try:
            return space_eval(self.space, params)
        except Exception as e:
            raise SpaceCodeError(dict(params), e, point=point) from e

    def numbered_params(
        self,
        seed: int,
        start: int,
        n: int = 1,
        pending: Sequence[Mapping[str, Any]] = (),
        weights: Sequence[float] | None = None,
    ) -> list[dict[str, Any]]:
        """Params for the study's trials number ``start`` to ``start + n - 1``,
        configs not evaluated (the driver evaluates each on its own: a space that
        raises for one point then ends that point's trial only).

        The batch is drawn from ``default_rng([seed, start])``. An algorithm whose
        ``suggest`` has ``independent_points`` set (random search) draws its ``i``-th
        point from ``default_rng([seed, start + i])`` instead, so that a seed gives
        the same points however the driver batches them (as hyperopt's
        ``MongoTrials`` with ``rand.suggest``).
        """
        if not _flagged(self._algorithm, "independent_points"):
            rng = np.random.default_rng([seed, start])
            return self.suggest_params(rng, n, pending, weights)
        rngs = (np.random.default_rng([seed, start + i]) for i in range(n))
        return [
            params
            for rng in rngs
            for params in self.suggest_params(rng, 1, pending, weights)
        ]

    def suggest_params(
        self,
        rng: np.random.Generator,
        n: int = 1,
        pending: Sequence[Mapping[str, Any]] = (),
        weights: Sequence[float] | None = None,
    ) -> list[dict[str, Any]]:
        """The algorithm's next ``n`` params (validated), configs not evaluated."""
        self.history.set_pending(pending, weights)
        picks = self._algorithm(self.compiled, self.history, rng, n)
        return [validate_params(self.compiled, params) for params in picks]

    def suggest_seeded(
        self,
        seed: int,
        tids: Sequence[int],
        pending: Sequence[Mapping[str, Any]] = (),
    ) -> list[dict[str, Any]]:
        """Params for ``tids`` from one seed, drawn as hyperopt's ``fmin`` does.

        Algorithms whose ``suggest`` has ``seed_per_tid`` set (hyperopt's anneal)
        get ``default_rng(seed + tid)`` for each point; others get
        ``default_rng(seed)`` for the batch.
        """
        if not _seeds_per_tid(self._algorithm):
            return self.suggest_params(np.random.default_rng(seed), len(tids), pending)
        new: list[dict[str, Any]] = []
        for tid in tids:
            rng = np.random.default_rng(seed + tid)
            new += self.suggest_params(rng, 1, [*pending, *new])
        return new

    def trial_for(self, params: Mapping[str, Any], point: str = "point") -> NewTrial:
        """A new trial for given params (validated), with its config evaluated.

        Raises:
            SpaceError: A label is unknown, an active one missing, an inactive one
                given, or a value is outside the space.
            SpaceCodeError: The space's own code raised for this ``point``
                (``"point"``, given by the user, or ``"sampled point"``).
        """
        params = validate_params(self.compiled, params)
        return NewTrial(params=params, config=self.config(params, point))

    def point_trial(
        self, params: Mapping[str, Any], point: str = "point"
    ) -> tuple[NewTrial, bool]:
        """A trial for a user's point, and whether it is valid in the space.

        As hyperopt does, a point that the space cannot produce (a value out of
        range) is still evaluated as given, with a warning; the caller then keeps it
        from the algorithm's history.

        Raises:
            SpaceError: The point cannot be evaluated (an active label is missing or
                a choice index is invalid).
            SpaceCodeError: The space's own code raised for this ``point`` (see
                :meth:`trial_for`).
        """
        try:
            return self.trial_for(params, point), True
        except SpaceCodeError:
            raise
        except SpaceError as e:
            config = space_eval(self.space, params)
            _logger.warning(
                "point %s is outside the space (%s): evaluated as given, not learnt "
                "from",
                dict(params),
                e,
            )
            return NewTrial(params=dict(params), config=config), False

    def is_valid(self, params: Mapping[str, Any]) -> bool:
        """Whether ``params`` is a point the space can produce."""
        return self.why_invalid(params) is None

    def why_invalid(self, params: Mapping[str, Any]) -> str | None:
        """Why the space cannot produce ``params`` (a ``SpaceError``'s text), or
        None when it can."""
        try:
            validate_params(self.compiled, params)
        except SpaceError as e:
            return str(e)
        return None


#: What a stored config must be, in the words of each refusal.
STORABLE = "every store can hold (JSON values, integers within 64 bits)"


def check_storable(trials: Sequence[NewTrial]) -> None:
    """Refuse suggested ``trials`` whose config a store cannot hold (what a study
    driver queues; in process, ``fmin`` keeps any config): a space may make one of
    some points only (``x ** 0.5`` is a complex number at a negative ``x``).

    One rule on every backend (:func:`~hpo_service.store._common.storable`): JSON
    can hold the config and each integer in it fits in 64 bits (MongoDB's limit).

    Raises:
        SpaceError: A config breaks that rule, naming its params and the value
            made (a store's own refusal names neither the space nor, on SQLite,
            ends without a traceback).
    """
    from hpo_service.store._common import dumps

    for trial in trials:
        try:  # storable() without decoding the text back: only its refusal counts
            dumps(trial.config, "config")
        except ValueError as e:
            raise SpaceError(
                f"the space must make a config {STORABLE} of every point it "
                f"gives (the study stores each one), but of params "
                f"{trial.params!r:.120} it made {trial.config!r:.120}"
            ) from e


def _seeds_per_tid(algorithm: Algorithm) -> bool:
    return _flagged(algorithm, "seed_per_tid")


def _flagged(algorithm: Algorithm, flag: str) -> bool:
    """Whether ``algorithm`` (or the function a partial wraps) sets ``flag``."""
    while isinstance(algorithm, functools.partial):
        algorithm = algorithm.func
    return bool(getattr(algorithm, flag, False))


def _check_algorithm(algorithm: Algorithm, compiled: Any) -> None:
    """Check one of our algorithms' settings and space fit (not a user's own)."""
    try:
        name, settings = describe(algorithm)
    except ValueError:
        return
    check(name, settings, compiled)
