"""Where the time went: per-worker utilisation, idle gaps and the timeline figure."""

from __future__ import annotations

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
        idle: Seconds between its trials (``span - busy - quiet``, overlaps counted
            once).
        longest_gap: The longest pause between two of its trials, in seconds, less
            any quiet stretch inside it.
        quiet: Seconds of its span in which no trial of the study ran, in stretches
            long enough to be cut from the timeline (:func:`quiet_stretches`: a
            study stopped and resumed later). Not counted as idle: no worker could
            have run a trial then.
    """

    owner: str
    trials: int
    busy: float
    span: float
    idle: float
    longest_gap: float
    quiet: float = 0.0

    @property
    def utilisation(self) -> float:
        """``busy / (span - quiet)`` (1.0 for a worker with no time left)."""
        working = self.span - self.quiet
        return self.busy / working if working > 0 else 1.0


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
    return _usage(_intervals(data, now), now)


def _usage(groups: dict[str, list[TrialRow]], now: float | None) -> list[WorkerUsage]:
    everyone = [r for rows in groups.values() for r in rows]
    quiet = _quiet(floats([r.started_at for r in everyone]),
                   floats([r.finished_at or now for r in everyone]))  # fmt: skip
    usage = []
    for owner, rows in sorted(groups.items()):
        spans = [(r.started_at, r.finished_at or now) for r in rows]
        busy, longest, end = 0.0, 0.0, spans[0][0]
        for start, stop in spans:
            longest = max(longest, start - end - _overlap(quiet, end, start))
            busy += max(0.0, stop - max(start, end))
            end = max(end, stop)
        span, cut = end - spans[0][0], _overlap(quiet, spans[0][0], end)
        usage.append(
            WorkerUsage(owner, len(rows), busy, span, span - busy - cut, longest, cut)
        )
    return usage


def _overlap(stretches: list[tuple[float, float]], start: float, stop: float) -> float:
    """Seconds of ``start -> stop`` that fall inside ``stretches``."""
    return sum(max(0.0, min(b, stop) - max(a, start)) for a, b in stretches)


#: A stretch in which no trial runs is cut from the timeline's time axis when it is
#: longer than this many seconds and than this share of the study's span (a study
#: stopped and resumed a day later: its trials' bars became sub-pixel).
QUIET_CUT_SECONDS, QUIET_CUT_SHARE = 600.0, 0.1
_CUT_EDGE = 0.01  # of the running time, left of a cut stretch on either side


def quiet_stretches(starts: np.ndarray, stops: np.ndarray) -> list[tuple[float, float]]:
    """The stretches in which no trial ran that the timeline cuts from its time axis.

    Args:
        starts, stops: Each trial's start and end, epoch seconds, shape ``(n,)``.

    Returns:
        ``(from, to)`` epoch seconds per cut, in time order: each stretch with no
        trial running that is longer than ``QUIET_CUT_SECONDS`` and than
        ``QUIET_CUT_SHARE`` of the span from the first start to the last end, less
        an edge of 1% of the time trials ran on either side (the break shows).
    """
    quiet = _quiet(starts, stops)
    if not quiet:
        return []
    running = float(stops.max() - starts.min()) - sum(b - a for a, b in quiet)
    edge = _CUT_EDGE * running
    return [(a + edge, b - edge) for a, b in quiet]


def _quiet(starts: np.ndarray, stops: np.ndarray) -> list[tuple[float, float]]:
    """The whole stretches :func:`quiet_stretches` cuts (before the edges)."""
    if len(starts) < 2:
        return []
    order = np.argsort(starts, kind="stable")
    starts, stops = starts[order], stops[order]
    ended = np.maximum.accumulate(stops)[:-1]  # the latest end before each start
    quiet = starts[1:] - ended
    span = float(stops.max() - starts[0])
    long = (quiet > QUIET_CUT_SECONDS) & (quiet > QUIET_CUT_SHARE * span)
    return [(float(a), float(b))
            for a, b in zip(ended[long], starts[1:][long], strict=True)]  # fmt: skip


def timeline_figure(data: StudyData, now: float | None = None) -> go.Figure:
    """One row per worker, each trial a bar from start to finish coloured by outcome.

    Idle gaps between a worker's consecutive trials are drawn as thin grey bars; the
    y label shows the worker's utilisation. Workers sit on numbered rows (first
    owner on top) and times are epoch milliseconds on a date axis, so 20,000 trials
    travel to the page as typed arrays. Long stretches in which no trial ran (a
    study stopped and resumed later, :func:`quiet_stretches`) are cut from the
    time axis with plotly's ``rangebreaks``, so the trials on either side keep a
    readable width. The bars are SVG lines (one path per outcome): WebGL traces
    do not draw on a broken axis (plotly.js issue 4630), and a WebGL timeline
    took 2 of the page's 16 WebGL contexts.

    Args:
        data: The study.
        now: Epoch seconds that running trials are drawn up to (None leaves them out).
    """
    import plotly.graph_objects as go

    groups = _intervals(data, now)
    usage = _usage(groups, now)
    owners = [u.owner for u in usage]
    labels = [f"{u.owner} ({u.utilisation:.0%})" for u in usage]
    trials = [r for owner in owners for r in groups[owner]]
    position = {o: float(len(owners) - 1 - i) for i, o in enumerate(owners)}
    y = np.array([position[r.owner] for r in trials])
    start = floats([r.started_at for r in trials])
    stop = floats([r.finished_at or now for r in trials])
    fig = go.Figure()
    cuts = quiet_stretches(start, stop)
    gaps = (y[1:] == y[:-1]) & (start[1:] > stop[:-1])  # consecutive, same worker
    if gaps.any():
        x, ys = _bars(stop[:-1][gaps], start[1:][gaps], y[1:][gaps])
        fig.add_trace(_trace(go, x, ys, "idle", _IDLE_COLOR, 3, hoverinfo="skip"))
    states = np.array([r.state for r in trials])
    for state in ("done", "pruned", "error", "cancelled", "running"):
        mask = states == state
        if mask.any():
            x, ys = _bars(start[mask], stop[mask], y[mask])
            fig.add_trace(_trace(go, x, ys, state, STATE_COLORS[state], 12))
    _timeline_layout(fig, labels, cuts)
    return fig


def _timeline_layout(
    fig: Any, labels: list[str], cuts: list[tuple[float, float]]
) -> None:
    """Title, date axis (``cuts`` left out of it) and one labelled row per worker
    (first on top)."""
    title = "Worker timeline (utilisation in brackets)"
    if cuts:
        hours = sum(b - a for a, b in cuts) / 3600
        title += (
            f"; {len(cuts)} idle stretch{'es' if len(cuts) > 1 else ''} "
            f"({hours:.3g} h) cut from the time axis"
        )
        fig.update_xaxes(
            rangebreaks=[
                {"values": [epoch_ms(np.array(a)).item()], "dvalue": (b - a) * 1000}
                for a, b in cuts
            ]
        )
    fig.update_layout(
        title=title,
        xaxis_title="time (UTC)",
        xaxis_type="date",
        height=max(300, 28 * len(labels) + 150),
        **LAYOUT,
    )
    fig.update_yaxes(
        tickvals=[float(len(labels) - 1 - i) for i in range(len(labels))],
        ticktext=labels,
        range=[-0.5, len(labels) - 0.5],
        zeroline=False,
    )


def _bars(
    starts: np.ndarray, stops: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Segments ``start -> stop`` at height ``row``, as one line split by NaN: x in
    epoch milliseconds, y as float32 (small integers; half the bytes)."""
    nan = np.full(len(starts), np.nan)
    x = np.column_stack([starts, stops, nan]).ravel()
    y = np.column_stack([rows, rows, nan]).ravel().astype(np.float32)
    return epoch_ms(x), y


def _trace(
    go: Any, x: np.ndarray, y: np.ndarray, name: str, color: str, wide: int, **kw: Any
) -> Any:
    """Horizontal bars as one SVG line trace (segments split by NaN)."""
    return go.Scatter(
        x=x,
        y=y,
        mode="lines",
        name=name,
        line={"color": color, "width": wide},
        connectgaps=False,
        **kw,
    )
