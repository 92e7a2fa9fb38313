"""Where an end-to-end run waited, from the store's timestamps (issue 14, flat cost).

    python -m benchmarks.queue_waits sqlite:///run.sqlite --study bench

Every trial of a finished study holds when it was queued (``created_at``, one value
per driver refill), claimed (``started_at``) and finished (``finished_at``), and by
whom (``owner``). From these alone, for the first and the last fifth of the finished
trials (the fifths ``e2e_throughput`` rates):

- ``empty``: the share of the time the queue held no trial (workers that finished
  then found nothing to claim);
- ``gap ms``: a worker's mean time from finishing one trial to claiming its next
  (its claim, the backoff sleep after empty claims, the housekeeping);
- ``refills`` and ``batch``: the driver's refills that landed and their mean size.

The figures are counts of what happened in one run, so old and new code can be
compared run for run on a loaded machine where the rates cannot; the timing of each
event still moves with the load.
"""

from __future__ import annotations

import argparse
import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from hpo_service.store import Trial, TrialState, open_store


@dataclass(frozen=True)
class Waits:
    """Waiting in one stretch of a run (see the module docstring).

    Attributes:
        seconds: The stretch's length, seconds.
        empty: Share of the stretch with no trial queued, 0-1.
        gap_ms: Mean time from a worker's finish to its next claim, milliseconds.
        refills: Driver refills (distinct ``created_at``) in the stretch.
        batch: Mean trials per refill.
    """

    seconds: float
    empty: float
    gap_ms: float
    refills: int
    batch: float


def _empty_seconds(
    events: Sequence[tuple[float, int]], start: float, end: float
) -> float:
    """Seconds of ``[start, end]`` with no trial queued, from the queue's ``(time,
    +1 queued / -1 claimed)`` events in time order."""
    depth, empty, previous = 0, 0.0, start
    for t, change in events:
        if depth == 0:
            empty += max(0.0, min(t, end) - max(previous, start))
        depth += change
        previous = t
    if depth == 0:
        empty += max(0.0, end - max(previous, start))
    return empty


def _gaps(trials: Sequence[Trial]) -> list[tuple[float, float]]:
    """``(claim time, seconds since the same worker's previous finish)`` per claim
    of the finished ``trials`` (one cancelled while queued was never claimed: no
    gap)."""
    by_owner: dict[str, list[Trial]] = defaultdict(list)
    for t in trials:
        if t.started_at is not None:
            by_owner[t.owner or ""].append(t)
    gaps = []
    for own in by_owner.values():
        own.sort(key=lambda t: t.started_at or 0.0)
        for before, after in itertools.pairwise(own):
            assert after.started_at is not None and before.finished_at is not None
            gaps.append((after.started_at, after.started_at - before.finished_at))
    return gaps


def _left_queue(trial: Trial) -> tuple[float, int] | None:
    """``(time, -1)`` when ``trial`` left the queue: claimed, or finished unclaimed
    (cancelled while queued: a driver's drain); None while it is queued."""
    left = trial.started_at if trial.started_at is not None else trial.finished_at
    return None if left is None else (left, -1)


def waits(trials: Sequence[Trial], start: float, end: float) -> Waits:
    """:class:`Waits` of the stretch ``[start, end]`` (store clock, seconds).

    Args:
        trials: Every trial of the study (queued, claimed and finished ones), with
            ``created_at``; one leaves the queue when claimed (``started_at``) or,
            cancelled unclaimed, when it finished; the others count as still
            queued.
        start: The stretch's first instant.
        end: Its last instant (> ``start``).

    Raises:
        ValueError: ``end`` is not after ``start``.
    """
    if not end > start:
        raise ValueError(f"`end` must be > start, but got end={end}, start={start}")
    queued = [(t.created_at or 0.0, 1) for t in trials]
    events = sorted(queued + [left for t in trials if (left := _left_queue(t))])
    finished = [t for t in trials if t.finished_at is not None]
    gaps = [g for when, g in _gaps(finished) if start <= when <= end]
    batches: dict[float, int] = defaultdict(int)
    for t in trials:
        if t.created_at is not None and start <= t.created_at <= end:
            batches[t.created_at] += 1
    return Waits(
        seconds=end - start,
        empty=_empty_seconds(events, start, end) / (end - start),
        gap_ms=1000 * sum(gaps) / len(gaps) if gaps else 0.0,
        refills=len(batches),
        batch=sum(batches.values()) / len(batches) if batches else 0.0,
    )


def fifths(trials: Sequence[Trial]) -> tuple[Waits, Waits]:
    """:func:`waits` over the first and the last fifth of the done trials, the
    stretches ``e2e_throughput`` rates (first claim to the fifth's last finish; the
    finish before the last fifth to the last finish).

    Raises:
        ValueError: Fewer than 10 trials are done.
    """
    done = [t for t in trials if t.state == TrialState.DONE]
    if len(done) < 10:
        raise ValueError(f"`trials` must hold >= 10 done, but got {len(done)}")
    finished = sorted(t.finished_at or 0.0 for t in done)
    start = min(t.started_at or 0.0 for t in done)
    fifth = len(finished) // 5
    first = waits(trials, start, finished[fifth - 1])
    last = waits(trials, finished[-fifth - 1], finished[-1])
    return first, last


def read(db: str, study: str) -> list[Trial]:
    """Every trial of ``study`` in the store at ``db`` (a store URL)."""
    with open_store(db) as store:
        return store.get_trials(study)


def said(first: Waits, last: Waits) -> str:
    """One line: ``empty 12% / 3%, gap ms 4.1 / 2.0, refills 310 / 290, batch
    12.9 / 13.8`` (first fifth / last fifth)."""
    return (
        f"empty {100 * first.empty:.0f}% / {100 * last.empty:.0f}%, "
        f"gap ms {first.gap_ms:.1f} / {last.gap_ms:.1f}, "
        f"refills {first.refills} / {last.refills}, "
        f"batch {first.batch:.1f} / {last.batch:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", help="store URL of a finished run")
    parser.add_argument("--study", default="bench")
    args = parser.parse_args()
    print("first fifth / last fifth:", said(*fifths(read(args.db, args.study))))


if __name__ == "__main__":
    main()
