"""Whether trials already run are points of the space a search resumes with.

A search resumed with a changed space (a label added or removed) holds trials the
space cannot evaluate: a trial that lacks an active label has no config in it, one
that holds a label the space no longer has was measured with a parameter the space
cannot set, and a choice index the space has no option for has no config either. In
process such a resume is refused at its start (hyperopt refuses it
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
) -> tuple[list[str], list[str], list[str]]:
    """The labels ``params`` lacks or holds that the space has not, and the choices
    whose index in ``params`` is no option of the space.

    Args:
        compiled: The space, from ``compile_space``.
        params: A trial's ``{label: value}`` (active params only).

    Returns:
        ``(added, dropped, choices)``: active labels of the space missing from
        ``params`` (in the space's order), labels of ``params`` the space has not
        (sorted), and choices whose index is not one of their options (a choice
        with fewer options now). All empty when the space can evaluate ``params``.
    """
    dropped = sorted(set(params) - set(compiled.by_label))
    added: list[str] = []
    choices: list[str] = []
    seen: dict[str, Any] = {}
    for spec in compiled:
        if not spec.is_active(seen):
            continue
        if spec.label not in params:
            added.append(spec.label)
            continue
        value = seen[spec.label] = params[spec.label]
        if spec.kind == "choice" and value not in range(spec.n_options):
            choices.append(spec.label)
    return added, dropped, choices


@dataclass
class Misfits:
    """The finished trials that do not fit a space, and the labels why."""

    tids: list[int] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    choices: list[str] = field(default_factory=list)

    def take(self, tid: int, mismatch: tuple[list[str], list[str], list[str]]) -> None:
        """Note trial ``tid`` and its :func:`label_mismatch`."""
        self.tids.append(tid)
        for mine, theirs in zip(
            (self.added, self.dropped, self.choices), mismatch, strict=True
        ):
            mine += [label for label in theirs if label not in mine]

    def labels(self) -> str:
        """``"lack label 'y', which this space adds and hold label 'z', which this
        space has not"``: the difference, for a message."""
        parts = []
        if self.added:
            parts.append(f"lack {_labels(self.added)}, which this space adds")
        if self.dropped:
            parts.append(f"hold {_labels(self.dropped)}, which this space has not")
        if self.choices:
            parts.append(
                f"hold an option index that {_labels(self.choices, 'choice')} of "
                "this space has not"
            )
        return " and ".join(parts)


def misfits(compiled: CompiledSpace, docs: Iterable[Mapping[str, Any]]) -> Misfits:
    """The finished trial dicts (done or error) among ``docs`` that the space
    cannot evaluate (see :func:`label_mismatch`)."""
    found = Misfits()
    for doc in docs:
        if doc["state"] not in _FINISHED:
            continue
        mismatch = label_mismatch(compiled, params_of(doc))
        if any(mismatch):
            found.take(doc["tid"], mismatch)
    return found


def params_of(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A trial dict's active params, ``{label: value}``."""
    return {k: v[0] for k, v in doc["misc"]["vals"].items() if len(v)}


def refuse_other_space(
    compiled: CompiledSpace, docs: Sequence[Mapping[str, Any]]
) -> None:
    """Refuse to resume in-process ``Trials`` run with another space.

    Raises:
        SpaceError: A finished trial lacks an active label of the space, holds a
            label the space has not, or holds a choice index that is no option of
            it; the message names the labels and what to do.
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
        trials: A ``Trials`` or ``StoreTrials`` (its ``_dynamic_trials``, hyperopt's
            dicts, error ones included).

    Returns:
        The dicts of ``trials._dynamic_trials`` that fit (error ones included: a
        trial of this space that raised is one of them), after a warning saying
        how many finished trials do not and why; None if every one fits.

    Raises:
        AllTrialsFailed: No finished trial fits the space, so no best trial can
            be evaluated in it.
    """
    docs = trials._dynamic_trials  # a StoreTrials reads its store for each
    found = misfits(compiled, docs)
    if not found.tids:
        return None
    finished = sum(1 for d in docs if d["state"] in _FINISHED)
    if len(found.tids) == finished:
        raise AllTrialsFailed(
            f"none of the {finished} finished trials is a point of this space "
            f"(they {found.labels()}), so there is no best trial this space can "
            "evaluate: give a larger max_evals to run trials of this space"
        )
    _logger.warning(
        "%s of the %s finished trials %s (trial %s first): they were run with the "
        "space before the override, so the best is the best of the %s that this "
        "space can evaluate",
        len(found.tids), finished, found.labels(), found.tids[0],
        finished - len(found.tids),
    )  # fmt: skip
    misfit = set(found.tids)
    return [d for d in docs if d["tid"] not in misfit]


def _labels(labels: Sequence[str], noun: str = "label") -> str:
    shown = ", ".join(repr(label) for label in labels)
    return f"{noun}{'s' if len(labels) > 1 else ''} {shown}"
