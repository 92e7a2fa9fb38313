"""Counts in messages: ``1 trial``, ``2 trials`` (no dependencies, so that the
driver, the worker, the objective's child process and the CLIs can all use it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, plural (``plural``, else ``noun + "s"``) unless ``n`` is 1.

    Args:
        n: The count.
        noun: The singular noun, e.g. ``"trial"`` or ``"queued trial"``.
        plural: The plural if not ``noun + "s"``, e.g. ``"losses"``.

    Returns:
        ``"1 trial"``, ``"0 trials"``, ``"2 trials"``.
    """
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def tids_text(tids: list[int]) -> str:
    """The trials ``tids`` for a message: ``"tid 5"``, ``"tids 0..4"`` (a run of
    more than two), ``"tids 3, 7"``.

    Args:
        tids: Trial ids in the order to show them (at least one).

    Returns:
        The label, singular for one trial, then the ids.
    """
    if len(tids) > 2 and tids == list(range(tids[0], tids[-1] + 1)):
        return f"tids {tids[0]}..{tids[-1]}"
    return ("tid " if len(tids) == 1 else "tids ") + ", ".join(map(str, tids))


def did_you_mean(word: str, candidates: Iterable[str], *, shown: str = "{}") -> str:
    """``"; did you mean 'x'?"`` for the candidates closest to a mistyped ``word``
    (up to 3, closest first; difflib's ratio of at least 0.6), else ``""``.

    Letter case is ignored in the comparison, so ``MNIST`` finds ``mnist`` and
    ``S1`` finds ``s1`` (compared as typed, their ratio is 0 and 0.5: no hint);
    candidates that differ only in case are all shown.

    Args:
        word: What the user typed, e.g. ``"objectve"``.
        candidates: The names that exist, e.g. a module's attributes.
        shown: How a match is shown, ``{}`` standing for it (e.g.
            ``"examples.quadratic:{}"``, so that the hint is a whole reference).

    Returns:
        The hint to append to an error message, or ``""`` when nothing is close.
    """
    matches = _closest(word, candidates)
    if not matches:
        return ""
    return "; did you mean " + " or ".join(repr(shown.format(m)) for m in matches) + "?"


def did_you_mean_each(words: Sequence[str], candidates: Iterable[str]) -> str:
    """:func:`did_you_mean` for several mistyped ``words`` at once (unknown setting
    names): the closest candidate of each word that has one, ``"; did you mean
    'gamma'?"`` for one word, ``"; did you mean 'gamma' (for 'gama') or
    'prior_weight' (for 'prior_wieght')?"`` for several, else ``""``.

    Args:
        words: What the user typed.
        candidates: The names that exist.

    Returns:
        The hint to append to an error message, or ``""`` when nothing is close.
    """
    names = sorted(set(candidates))
    if len(words) == 1:
        return did_you_mean(words[0], names)
    found = [(w, close[0]) for w in words if (close := _closest(w, names))]
    if not found:
        return ""
    return "; did you mean " + " or ".join(f"{m!r} (for {w!r})" for w, m in found) + "?"


def _closest(word: str, candidates: Iterable[str]) -> list[str]:
    """Up to 3 of ``candidates`` closest to ``word``, closest first, compared
    without letter case (difflib's ratio of at least 0.6)."""
    import difflib  # only on an error: the objective's process imports this module

    folded: dict[str, list[str]] = {}
    for name in sorted(set(candidates)):
        folded.setdefault(name.casefold(), []).append(name)
    close = difflib.get_close_matches(word.casefold(), list(folded), n=3)
    return [name for key in close for name in folded[key]][:3]
