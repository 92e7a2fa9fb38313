"""Telling the versions of the objective's code that ran a study's trials apart."""

from __future__ import annotations

from typing import Any


def code_key(code: dict[str, Any] | None) -> tuple[Any, ...] | None:
    """What tells two codes apart: module, file hash and version (None if unknown)."""
    if not code:
        return None
    return (code.get("module"), code.get("sha256"), code.get("version"))


def describe_codes(notes: dict[tuple[Any, ...], str]) -> str:
    """``pkg.mod sha256 abc (version 1.0): first in trial 3; ...`` for a message.

    Args:
        notes: Each code key (:func:`code_key`), with what to say of it.
    """
    parts = []
    for (module, sha, version), note in notes.items():
        shown = f"{module} sha256 {sha}" + (f" (version {version})" if version else "")
        parts.append(f"{shown}: {note}")
    return "; ".join(parts)
