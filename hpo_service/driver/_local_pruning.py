"""Pruning for in-process ``fmin``: the pruner learns from the ``Trials`` docs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from hpo_service.algorithms.pruners import BasePruner, TrialProgress
from hpo_service.algorithms.pruners._ladder import (
    PruningLadder,
    last_step,
    pruning_ladder,
)
from hpo_service.objective._report import TrialContext, trial_context
from hpo_service.objective._result import STATUS_PRUNED
from hpo_service.store._base import TrialState
from hpo_service.trials import JOB_STATE_DONE, JOB_STATE_ERROR


class LocalPruning:
    """The pruner of one in-process ``fmin`` call, taught each finished trial doc.

    Trials run one at a time here, so a trial competes only with finished ones.

    Args:
        pruner: A fresh pruner.
        docs: Trial docs already finished (a resumed ``Trials``).
    """

    def __init__(self, pruner: BasePruner, docs: list[Mapping[str, Any]]) -> None:
        self.pruner = pruner
        for doc in docs:
            self.observe(doc)

    def observe(self, doc: Mapping[str, Any]) -> None:
        """Teach the pruner one finished trial doc (hyperopt-shaped)."""
        state = _state_of(doc)
        if state is not None:
            intermediate = {int(k): float(v) for k, v in doc_intermediate(doc).items()}
            self.pruner.observe(doc["tid"], state, intermediate)

    def ladder(self, docs: Iterable[Mapping[str, Any]]) -> PruningLadder | None:
        """What the pruner did to the finished trial docs ``docs`` (per rung, or
        where it pruned), or None for a pruner that stops nothing; its advice names
        the pruner's keyword arguments (the user is in Python)."""
        rows = [
            (doc["tid"], state.value, last_step(doc_intermediate(doc)))
            for doc in docs
            if (state := _state_of(doc)) is not None
        ]
        settings = self.pruner.settings()
        return pruning_ladder(self.pruner.name, settings, rows, python=True)

    @contextlib.contextmanager
    def running(self, tid: int) -> Iterator[tuple[TrialProgress, TrialContext]]:
        """Route the objective's reports for trial ``tid`` to the pruner.

        Yields:
            The trial's reports so far and its report context.
        """
        progress = TrialProgress(tid)

        def reporter(step: int, value: float) -> bool:
            progress.intermediate[step] = value
            return self.pruner.prune(progress, dict)  # nothing else runs meanwhile

        with trial_context(reporter) as context:
            yield progress, context


def doc_intermediate(doc: Mapping[str, Any]) -> Mapping[Any, Any]:
    """A trial doc's intermediate values (none for docs made elsewhere)."""
    return doc.get("intermediate") or {}


def _state_of(doc: Mapping[str, Any]) -> TrialState | None:
    if doc.get("state") == JOB_STATE_ERROR:
        return TrialState.ERROR
    if doc.get("state") != JOB_STATE_DONE:
        return None
    pruned = (doc.get("result") or {}).get("status") == STATUS_PRUNED
    return TrialState.PRUNED if pruned else TrialState.DONE
