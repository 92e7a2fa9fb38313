"""Which trials of a study ran with its current space, once ``--override`` changed
it: the mark a start writes then, read by ``hpo-driver best``, ``status`` and
``start``'s end without loading the space (read commands load neither
``hpo_service.space`` nor numpy: ``tests/test_cli_imports.py``).

``hpo-driver start --override`` (or ``fmin`` on ``StoreTrials(...,
override=True)``) with a new space stores, in the same write as the space, the
setting ``space_mark`` (:data:`SETTING`): the study's history of spaces, as
segments of tids, each queued with one space.

- ``segments``: a list, by ``first_tid``, of ``{"fingerprint", "first_tid",
  "kept"}``, one per space the study ran with; the last is the current space's
  latest run. A segment holds the tids from its ``first_tid`` to the next
  segment's (the last one: on), and its ``kept`` trials.
- ``first_tid``: a segment's first tid, the study's ``next_tid`` as the start
  that changed the space read it, holding the study's driver lease, before the
  change. Every lower tid was queued with an earlier space; only the lease holder
  queues trials, so every tid from it on is of that space until the next change.
  A worker still finishing a trial of the old space after the override changes
  nothing: its tid tells, not when it finished.
- ``kept``: the trials below ``first_tid`` that were queued then and that the
  new space gives unchanged (same params, same config), so the start left them
  queued (it cancels the others): they run with the new space, and are of both.
- ``fingerprint``: the segment's space; null for the trials before a change no
  mark recorded (a version without marks changed the space): of no known space.
- The top-level ``fingerprint``, ``first_tid`` and ``kept`` repeat the last
  segment (what a version before segments reads). A mark whose ``fingerprint``
  is not the study's is no mark (a version without marks changed the space
  again).

A trial is of the current space when a segment of the current space holds it:
so after A, then B, then A again (``--override`` twice), the trials of the first
run of A are of the current space and those of B are not; after A, B, then C,
neither A's nor B's are. A mark written before segments (``fingerprint``,
``first_tid`` and ``kept`` only) is read as one segment after one of no known
space. The first change a mark records takes the tids before it for the space
stored then (a study without a mark never changed its space, or a version before
marks changed it: then those trials counted as of that space before too).

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
class Segment:
    """The tids queued with one space (see the module's docstring).

    Attributes:
        fingerprint: The fingerprint of that space; None when not known (a
            version without marks changed the space).
        first_tid: Its first tid; it holds the tids up to the next segment's.
        kept: Lower tids queued before it, and left queued because its space
            gives them unchanged.
    """

    fingerprint: str | None
    first_tid: int
    kept: frozenset[int] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able segment (``kept`` sorted)."""
        return {
            "fingerprint": self.fingerprint,
            "first_tid": self.first_tid,
            "kept": sorted(self.kept),
        }


@dataclass(frozen=True)
class SpaceMark:
    """The study's spaces, by tid (see the module's docstring).

    Attributes:
        fingerprint: The fingerprint of the current space (the last segment's).
        segments: By ``first_tid``, at least one; the last is the current space's
            latest run.
    """

    fingerprint: str
    segments: tuple[Segment, ...]

    @property
    def first_tid(self) -> int:
        """The first tid queued since the latest change of the space."""
        return self.segments[-1].first_tid

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able setting: the last segment's keys, and ``segments``."""
        return {
            **self.segments[-1].to_dict(),
            "segments": [segment.to_dict() for segment in self.segments],
        }

    def spans(self) -> list[tuple[Segment, int | None]]:
        """Each segment with its end (the next segment's ``first_tid``, exclusive;
        None for the last)."""
        ends: list[int | None] = [s.first_tid for s in self.segments[1:]]
        return list(zip(self.segments, [*ends, None], strict=True))

    def current_spans(self) -> list[tuple[int, int | None]]:
        """``(first_tid, end_tid)`` of each non-empty segment of the current space
        (``end_tid`` exclusive, None for the last)."""
        return [
            (segment.first_tid, end)
            for segment, end in self.spans()
            if segment.fingerprint == self.fingerprint
            and (end is None or end > segment.first_tid)
        ]

    def current_kept(self) -> frozenset[int]:
        """The trials the current space kept, in any of its segments."""
        current = (s.kept for s in self.segments if s.fingerprint == self.fingerprint)
        return frozenset().union(*current)

    def of_current_space(self, tid: int) -> bool:
        """Whether trial ``tid`` was queued with the current space (or kept for
        it), in any run of it."""
        if tid in self.current_kept():
            return True
        return any(
            first <= tid and (end is None or tid < end)
            for first, end in self.current_spans()
        )


def new_mark(
    settings: Mapping[str, Any], fingerprint: str, first_tid: int, kept: Iterable[int]
) -> dict[str, Any]:
    """The setting a start stores with a new space: the study's mark with one
    more segment (:meth:`SpaceMark.to_dict`).

    Args:
        settings: The study's stored settings, before the change (their mark, or
            without one their ``space_fingerprint``, gives the earlier segments).
        fingerprint: The new space's fingerprint.
        first_tid: The study's ``next_tid``, read under the driver lease before
            the space changed.
        kept: The queued trials the new space gives unchanged (left queued).
    """
    earlier = read_mark(settings)
    if earlier is not None:
        segments = earlier.segments
    elif settings.get(SETTING) is None:  # the space never changed (as far as known)
        segments = (Segment(settings.get("space_fingerprint"), 0),)
    else:  # a mark of another space: a version without marks changed it since
        segments = (Segment(None, 0),)
    added = Segment(fingerprint, first_tid, frozenset(kept))
    return SpaceMark(fingerprint, (*segments, added)).to_dict()


def read_mark(settings: Mapping[str, Any]) -> SpaceMark | None:
    """The mark of a study's stored ``settings``, if it marks the study's space.

    None without one (a study whose space never changed, or one stored before
    marks), for a malformed one, and for one whose fingerprint is not the
    study's ``space_fingerprint``. A mark stored before segments is read as a
    segment of no known space, then its own.
    """
    mark = settings.get(SETTING)
    if not isinstance(mark, Mapping):
        return None
    fingerprint = mark.get("fingerprint")
    if fingerprint is None or fingerprint != settings.get("space_fingerprint"):
        return None
    latest = _segment(mark)
    if latest is None:
        return None
    if "segments" not in mark:  # stored before segments
        return SpaceMark(fingerprint, (Segment(None, 0), latest))
    listed = mark["segments"]
    if not isinstance(listed, list) or not listed:
        return None
    segments = tuple(map(_segment, listed))
    if any(s is None for s in segments) or segments[-1] != latest:
        return None
    firsts = [s.first_tid for s in segments if s is not None]
    if firsts != sorted(firsts):
        return None
    return SpaceMark(fingerprint, segments)  # type: ignore[arg-type]


def _segment(item: Any) -> Segment | None:
    """A stored segment (or a mark's top-level keys), or None if malformed."""
    if not isinstance(item, Mapping):
        return None
    fingerprint, first, kept = (
        item.get("fingerprint"),
        item.get("first_tid"),
        item.get("kept", []),
    )
    if fingerprint is not None and not isinstance(fingerprint, str):
        return None
    if not _tid(first) or not isinstance(kept, list) or not all(map(_tid, kept)):
        return None
    return Segment(fingerprint, first, frozenset(kept))


def _tid(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class OldSpaceBest:
    """The study's best trial ran with a space before ``--override``.

    Attributes:
        tid: That trial.
        first_tid: The first tid of the current space's latest run.
        current: The best trial of the current space (:func:`current_best`), or
            None when none has succeeded yet.
        earlier_runs: ``(first_tid, end_tid)`` of the current space's runs before
            its latest (``end_tid`` exclusive): the study ran with it, another
            space, then it again; empty otherwise.
    """

    tid: int
    first_tid: int
    current: Trial | None
    earlier_runs: tuple[tuple[int, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The ``before_override`` field of ``best --json`` and of ``status
        --json``'s ``best``: ``first_tid``, ``current_best`` (``{"tid",
        "loss"}`` or None) and ``earlier_runs`` (``[[first_tid, end_tid],
        ...]``)."""
        current = None
        if self.current is not None:
            loss = (self.current.result or {}).get("loss")
            current = {"tid": self.current.tid, "loss": loss}
        return {
            "first_tid": self.first_tid,
            "current_best": current,
            "earlier_runs": [list(run) for run in self.earlier_runs],
        }

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
    """The best single-objective trial of the current space: of each of its
    segments (one indexed read per tid range) or kept by one (read by tid), as
    :meth:`~hpo_service.store.BaseTrialStore.best_trial` orders them.

    Raises:
        StudyNotFoundError: No such study.
    """
    found = [
        store.best_trial(study, first_tid=first, end_tid=end)
        for first, end in mark.current_spans()
    ]
    kept = sorted(mark.current_kept())
    done = store.get_trials(study, [TrialState.DONE], tids=kept) if kept else []
    return earliest_best([t for t in found if t is not None] + done)


def old_space_best(
    store: BaseTrialStore, study: str, settings: Mapping[str, Any], best: Trial
) -> OldSpaceBest | None:
    """Whether the study's ``best`` trial ran with a space other than its current
    one, before ``--override`` changed it (by the mark of its stored
    ``settings``), and if so the best trial of the current space; None when it
    did not, or the study holds no mark.

    Raises:
        StudyNotFoundError: No such study.
    """
    mark = read_mark(settings)
    if mark is None or mark.of_current_space(best.tid):
        return None
    earlier = tuple(
        (first, end) for first, end in mark.current_spans() if end is not None
    )
    current = current_best(store, study, mark)
    return OldSpaceBest(best.tid, mark.first_tid, current, earlier)
