"""Counts in messages: ``1 trial``, ``2 trials`` (no dependencies, so that the
driver, the worker, the objective's child process and the CLIs can all use it)."""

from __future__ import annotations


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
