"""Why a study stopped, and its budget, in the words its user set them with: the
flag as typed for ``hpo-driver start`` (``--max-evals 4 reached``), the keyword
argument for ``fmin`` (``max_evals=4 reached``), not the internal name of the stop
reason (``max_evals``).

One table, :data:`STOP_WORDS`, holds every reason's wording; ``hpo-driver start``'s
last lines, the error of the queued trials a stop cancels, the error of a study
that stopped before any trial finished and the error of a trial cancelled beyond
the budget all take theirs from here (no dependencies but the standard library,
so that the driver and the worker can both use it).
"""

from __future__ import annotations

from typing import Any, NamedTuple


class StopWords(NamedTuple):
    """How one stop reason is said."""

    phrase: str
    """The words; ``{setting}`` stands for the rule as it was set (see
    :func:`setting_said`)."""
    setting: str | None = None
    """The :class:`~hpo_service._common.settings.StudySettings` field of the rule,
    or None for a reason without a setting."""


FLAGS = {
    "max_evals": "--max-evals",
    "loss_threshold": "--loss-threshold",
    "timeout": "--timeout",
    "no_improvement": "--no-improvement",
}
"""The ``hpo-driver start`` flag of each setting that stops a study; ``fmin``'s
keyword argument is the setting's own name."""

STOP_WORDS: dict[str, StopWords] = {
    "max_evals": StopWords("{setting} reached", "max_evals"),
    "loss_threshold": StopWords("{setting} reached", "loss_threshold"),
    "timeout": StopWords("{setting} s ran out", "timeout"),
    "no_improvement": StopWords(
        "{setting} reached (finished trials without improvement)", "no_improvement"
    ),
    "early_stop": StopWords("early_stop_fn asked to stop"),
    "exhausted": StopWords("its search space was exhausted"),
    "cancelled": StopWords("`hpo-driver cancel`"),
}
"""Each reason a :class:`~hpo_service.driver._study_loop.Driver` stops for (its
``StudyOutcome.reason``), in words: ``max_evals`` (the budget finished),
``loss_threshold``, ``timeout`` and ``no_improvement`` (stop rules),
``early_stop`` (``fmin``'s ``early_stop_fn``), ``exhausted`` (the algorithm has no
new point, as grid search at the end of its grid) and ``cancelled``."""


def stop_said(reason: str, settings: Any, *, python: bool) -> str:
    """What stopped the study, in the words of how it was set.

    Args:
        reason: The driver's stop reason (a key of :data:`STOP_WORDS`).
        settings: The :class:`~hpo_service._common.settings.StudySettings` the run
            stopped under (the rule's value: trials for ``max_evals`` and
            ``no_improvement``, seconds for ``timeout``, a loss for
            ``loss_threshold``).
        python: Name ``fmin``'s keyword argument rather than the CLI flag.

    Returns:
        For example ``"--max-evals 4 reached"``, ``"--timeout 60 s ran out"`` or
        ``"loss_threshold=0.1 reached"``; a reason the table does not hold is
        returned as it is.
    """
    words = STOP_WORDS.get(reason)
    if words is None:
        return reason
    if words.setting is None:
        return words.phrase
    value = getattr(settings, words.setting)
    return words.phrase.format(
        setting=setting_said(words.setting, value, python=python)
    )


def setting_said(setting: str, value: Any, *, python: bool) -> str:
    """A setting as its user gave it: ``--max-evals 4`` (the CLI flag of
    :data:`FLAGS`) or ``max_evals=4`` (``fmin``'s argument).

    Args:
        setting: The setting's name, a key of :data:`FLAGS`.
        value: Its value (a number; None is shown as ``?``).
        python: Name ``fmin``'s keyword argument rather than the CLI flag.
    """
    shown = "?" if value is None else number_text(value)
    return f"{setting}={shown}" if python else f"{FLAGS[setting]} {shown}"


def setting_name(setting: str, *, python: bool) -> str:
    """``--max-evals`` (the CLI flag) or ``max_evals`` (``fmin``'s argument)."""
    return setting if python else FLAGS[setting]


def number_text(value: float) -> str:
    """A number as an option takes it back unchanged: ``600``, ``0.1``, ``-inf``."""
    if isinstance(value, int) or (abs(value) < 1e15 and value.is_integer()):
        return str(int(value))
    return repr(float(value))
