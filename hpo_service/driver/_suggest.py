"""The suggestion stream shared by in-process ``fmin`` and the study driver."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hpo_service.algorithms import Algorithm
from hpo_service.algorithms._history import History
from hpo_service.objective._result import losses_of, violation_of
from hpo_service.space import compile_space, space_eval, validate_params
from hpo_service.store._base import NewTrial

_logger = logging.getLogger(__name__)


class Suggester:
    """Feeds finished trials to an algorithm and turns its picks into new trials."""

    def __init__(self, space: Any, algorithm: Algorithm) -> None:
        self.space = space
        self.compiled = compile_space(space)
        self.history = History(self.compiled)
        self._algorithm = algorithm

    @property
    def labels(self) -> list[str]:
        """Every parameter label of the space."""
        return [spec.label for spec in self.compiled]

    def observe(
        self, params: Mapping[str, Any], result: Mapping[str, Any] | None
    ) -> None:
        """Record a finished trial; a failed one (no ok result) counts as a failure.

        A result whose number of losses differs from the earlier trials' (which the
        worker or ``fmin`` turns into an error trial) also counts as a failure.
        """
        if result is None:
            self.history.add(params, None)
            return
        losses = losses_of(result)
        expected = self.history.n_objectives
        if losses is not None and expected and len(losses) != expected:
            _logger.warning(
                "a result with %s losses counts as failed: the study has %s objectives",
                len(losses),
                expected,
            )
            losses = None
        self.history.add(params, losses, violation=violation_of(result))

    def suggest(
        self,
        rng: np.random.Generator,
        n: int = 1,
        pending: Sequence[Mapping[str, Any]] = (),
    ) -> list[NewTrial]:
        """Ask the algorithm for ``n`` new trials, treating ``pending`` as in flight."""
        self.history.set_pending(pending)
        picks = self._algorithm(self.compiled, self.history, rng, n)
        return [self.trial_for(params) for params in picks]

    def trial_for(self, params: Mapping[str, Any]) -> NewTrial:
        """A new trial for given params (validated), with its config evaluated."""
        params = dict(params)
        validate_params(self.compiled, params)
        return NewTrial(params=params, config=space_eval(self.space, params))
