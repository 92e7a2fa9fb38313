"""The words every count of a study's trials is shown in: ``done`` trials
succeeded (status ``ok``), ``failed`` ones returned status ``fail``.

The store keeps both in state ``done`` (``hpo-driver trials --state done`` lists
both; ``--status fail`` the failed ones). ``hpo-driver start``'s end line, its
progress line and the worker's last line had split them, while ``hpo-driver
status``, the report and the dashboard showed ``done=29`` for a study the driver
had ended with "23 done, 6 failed". Each of them now shows the counts of
:func:`outcome_counts`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

FAILED = "failed"
"""The key of the trials that returned status ``fail`` in :func:`outcome_counts`."""


def outcome_counts(counts: Mapping[str, int], failed: int) -> dict[str, int]:
    """``counts`` by state with ``done`` split: ``done`` (status ok) is followed by
    ``failed`` (status fail), the other states as given.

    Args:
        counts: Trials per state value (``{"done": 29, "error": 1, ...}``), in the
            order to show them; ``done`` holds the failed trials.
        failed: Trials among ``done`` whose objective returned status ``fail``.

    Returns:
        The counts to show, e.g. ``{"done": 23, "failed": 6, "error": 1, ...}``;
        ``failed`` is there whenever ``done`` is (0 or not).

    Raises:
        ValueError: ``failed`` is negative or more than ``counts["done"]``.
    """
    done = counts.get("done", 0)
    if not 0 <= failed <= done:
        raise ValueError(
            f"`0 <= failed <= done` must hold, but got failed={failed}, done={done}"
        )
    shown: dict[str, int] = {}
    for state, n in counts.items():
        if state == "done":
            shown |= {"done": n - failed, FAILED: failed}
        else:
            shown[state] = n
    return shown


def outcome_words(counts: Mapping[str, int], *, zeros: bool = True) -> str:
    """:func:`outcome_counts`' counts as a phrase: ``"23 done, 6 failed (status
    fail), 1 error"``.

    Args:
        counts: :func:`outcome_counts`' result (or any ``{word: count}``).
        zeros: Whether to name a word whose count is 0 (``done`` is always named).
    """
    parts = [
        f"{n} {word}" + (" (status fail)" if word == FAILED else "")
        for word, n in counts.items()
        if n or zeros or word == "done"
    ]
    return ", ".join(parts)
