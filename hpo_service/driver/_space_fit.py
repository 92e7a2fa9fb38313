"""Whether trials already run are points of the space a search resumes with.

A search resumed with a changed space (a label added or removed) holds trials the
space cannot evaluate: a trial that lacks an active label has no config in it, one
that holds a label the space no longer has was measured with a parameter the space
cannot set. In process such a resume is refused at its start (hyperopt refuses it
too, with a KeyError on the new label); a study resumed with ``override=True`` keeps
them, and ``fmin`` returns the best trial among those that fit.

Values out of a parameter's range do not count: a point to evaluate may lie outside
the space and is still evaluated as given, as in hyperopt.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hpo_service.exceptions import AllTrialsFailed, SpaceError
from hpo_service.space._spec import CompiledSpace
from hpo_service.trials import JOB_STATE_DONE, JOB_STATE_ERROR

_logger = logging.getLogger(__name__)

_FINISHED = (JOB_STATE_DONE, JOB_STATE_ERROR)


def label_mismatch(
    compiled: CompiledSpace, params: Mapping[str, Any]
) -> tuple[list[str], list[str]]:
    """The labels ``params`` lacks and the labels it holds that the space has not.

    Args:
        compiled: The space, from ``compile_space``.
        params: A trial's ``{label: value}`` (active params only).

    Returns:
        ``(added, dropped)``: active labels of the space missing from ``params`` (in
        the space's order), and labels of ``params`` the space has not (sorted).
        Both empty when the space can evaluate ``params``.
    """
    dropped = sorted(set(params) - set(compiled.by_label))
    added: list[str] = []
    seen: dict[str, Any] = {}
    for spec in compiled:
        if not spec.is_active(seen):
            continue
        if spec.label in params:
            seen[spec.label] = params[spec.label]
        else:
            added.append(spec.label)
    return added, dropped


@dataclass
class Misfits:
    """The finished trials that do not fit a space, and the labels why."""

    tids: list[int] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def take(self, tid: int, added: Sequence[str], dropped: Sequence[str]) -> None:
        """Note trial ``tid``, which lacks ``added`` and holds ``dropped``."""
        self.tids.append(tid)
        self.added += [label for label in added if label not in self.added]
        self.dropped += [label for label in dropped if label not in self.dropped]

    def labels(self) -> str:
        """``"lack label 'y' that this space adds, and hold 'z' that it has
        not"``: the difference, for a message."""
        parts = []
        if self.added:
            parts.append(f"lack {_labels(self.added)}, which this space adds")
        if self.dropped:
            parts.append(f"hold {_labels(self.dropped)}, which this space has not")
        return " and ".join(parts)


def misfits(compiled: CompiledSpace, docs: Iterable[Mapping[str, Any]]) -> Misfits:
    """The finished trial dicts (done or error) among ``docs`` that the space
    cannot evaluate (see :func:`label_mismatch`)."""
    found = Misfits()
    for doc in docs:
        if doc["state"] not in _FINISHED:
            continue
        added, dropped = label_mismatch(compiled, params_of(doc))
        if added or dropped:
            found.take(doc["tid"], added, dropped)
    return found


def params_of(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A trial dict's active params, ``{label: value}``."""
    return {k: v[0] for k, v in doc["misc"]["vals"].items() if len(v)}


def refuse_other_space(
    compiled: CompiledSpace, docs: Sequence[Mapping[str, Any]]
) -> None:
    """Refuse to resume in-process ``Trials`` run with another space.

    Raises:
        SpaceError: A finished trial lacks an active label of the space, or holds a
            label the space has not; the message names the labels and what to do.
    """
    found = misfits(compiled, docs)
    if not found.tids:
        return
    finished = sum(1 for doc in docs if doc["state"] in _FINISHED)
    raise SpaceError(
        "`trials` must hold trials of this space to resume a search, but "
        f"{len(found.tids)} of its {finished} finished trials {found.labels()} "
        f"(trial {found.tids[0]} first): they were run with another space. Pass "
        "the space they were run with, or a new Trials() for this one; to keep "
        "them and go on with the new space, run the study on a store "
        "(StoreTrials(..., override=True))"
    )


def fitting_trials(compiled: CompiledSpace, trials: Any) -> list[dict[str, Any]] | None:
    """The trials a resumed study's best may come from: those the space can
    evaluate, when some finished ones cannot (a study resumed with
    ``override=True`` after a change of its space); None when all can.

    Args:
        compiled: The space ``fmin`` ran with, from ``compile_space``.
        trials: A ``Trials`` or ``StoreTrials`` (``trials.trials``, hyperopt's
            dicts, and ``_dynamic_trials``, error ones included).

    Returns:
        The dicts of ``trials.trials`` that fit, after a warning saying how many
        finished trials do not and why; None if every one fits.

    Raises:
        AllTrialsFailed: No finished trial fits the space, so no best trial can
            be evaluated in it.
    """
    found = misfits(compiled, trials._dynamic_trials)
    if not found.tids:
        return None
    finished = [d for d in trials._dynamic_trials if d["state"] in _FINISHED]
    fit = [d for d in trials.trials if d["tid"] not in set(found.tids)]
    if not any(d["state"] in _FINISHED for d in fit):
        raise AllTrialsFailed(
            f"none of the {len(finished)} finished trials is a point of this space "
            f"(they {found.labels()}), so there is no best trial this space can "
            "evaluate: give a larger max_evals to run trials of this space"
        )
    _logger.warning(
        "%s of the %s finished trials %s (trial %s first): they were run with the "
        "space before the override, so the best is the best of the %s that this "
        "space can evaluate",
        len(found.tids), len(finished), found.labels(), found.tids[0],
        len(finished) - len(found.tids),
    )  # fmt: skip
    return fit


def _labels(labels: Sequence[str]) -> str:
    shown = ", ".join(repr(label) for label in labels)
    return f"label{'s' if len(labels) > 1 else ''} {shown}"
