"""Which trials of a study ran with its current space, once ``--override`` changed
it: the mark a start writes then, read by ``hpo-driver best``, ``status`` and
``start``'s end without loading the space (read commands load neither
``hpo_service.space`` nor numpy: ``tests/test_cli_imports.py``).

``hpo-driver start --override`` (or ``fmin`` on ``StoreTrials(...,
override=True)``) with a new space stores, in the same write as the space, the
setting ``space_mark`` (:data:`SETTING`):

- ``first_tid``: the study's ``next_tid`` as the start read it, holding the
  study's driver lease, before the change. Every lower tid was queued with an
  earlier space; only the lease holder queues trials, so every tid from it on
  is of the new space. A worker still finishing a trial of the old space after
  the override changes nothing: its tid tells, not when it finished.
- ``kept``: the trials below ``first_tid`` that were queued then and that the
  new space gives unchanged (same params, same config), so the start left them
  queued (it cancels the others): they run with the new space.
- ``fingerprint``: the space the mark belongs to. A mark whose fingerprint is not
  the study's is no mark (a version without marks changed the space again).

A study whose space never changed, or changed only by a version before the mark,
holds none: its best trial gets no note.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hpo_service.store import BaseTrialStore, Trial, TrialState
from hpo_service.store._summary import earliest_best

#: The study setting that holds the mark.
SETTING = "space_mark"


@dataclass(frozen=True)
class SpaceMark:
    """Where the study's current space begins (see the module's docstring).

    Attributes:
        fingerprint: The fingerprint of the space it marks.
        first_tid: The first tid queued with that space.
        kept: Lower tids queued before, and left queued because that space gives
            them unchanged.
    """

    fingerprint: str
    first_tid: int
    kept: frozenset[int] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able setting (``kept`` sorted)."""
        return {
            "fingerprint": self.fingerprint,
            "first_tid": self.first_tid,
            "kept": sorted(self.kept),
        }

    def of_current_space(self, tid: int) -> bool:
        """Whether trial ``tid`` was queued with the marked space (or kept for it)."""
        return tid >= self.first_tid or tid in self.kept


def new_mark(fingerprint: str, first_tid: int, kept: Iterable[int]) -> dict[str, Any]:
    """The setting a start stores with a new space: :meth:`SpaceMark.to_dict`.

    Args:
        fingerprint: The new space's fingerprint.
        first_tid: The study's ``next_tid``, read under the driver lease before
            the space changed.
        kept: The queued trials the new space gives unchanged (left queued).
    """
    return SpaceMark(fingerprint, first_tid, frozenset(kept)).to_dict()


def read_mark(settings: Mapping[str, Any]) -> SpaceMark | None:
    """The mark of a study's stored ``settings``, if it marks the study's space.

    None without one (a study whose space never changed, or one stored before
    marks), for a malformed one, and for one whose fingerprint is not the
    study's ``space_fingerprint``.
    """
    mark = settings.get(SETTING)
    if not isinstance(mark, Mapping):
        return None
    fingerprint, first, kept = (
        mark.get("fingerprint"),
        mark.get("first_tid"),
        mark.get("kept", []),
    )
    if fingerprint is None or fingerprint != settings.get("space_fingerprint"):
        return None
    if not _tid(first) or not isinstance(kept, list) or not all(map(_tid, kept)):
        return None
    return SpaceMark(fingerprint, first, frozenset(kept))


def _tid(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class OldSpaceBest:
    """The study's best trial ran with a space before ``--override``.

    Attributes:
        tid: That trial.
        first_tid: The mark's first tid of the current space.
        current: The best trial of the current space (:func:`current_best`), or
            None when none has succeeded yet.
    """

    tid: int
    first_tid: int
    current: Trial | None

    def to_dict(self) -> dict[str, Any]:
        """The ``before_override`` field of ``best --json`` and of ``status
        --json``'s ``best``: ``first_tid`` and ``current_best`` (``{"tid",
        "loss"}`` or None)."""
        current = None
        if self.current is not None:
            loss = (self.current.result or {}).get("loss")
            current = {"tid": self.current.tid, "loss": loss}
        return {"first_tid": self.first_tid, "current_best": current}

    def note(self) -> str:
        """The line shown under the best trial: :func:`note_text`."""
        return note_text(self.tid, self.to_dict())


def note_text(tid: int, before: Mapping[str, Any], indent: str = "  ") -> str:
    """The line shown under best trial ``tid`` (``start``'s end, ``best``,
    ``status``), from its ``before_override`` field (:meth:`OldSpaceBest.to_dict`).
    """
    head = f"trial {tid} ran with the space before --override"
    current = before.get("current_best")
    if current is None:
        return f"{indent}({head}; no trial of the current space succeeded yet)"
    loss = current.get("loss")
    shown = f"{loss:.6g}" if isinstance(loss, int | float) else f"{loss!r}"
    return (
        f"{indent}({head}; the best trial of the current space is trial "
        f"{current['tid']}: loss {shown})"
    )


def current_best(store: BaseTrialStore, study: str, mark: SpaceMark) -> Trial | None:
    """The best single-objective trial of the marked space: from ``first_tid`` on
    (one indexed read) or kept (read by tid), as
    :meth:`~hpo_service.store.BaseTrialStore.best_trial` orders them.

    Raises:
        StudyNotFoundError: No such study.
    """
    found = store.best_trial(study, first_tid=mark.first_tid)
    kept = sorted(mark.kept)
    if not kept:
        return found
    done = store.get_trials(study, [TrialState.DONE], tids=kept)
    return earliest_best(([] if found is None else [found]) + done)


def old_space_best(
    store: BaseTrialStore, study: str, settings: Mapping[str, Any], best: Trial
) -> OldSpaceBest | None:
    """Whether the study's ``best`` trial ran with a space before ``--override``
    (by the mark of its stored ``settings``), and if so the best trial of the
    current space; None when it did not, or the study holds no mark.

    Raises:
        StudyNotFoundError: No such study.
    """
    mark = read_mark(settings)
    if mark is None or mark.of_current_space(best.tid):
        return None
    return OldSpaceBest(best.tid, mark.first_tid, current_best(store, study, mark))
