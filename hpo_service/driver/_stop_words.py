"""Why a study stopped, in the words its user set the rule with: the flag as typed
for ``hpo-driver start`` (``--max-evals 4 reached``), the argument for ``fmin``
(``max_evals=4 reached``), not the stop reason's internal name (``max_evals``).

One table, :data:`STOP_WORDS`, holds every reason's wording; ``hpo-driver start``'s
last lines, the error of the queued trials a stop cancels and the error of a study
that stopped before any trial finished all take theirs from :func:`stop_said`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from hpo_service._common.settings import StudySettings


class StopWords(NamedTuple):
    """How one stop reason is said; ``{value}`` stands for the rule's setting."""

    cli: str
    """For ``hpo-driver start``: the flag as typed."""
    python: str
    """For ``fmin``: the keyword argument."""
    setting: str | None = None
    """The :class:`~hpo_service._common.settings.StudySettings` field giving
    ``{value}``, or None for a reason without a setting."""


STOP_WORDS: dict[str, StopWords] = {
    "max_evals": StopWords(
        "--max-evals {value} reached", "max_evals={value} reached", "max_evals"
    ),
    "loss_threshold": StopWords(
        "--loss-threshold {value} reached",
        "loss_threshold={value} reached",
        "loss_threshold",
    ),
    "timeout": StopWords(
        "--timeout {value} s ran out", "timeout={value} s ran out", "timeout"
    ),
    "no_improvement": StopWords(
        "--no-improvement {value} reached (finished trials without improvement)",
        "no_improvement={value} reached (finished trials without improvement)",
        "no_improvement",
    ),
    "early_stop": StopWords(
        "early_stop_fn asked to stop", "early_stop_fn asked to stop"
    ),
    "exhausted": StopWords(
        "its search space was exhausted", "its search space was exhausted"
    ),
    "cancelled": StopWords("`hpo-driver cancel`", "`hpo-driver cancel`"),
}
"""Each reason a :class:`~hpo_service.driver._study_loop.Driver` stops for (its
``StudyOutcome.reason``), in words: ``max_evals`` (the budget finished),
``loss_threshold``, ``timeout`` and ``no_improvement`` (stop rules),
``early_stop`` (``fmin``'s ``early_stop_fn``), ``exhausted`` (the algorithm has no
new point, as grid search at the end of its grid) and ``cancelled``."""


def stop_said(reason: str, settings: StudySettings, *, python: bool) -> str:
    """What stopped the study, in the words of how it was set.

    Args:
        reason: The driver's stop reason (a key of :data:`STOP_WORDS`).
        settings: The settings the run stopped under (the rule's value: trials for
            ``max_evals`` and ``no_improvement``, seconds for ``timeout``, a loss
            for ``loss_threshold``).
        python: Name ``fmin``'s keyword argument rather than the CLI flag.

    Returns:
        For example ``"--max-evals 4 reached"``, ``"--timeout 60 s ran out"`` or
        ``"loss_threshold=0.1 reached"``; a reason the table does not hold is
        returned as it is.
    """
    words = STOP_WORDS.get(reason)
    if words is None:
        return reason
    template = words.python if python else words.cli
    value = None if words.setting is None else getattr(settings, words.setting)
    return template.format(value="?" if value is None else number_text(value))


def number_text(value: float) -> str:
    """A number as an option takes it back unchanged: ``600``, ``0.1``, ``-inf``."""
    if isinstance(value, int) or (abs(value) < 1e15 and value.is_integer()):
        return str(int(value))
    return repr(float(value))
