"""Where the time went: per-worker utilisation, idle gaps and the timeline figure."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo_service.insight._style import LAYOUT, STATE_COLORS, epoch_ms, floats

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from hpo_service.insight._data import StudyData, TrialRow

_IDLE_COLOR = "#e0e0e0"


@dataclass(frozen=True)
class WorkerUsage:
    """How one worker (trial ``owner``) spent the study.

    Attributes:
        owner: The worker id.
        trials: Trials it ran (attempts that reached a start time).
        busy: Seconds spent running trials.
        span: Seconds from its first trial's start to its last trial's end.
        idle: Seconds between its trials (``span - busy``, overlaps counted once).
        longest_gap: The longest pause between two of its trials, in seconds.
    """

    owner: str
    trials: int
    busy: float
    span: float
    idle: float
    longest_gap: float

    @property
    def utilisation(self) -> float:
        """``busy / span`` (1.0 for a worker whose span is zero)."""
        return self.busy / self.span if self.span > 0 else 1.0


def _intervals(data: StudyData, now: float | None) -> dict[str, list[TrialRow]]:
    by_owner: dict[str, list[TrialRow]] = {}
    for row in data.rows.values():
        if row.owner is None or row.started_at is None:
            continue
        if row.finished_at is None and (now is None or row.state != "running"):
            continue
        by_owner.setdefault(row.owner, []).append(row)
    for rows in by_owner.values():
        rows.sort(key=lambda r: r.started_at or 0.0)
    return by_owner


def worker_usage(data: StudyData, now: float | None = None) -> list[WorkerUsage]:
    """Per-worker busy time, span, idle time and longest gap, by owner.

    Args:
        data: The study.
        now: Epoch seconds that running trials count up to (None leaves them out).

    Returns:
        One entry per worker that ran a trial, sorted by owner.
    """
    usage = []
    for owner, rows in sorted(_intervals(data, now).items()):
        spans = [(r.started_at, r.finished_at or now) for r in rows]
        busy, longest, end = 0.0, 0.0, spans[0][0]
        for start, stop in spans:
            longest = max(longest, start - end)
            busy += max(0.0, stop - max(start, end))
            end = max(end, stop)
        span = end - spans[0][0]
        usage.append(WorkerUsage(owner, len(rows), busy, span, span - busy, longest))
    return usage


def timeline_figure(data: StudyData, now: float | None = None) -> go.Figure:
    """One row per worker, each trial a bar from start to finish coloured by outcome.

    Idle gaps between a worker's trials are drawn as thin grey bars; the y label
    shows the worker's utilisation. Workers sit on numbered rows (first owner on
    top) and times are epoch milliseconds on a date axis, so 20,000 trials travel
    to the page as typed arrays.

    Args:
        data: The study.
        now: Epoch seconds that running trials are drawn up to (None leaves them out).
    """
    import plotly.graph_objects as go

    groups = _intervals(data, now)
    usage = {u.owner: u for u in worker_usage(data, now)}
    owners = sorted(groups)
    positions = {o: float(len(owners) - 1 - i) for i, o in enumerate(owners)}
    fig = go.Figure()
    gap_x, gap_y = _segments(groups, positions, now, gaps=True)
    if gap_x.size:
        fig.add_trace(_bars(go, gap_x, gap_y, "idle", _IDLE_COLOR, 3, hoverinfo="skip"))
    for state in ("done", "pruned", "error", "cancelled", "running"):
        subset = {
            o: [r for r in trials if r.state == state] for o, trials in groups.items()
        }
        x, y = _segments(subset, positions, now, gaps=False)
        if x.size:
            fig.add_trace(_bars(go, x, y, state, STATE_COLORS[state], 12))
    fig.update_layout(
        title="Worker timeline (utilisation in brackets)",
        xaxis_title="time (UTC)",
        xaxis_type="date",
        height=max(300, 28 * len(groups) + 150),
        **LAYOUT,
    )
    fig.update_yaxes(
        tickvals=[positions[o] for o in owners],
        ticktext=[f"{o} ({usage[o].utilisation:.0%})" for o in owners],
        range=[-0.5, len(owners) - 0.5],
        zeroline=False,
    )
    return fig


def _bars(
    go: Any, x: np.ndarray, y: np.ndarray, name: str, color: str, width: int, **kw: Any
) -> Any:
    """Horizontal bars as one WebGL line trace (segments split by NaN)."""
    return go.Scattergl(
        x=x,
        y=y,
        mode="lines",
        name=name,
        line={"color": color, "width": width},
        connectgaps=False,
        **kw,
    )


def _segments(
    groups: dict[str, list[TrialRow]],
    positions: dict[str, float],
    now: float | None,
    *,
    gaps: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Line segments (x: start ms, end ms, NaN; y: the worker's row) for trials, or
    for the idle gaps between them."""
    starts: list[float | None] = []
    ys: list[float] = []
    for owner, trials in groups.items():
        spans = [(r.started_at, r.finished_at or now) for r in trials]
        if gaps:
            spans = [
                (a_end, b_start)
                for (_, a_end), (b_start, _) in itertools.pairwise(spans)
                if b_start > a_end
            ]
        for start, stop in spans:
            starts.extend([start, stop, None])
            ys.extend([positions[owner], positions[owner], math.nan])
    return epoch_ms(floats(starts)), np.array(ys, dtype=float)
