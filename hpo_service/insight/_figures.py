"""The report's plotly figures: history, slices, parallel coordinates, contour,
importances, intermediate values and the Pareto front.

Every function takes a :class:`~hpo_service.insight.StudyData` and returns a
``plotly.graph_objects.Figure``; large studies use WebGL traces.
"""

from __future__ import annotations

import itertools
import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo_service._common.words import counted
from hpo_service.insight._params import middle_cut
from hpo_service.insight._style import (
    BEST_COLOR,
    INFEASIBLE_COLOR,
    LAYOUT,
    STATE_COLORS,
    epoch_ms,
    floats,
    loss_axis_type,
    number_texts,
    plot_text,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from hpo_service.insight._data import StudyData, TrialRow
    from hpo_service.insight._importance import ParamImportance
    from hpo_service.insight._params import ParamInfo

_logger = logging.getLogger(__name__)

_MAX_CURVES = 1000  # intermediate-value curves drawn at most
_GRID = 60  # contour resolution per axis
_CONTOUR_POINTS = 4000  # trials the contour's surface is interpolated from
_SLICE_COLUMNS = 3
MAX_SLICE_PANELS = 24  # 8 rows of 280 px: a taller WebGL figure is drawn garbled
_TITLE_WIDTH = 36  # characters a line of a slice panel's title (a third of the page)


def _go() -> Any:
    try:
        import plotly.graph_objects as go
    except ImportError as e:
        raise ImportError(
            'plots need plotly: pip install "hpo-service[dashboard]"'
        ) from e
    return go


def scored_rows(data: StudyData, states: tuple[str, ...] = ("done",)) -> list[TrialRow]:
    """Trials in ``states`` with a loss to draw, by tid.

    Args:
        data: The study.
        states: Trial states kept. Only the history adds ``"pruned"``: a pruned
            trial's loss is the last value it reported at an early step, which
            slices, parallel coordinates and contours would mix with final losses
            (Optuna's plots leave pruned trials out of those too).
    """
    return [r for r in data.sorted_rows() if r.score is not None and r.state in states]


def history_figure(data: StudyData, *, over: str = "number") -> go.Figure:
    """Every trial's loss and the best so far, over trial number or finish time.

    Args:
        data: The study.
        over: ``"number"`` (the tid) or ``"time"`` (finish time, UTC, on a date axis
            fed epoch milliseconds).

    Returns:
        A figure with one marker trace per kind: done (dots), infeasible (done but
        breaking a constraint: grey dots) and pruned (orange crosses at the last
        value they reported), and the best-so-far line (feasible done trials only,
        the trials ``best`` chooses from).

    Raises:
        ValueError: ``over`` is neither.
        ImportError: plotly is missing (every figure function raises it).
    """
    if over not in ("number", "time"):
        raise ValueError(f"`over` must be 'number' or 'time', but got over={over!r}")
    go = _go()
    rows = scored_rows(data, ("done", "pruned"))
    if over == "time":
        rows = sorted(
            (r for r in rows if r.finished_at is not None), key=lambda r: r.finished_at
        )
    x = _x_values(rows, over)
    loss = floats([r.score for r in rows])
    kinds = np.array([_history_kind(r) for r in rows], dtype=object)
    fig = go.Figure()
    # done trials last (on top: pruned ones, often most of a study, hid them),
    # listed first in the legend
    for rank, kind in reversed(list(enumerate(("done", "infeasible", "pruned")))):
        mask = kinds == kind
        if mask.any():
            points = _points(go, x[mask], loss[mask], kind, rows, mask)
            fig.add_trace(points.update(legendrank=1000 + rank))
    feasible = kinds == "done"
    best = np.fmin.accumulate(np.where(feasible, loss, np.inf)) if len(rows) else loss
    best = np.where(np.isinf(best), np.nan, best)
    fig.add_trace(
        go.Scattergl(
            x=x,
            y=best,
            mode="lines",
            name="best so far",
            line={"color": BEST_COLOR, "shape": "hv", "width": 2},
        )
    )
    title = "trial number" if over == "number" else "finish time (UTC)"
    fig.update_layout(
        title=f"Optimisation history over {title}",
        xaxis_title=title,
        xaxis_type="linear" if over == "number" else "date",
        yaxis_title=plot_text(data.objective_names[0]),
        yaxis_type=loss_axis_type(loss),
        **LAYOUT,
    )
    if not rows:
        counts = " ".join(f"{s}={n}" for s, n in sorted(data.counts().items()))
        empty_state(fig, f"No trial has a loss to plot ({counts or 'no trials'})")
    return fig


def empty_state(fig: go.Figure, text: str) -> None:
    """Hide ``fig``'s axes (an empty date axis would show January 2000) and show
    ``text`` in their place."""
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(
        text=plot_text(text),
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        showarrow=False,
        font={"size": 16, "color": "#777"},
    )


def _history_kind(row: TrialRow) -> str:
    """``"infeasible"`` for a done trial with a positive constraint, else its state."""
    return "infeasible" if row.state == "done" and row.violation > 0 else row.state


def _x_values(rows: list[TrialRow], over: str) -> np.ndarray:
    if over == "number":
        return np.array([r.tid for r in rows], dtype=np.int64)
    return epoch_ms(floats([r.finished_at for r in rows]))


def _points(go: Any, x: Any, y: Any, kind: str, rows: list[TrialRow], mask: Any) -> Any:
    tids = np.array([r.tid for r in rows])[mask]
    pruned = kind == "pruned"
    color = INFEASIBLE_COLOR if kind == "infeasible" else STATE_COLORS[kind]
    return go.Scattergl(
        x=x,
        y=y,
        mode="markers",
        name=kind,
        customdata=tids,
        text=number_texts(y),  # the CLI's number format (plotly's .6g is not)
        marker={
            "color": color,
            "size": 7 if pruned else 5,
            "symbol": "x" if pruned else "circle",
            "opacity": 0.8 if pruned else 0.7,
        },
        hovertemplate=(
            f"trial %{{customdata}}<br>{'pruned at ' if pruned else 'loss '}"
            "%{text}<extra></extra>"
        ),
    )


def _axis_values(info: ParamInfo, column: np.ndarray) -> tuple[Any, dict[str, Any]]:
    """Plot coordinates of one parameter and the axis settings that label them."""
    if info.type == "choice":
        ticks = list(range(len(info.choices)))
        return column, {
            "tickvals": ticks,
            "ticktext": [plot_text(c) for c in info.choices],
        }
    if info.log:
        return column, {"type": "log"}
    return column, {}


#: Marker colours of the slices, early trials light, late ones dark: plotly's
#: "Blues" from its first visible step, as "Blues" starts at white, which left the
#: first trials of every study unseen on the white plot.
_TRIAL_COLOURS = [[0.0, "rgb(158,202,225)"], [0.5, "rgb(66,146,198)"],
                  [1.0, "rgb(8,48,107)"]]  # fmt: skip


def slice_figure(
    data: StudyData, importances: list[ParamImportance] | None = None
) -> go.Figure:
    """One panel per parameter: its value (x) against the loss (y), coloured by tid.

    At most 24 panels (8 rows of 280 px): a taller figure outgrows the WebGL canvas
    a browser holds (points stretched, panels blank). Past 24 parameters the most
    important ones are shown, most important first, or without importances the
    first 24; the title says so.

    Args:
        data: The study (finished trials with a single loss are drawn; for several
            objectives the first, by its name).
        importances: From :func:`~hpo_service.insight.param_importances`, to choose
            the panels of a study with more than 24 parameters.

    Returns:
        A grid of panels, 3 a row; choices by their option text, log-scale
        parameters on log axes, trials where a parameter is inactive left out of
        its panel; a label longer than 36 characters wraps over its panel. Every
        panel colours a trial alike (by tid, on the study's range, light blue to
        dark), so a conditional parameter's panel matches the colour bar.
    """
    from plotly.subplots import make_subplots

    go = _go()
    rows = scored_rows(data)
    params, shown = most_important(data.params, importances, MAX_SLICE_PANELS)
    name = plot_text(data.objective_names[0])
    hover = f"{name} %{{text}}"  # number_texts: the CLI's number format
    matrix = data.param_matrix(rows, params)
    loss = floats([r.score for r in rows])
    tids = np.array([r.tid for r in rows], dtype=np.int64)
    n_cols = min(_SLICE_COLUMNS, max(1, len(params)))
    n_rows = max(1, math.ceil(len(params) / n_cols))
    fig = make_subplots(
        rows=n_rows,
        cols=n_cols,
        subplot_titles=[_wrap_label(p.label) for p in params] or None,
        vertical_spacing=min(0.12, 0.6 / n_rows),
        horizontal_spacing=0.08,
    )
    for i, info in enumerate(params):
        r, c = divmod(i, n_cols)
        x, axis = _axis_values(info, matrix[info.label])
        active = ~np.isnan(x)
        fig.add_trace(
            go.Scattergl(
                x=x[active],
                y=loss[active],
                text=number_texts(loss[active]),
                mode="markers",
                showlegend=False,
                marker={
                    "color": tids[active],
                    "colorscale": _TRIAL_COLOURS,
                    "cmin": int(tids.min()) if tids.size else 0,
                    "cmax": int(tids.max()) if tids.size else 0,
                    "size": 4,
                    "showscale": i == 0,
                    "colorbar": {"title": "trial"},
                },
                hovertemplate=f"{plot_text(info.label)}=%{{x}}<br>{hover}"
                "<extra></extra>",
            ),
            row=r + 1,
            col=c + 1,
        )
        fig.update_xaxes(axis, row=r + 1, col=c + 1)
        fig.update_yaxes(type=loss_axis_type(loss), row=r + 1, col=c + 1)
    fig.update_layout(
        title=f"Slice: {name} against {shown or 'each parameter'}",
        height=max(350, 280 * n_rows),
        **LAYOUT,
    )
    return fig


def most_important(
    params: list[ParamInfo],
    importances: list[ParamImportance] | None,
    limit: int,
) -> tuple[list[ParamInfo], str | None]:
    """At most ``limit`` of ``params`` for a plot that cannot show them all.

    Args:
        params: The candidate parameters, in the study's order.
        importances: From :func:`~hpo_service.insight.param_importances`, most
            important first; ``None`` or too few ranked parameters fall back to the
            first ``limit`` in the study's order.
        limit: How many parameters the plot shows at most (>= 1).

    Returns:
        ``(shown, description)``: all of ``params`` and ``None`` when they fit,
        else the ``limit`` most important (most important first) or the first
        ``limit``, and ``"the N most important of M parameters"`` or ``"the first
        N of M parameters"`` for the plot's title.
    """
    if len(params) <= limit:
        return params, None
    by_label = {p.label: p for p in params}
    ranked = [by_label[p.label] for p in importances or [] if p.label in by_label]
    count = f"{limit} of {len(params)} parameters"
    if len(ranked) < limit:
        return params[:limit], f"the first {count}"
    return ranked[:limit], f"the {limit} most important of {len(params)} parameters"


def _wrap_label(label: str, width: int = _TITLE_WIDTH) -> str:
    """``label`` as plotly text (see :func:`plot_text`), broken into lines of at most
    ``width`` characters, after a ``.``, ``_``, ``/`` or space where there is one."""
    lines, rest = [], str(label)
    while len(rest) > width:
        cut = max(rest.rfind(sep, 1, width) for sep in "._/ ") + 1
        cut = cut if cut > width // 2 else width
        lines.append(rest[:cut])
        rest = rest[cut:]
    return "<br>".join(plot_text(line) for line in [*lines, rest])


#: Parameter axes the parallel coordinates draw at most: at the report's width
#: (a 1400 px window) more axes, or up to 3 objective axes next to more, crowd
#: their names into each other.
MAX_PARALLEL_AXES = 12


def parallel_figure(
    data: StudyData, importances: list[ParamImportance] | None = None
) -> go.Figure:
    """Parallel coordinates of the parameters and the loss, lines coloured by loss.

    Choices are shown by their values; a conditional parameter's inactive trials sit
    on an extra ``inactive`` tick below its range; log-scale parameters are drawn in
    log10 with their values as tick labels. A multi-objective study gets one axis per
    objective (named as in ``--objectives``), lines coloured by the first one.
    At most 12 parameter axes are drawn (more crowd their names into each other):
    past 12 parameters the most important ones, most important first, or without
    importances the first 12 (as the slices choose their panels); the objectives'
    axes are always drawn, and the title says which parameters are shown.

    Args:
        data: The study (finished trials with a loss, or with every loss).
        importances: From :func:`~hpo_service.insight.param_importances`, to choose
            the axes of a study with more than 12 parameters.

    Returns:
        One ``Parcoords`` trace: the parameter axes, then one axis per objective.
    """
    go = _go()
    several = data.n_objectives > 1
    rows = data.objective_rows() if several else scored_rows(data)
    objectives = _objective_columns(data, rows)
    matrix = data.param_matrix(rows, data.params)
    drawn = {info.label: _dimension(info, matrix[info.label]) for info in data.params}
    params = [info for info in data.params if drawn[info.label] is not None]
    params, shown = most_important(params, importances, MAX_PARALLEL_AXES)
    dims = [drawn[info.label] for info in params]
    width = _axis_name_width(len(dims) + len(objectives))
    ticks = _tick_text_width(len(dims) + len(objectives))
    for dim in dims:
        dim["ticktext"] = [middle_cut(str(text), ticks) for text in dim["ticktext"]]
    for info, dim in zip(params, dims, strict=True):
        dim["label"] = _axis_name(
            str(info.label) + (" (log)" if info.log else ""), width
        )
    title = "Parallel coordinates" + (f" ({shown})" if shown else "")
    labels = {info.label for info in data.params}
    objectives = [  # a parameter may be called "loss" too
        (f"{name} (objective)" if name in labels else name, values)
        for name, values in objectives
    ]
    dims += [
        {"label": _axis_name(name, width), "values": values}
        for name, values in objectives
    ]
    colour_name, colour = objectives[0]
    fig = go.Figure(
        go.Parcoords(
            line={
                "color": colour,
                "colorscale": "Viridis_r",
                "showscale": True,
                "colorbar": {"title": plot_text(colour_name)},
            },
            dimensions=dims,
            labelside="bottom",  # a wrapped name's lines run down, off the axes
        )
    )
    # Axis names sit below the axes, in a bottom margin as tall as their lines; the
    # first name is centred on the left edge: as wide a left margin.
    lines = max(str(d["label"]).count("<br>") + 1 for d in dims)
    first = max((len(t) for t in dims[0].get("ticktext", [])), default=0)
    left = max(60, 4 * width + 10, round(first * _TICK_CHAR_PX) + 16)
    fig.update_layout(**LAYOUT)
    fig.update_layout(
        title={"text": title, "y": 0.98, "yanchor": "top"},
        margin={"t": 80, "b": 40 + 14 * lines, "l": left},
        height=450 + 14 * (lines - 1),
    )
    return fig


#: Characters a line of a parallel-coordinates axis name holds at most, and the
#: lines a name may take (a longer one loses its middle to an ellipsis).
_AXIS_NAME_CHARS, _AXIS_NAME_LINES = 24, 5
_PLOT_WIDTH_PX, _CHAR_PX = 1150, 6.0  # at the report's 1400 px window; 12 px font


def _axis_name_width(n_axes: int) -> int:
    """Characters per line that keep neighbouring axis names apart: the space
    between two axes of a 1400 px wide report, at most 24, at least 8."""
    gap = _PLOT_WIDTH_PX / max(n_axes - 1, 1)
    return max(8, min(_AXIS_NAME_CHARS, int(gap / _CHAR_PX) - 2))


#: Widest character of a parallel-coordinates tick label (10 px font), in px; the
#: most characters a label keeps (choices show at most 24: _params._SHORT).
_TICK_CHAR_PX, _TICK_CHARS = 6.2, 24


def _tick_text_width(n_axes: int) -> int:
    """Characters a tick label (drawn left of its axis, towards the previous one)
    holds without reaching the previous axis's labels: the space between two axes
    of a 1400 px wide report, less the label's 7 px offset and a gap; at least 6."""
    gap = _PLOT_WIDTH_PX / max(n_axes - 1, 1)
    return max(6, min(_TICK_CHARS, int((gap - 14) / _TICK_CHAR_PX)))


def _axis_name(name: str, width: int) -> str:
    """An axis name as plotly text in lines of at most ``width`` characters: broken
    after a ``.``, ``_``, ``/`` or space where that takes at most 5 lines, else every
    ``width`` characters; a name longer than 5 lines keeps its start and end,
    joined by an ellipsis."""
    wrapped = _wrap_label(name, width)
    if wrapped.count("<br>") < _AXIS_NAME_LINES:
        return wrapped
    room = width * _AXIS_NAME_LINES
    if len(name) > room:
        head = (room - 1) // 2
        name = name[:head] + "…" + name[len(name) - (room - 1 - head) :]
    return "<br>".join(
        plot_text(name[i : i + width]) for i in range(0, len(name), width)
    )


def _objective_columns(
    data: StudyData, rows: list[TrialRow]
) -> list[tuple[str, np.ndarray]]:
    """``(name, values)`` per objective of ``rows``: the loss, or each loss."""
    if data.n_objectives == 1:
        return [(data.objective_names[0], floats([r.score for r in rows]))]
    losses = np.array([r.losses for r in rows], dtype=float)
    losses = losses.reshape(len(rows), data.n_objectives)
    return [(name, losses[:, i]) for i, name in enumerate(data.objective_names)]


def _dimension(info: ParamInfo, column: np.ndarray) -> dict[str, Any] | None:
    active = ~np.isnan(column)
    if not active.any():
        return None
    if info.type == "choice":
        ticks = list(range(len(info.choices)))
        text = list(info.choices)
        values = column.copy()
        if not active.all():
            values[~active] = -1.0
            ticks, text = [-1, *ticks], ["inactive", *text]
        return {
            "label": plot_text(info.label),
            "values": values,
            "tickvals": ticks,
            "ticktext": text,
        }
    values = np.log10(column) if info.log else column.copy()
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    ticks, text = _round_ticks(lo, hi, log=info.log)
    if not active.all():
        below = lo - 0.15 * (hi - lo or 1.0)
        values[~active] = below
        ticks, text = [below, *ticks], ["inactive", *text]
    return {
        "label": plot_text(info.label) + (" (log)" if info.log else ""),
        "values": values,
        "tickvals": ticks,
        "ticktext": text,
    }


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _round_ticks(lo: float, hi: float, *, log: bool) -> tuple[list[float], list[str]]:
    """Round tick positions within ``[lo, hi]`` and their labels, chosen by
    matplotlib's tick locators (``MaxNLocator``: at most 6 ticks at steps of 1, 2,
    2.5 or 5 times a power of ten; ``LogLocator`` on a log axis: powers of ten, or
    1, 2 and 5 times them where fewer than 3 powers fall in the range, or the
    linear steps within a decade), as plotly's parallel coordinates take
    explicit ticks only (an ``inactive`` tick, log axes drawn in log10).

    Args:
        lo, hi: The axis's range in plot coordinates (log10 of the value on a log
            axis), ``lo <= hi``.
        log: Whether the axis is drawn in log10.

    Returns:
        ``(positions, labels)``: positions in plot coordinates, labels the values.
    """
    from matplotlib.ticker import LogLocator, MaxNLocator

    if hi <= lo:
        return [lo], [_fmt(10**lo if log else lo)]
    linear = MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10])
    if log:  # powers of ten; 1, 2, 5 times them over a decade or two; else linear
        values: list[float] = []
        decades = [LogLocator(numticks=7), LogLocator(subs=(1.0, 2.0, 5.0))]
        for locator in [*decades[: 2 if hi - lo >= 1 else 0], linear]:
            found = locator.tick_values(10**lo, 10**hi)
            values = [v for v in found if v > 0 and lo <= math.log10(v) <= hi]
            if len(values) >= 3:
                break
        return [math.log10(v) for v in values], [_tick_text(v) for v in values]
    values = [float(v) for v in linear.tick_values(lo, hi) if lo <= v <= hi]
    return values, [_tick_text(v) for v in values]


def _tick_text(value: float) -> str:
    """A round tick value as text, without float noise (``0.30000000000000004``
    is ``0.3``) and with every digit it has (``2.975``, not ``2.98``)."""
    return f"{float(f'{value:.12g}'):.10g}"


def ranked_objective(data: StudyData) -> str | None:
    """The objective importances rank (the first), by name, when there are several
    (None for one objective, whose title needs no name)."""
    return plot_text(data.objective_names[0]) if data.n_objectives > 1 else None


def importance_figure(
    importances: list[ParamImportance],
    objective: str | None = None,
    *,
    linear: bool = False,
) -> go.Figure:
    """Horizontal bars of fANOVA importances, with the spread over trees.

    Args:
        importances: From :func:`~hpo_service.insight.param_importances`.
        objective: The name of the objective they rank, shown in the title (for a
            study with several objectives); None for one.
        linear: The study has no space: the title says that the parameters were
            measured on linear scales (see
            :func:`~hpo_service.insight._importance.linear_scale_note`).

    Returns:
        One bar per parameter (most important on top); the error bar is the
        standard deviation over the forest's trees, on the same normalised scale,
        cut at 0 and 1: an importance is a share of variance, and a per-tree share
        near 0 with a wide spread (few trials) would otherwise draw a whisker below
        0.
    """
    go = _go()
    ordered = list(reversed(importances))
    scale = max(sum(q.variance_fraction for q in importances), 1e-12)
    spread = [p.std / scale for p in ordered]
    above = [min(s, 1.0 - p.importance) for s, p in zip(spread, ordered, strict=True)]
    below = [min(s, p.importance) for s, p in zip(spread, ordered, strict=True)]
    fig = go.Figure(
        go.Bar(
            x=[p.importance for p in ordered],
            y=[plot_text(p.label) for p in ordered],
            orientation="h",
            marker_color=STATE_COLORS["done"],
            error_x={
                "type": "data",
                "symmetric": False,
                "array": above,
                "arrayminus": below,
            },
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    )
    caveat = "<br><sub>no search space: each parameter on a linear scale</sub>"
    fig.update_layout(
        title=f"Parameter importance{f' for {objective}' if objective else ''} "
        f"(fANOVA){caveat if linear else ''}",
        xaxis_title="importance",
        height=max(300, 40 * len(importances) + 120),
        **LAYOUT,
    )
    return fig


_PAIR_CANDIDATES = 6  # the most important parameters a contour's pair is drawn from


def contour_pair(
    data: StudyData, importances: list[ParamImportance]
) -> tuple[str, str] | None:
    """The two parameters the contour shows: the most important pair (by the sum
    of their ranks, the higher ranked first) that varied together, i.e. took at
    least two values each over 4 or more completed trials where both were active.

    The two most important parameters of a conditional space are often a choice and
    a parameter of one of its branches (``model`` and the ``hidden`` units of its
    ``mlp`` option): wherever ``hidden`` is active ``model`` has one value, so their
    contour was an empty box with the trials in one row.

    Args:
        data: The study.
        importances: Most important first (labels of :attr:`StudyData.params`).

    Returns:
        ``(x label, y label)``, or None when no two of the 6 most important
        parameters varied together.
    """
    infos = {p.label: p for p in data.params}
    ranked = [infos[i.label] for i in importances if i.label in infos]
    ranked = ranked[:_PAIR_CANDIDATES]
    rows = scored_rows(data)
    matrix = data.param_matrix(rows, ranked)
    pairs = sorted(itertools.combinations(range(len(ranked)), 2), key=sum)
    for i, j in pairs:
        x, y = matrix[ranked[i].label], matrix[ranked[j].label]
        both = ~(np.isnan(x) | np.isnan(y))
        if both.sum() >= 4 and np.ptp(x[both]) > 0 and np.ptp(y[both]) > 0:
            return ranked[i].label, ranked[j].label
    return None


def contour_figure(data: StudyData, pair: tuple[str, str]) -> go.Figure:
    """Loss interpolated over two parameters (linear, on the plot's scale), with the
    trials on top.

    The surface is a linear interpolation on a Delaunay triangulation (scipy's
    ``griddata``) of at most 4,000 trials, a seeded random subsample on longer
    studies: a triangulation grows faster than linearly when a parameter takes few
    values (an integer or a choice), and 4,000 points already give 60 x 60 grid
    cells about one trial each. Every trial is still drawn on top.

    Args:
        data: The study (finished trials with a single loss and both parameters
            active are used).
        pair: The labels of the x and y parameters.

    Returns:
        A 60 x 60 contour (empty outside the trials' convex hull) with the trials
        as points, its colour bar named after the (first) objective; log-scale
        parameters are interpolated and drawn in log space.

    Raises:
        KeyError: A label of ``pair`` is not a parameter of the study.
        ImportError: plotly or scipy is missing.
    """
    go = _go()
    infos = {p.label: p for p in data.params}
    px, py = infos[pair[0]], infos[pair[1]]
    rows = scored_rows(data)
    matrix = data.param_matrix(rows, [px, py])
    loss = floats([r.score for r in rows])
    x, y = _plot_scale(px, matrix[px.label]), _plot_scale(py, matrix[py.label])
    ok = ~(np.isnan(x) | np.isnan(y) | np.isnan(loss))
    x, y, loss = x[ok], y[ok], loss[ok]
    fig = go.Figure()
    if len(x) >= 4 and np.ptp(x) > 0 and np.ptp(y) > 0:
        gx = np.linspace(x.min(), x.max(), _GRID)
        gy = np.linspace(y.min(), y.max(), _GRID)
        fig.add_trace(
            go.Contour(
                x=_unscale(px, gx),
                y=_unscale(py, gy),
                z=_surface(x, y, loss, gx, gy),
                colorscale="Viridis_r",
                colorbar={"title": plot_text(data.objective_names[0])},
                contours={"coloring": "heatmap"},
                connectgaps=False,
            )
        )
    fig.add_trace(
        go.Scattergl(
            x=_unscale(px, x),
            y=_unscale(py, y),
            mode="markers",
            marker={"color": "black", "size": 3, "opacity": 0.5},
            name="trials",
            showlegend=False,
        )
    )
    x_name, y_name = plot_text(px.label), plot_text(py.label)
    fig.update_xaxes(title=x_name, **_scale_axis(px))
    fig.update_yaxes(title=y_name, **_scale_axis(py))
    fig.update_layout(title=f"Contour: {x_name} × {y_name}", **LAYOUT)
    return fig


def _surface(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, gx: np.ndarray, gy: np.ndarray
) -> np.ndarray:
    """``z`` linearly interpolated on the grid ``gy x gx`` (NaN outside the hull)."""
    from scipy.interpolate import griddata
    from threadpoolctl import threadpool_limits

    if len(x) > _CONTOUR_POINTS:
        keep = np.random.default_rng(0).choice(len(x), _CONTOUR_POINTS, replace=False)
        x, y, z = x[keep], y[keep], z[keep]
    # One BLAS thread: the triangulation makes one tiny LAPACK call per triangle,
    # and OpenBLAS's thread hand-off per call cost 10-40x the work (7.7 s instead
    # of 0.2 s for 20,000 trials on the shared 2-core machine).
    with threadpool_limits(limits=1, user_api="blas"):
        return griddata((x, y), z, tuple(np.meshgrid(gx, gy)), "linear")


def _plot_scale(info: ParamInfo, column: np.ndarray) -> np.ndarray:
    if info.log:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.log10(np.where(column > 0, column, np.nan))
    return column


def _unscale(info: ParamInfo, values: np.ndarray) -> np.ndarray:
    return 10**values if info.log else values


def _scale_axis(info: ParamInfo) -> dict[str, Any]:
    if info.type == "choice":
        return {
            "tickvals": list(range(len(info.choices))),
            "ticktext": [plot_text(c) for c in info.choices],
        }
    return {"type": "log"} if info.log else {}


def intermediate_figure(data: StudyData) -> go.Figure | None:
    """Each trial's reported values over steps; pruned ones dashed orange, with an
    orange cross where each was pruned (its last report).

    Args:
        data: The study; at most 1,000 curves are drawn (every k-th trial by tid).

    Returns:
        The figure, or None when no trial reported an intermediate value.
    """
    go = _go()
    rows = [r for r in data.sorted_rows() if r.intermediate]
    if not rows:
        return None
    if len(rows) > _MAX_CURVES:  # every k-th curve keeps the shape of the study
        rows = rows[:: math.ceil(len(rows) / _MAX_CURVES)]
    fig = go.Figure()
    for state in ("done", "pruned", "running", "error", "cancelled"):
        x, y = _curves([r for r in rows if r.state == state])
        if x:
            fig.add_trace(
                go.Scattergl(
                    x=x,
                    y=y,
                    mode="lines+markers",
                    name=state,
                    connectgaps=False,
                    marker={"size": 3},
                    opacity=0.6,
                    line={
                        "color": STATE_COLORS[state],
                        "width": 1,
                        "dash": "dash" if state == "pruned" else "solid",
                    },
                )
            )
    _mark_where_pruned(fig, [r for r in rows if r.state == "pruned"])
    fig.update_layout(
        title="Intermediate values (pruned trials dashed)",
        xaxis_title="step",
        yaxis_title="reported value",
        **LAYOUT,
    )
    return fig


def _mark_where_pruned(fig: go.Figure, pruned: list[TrialRow]) -> None:
    """An orange cross at each pruned trial's last report (as the history marks
    it): a trial pruned at its first report has no line to draw, only a point."""
    if not pruned:
        return
    go = _go()
    last = [max(r.intermediate) for r in pruned]
    values = [r.intermediate[step] for r, step in zip(pruned, last, strict=True)]
    fig.add_trace(
        go.Scattergl(
            x=last,
            y=values,
            text=number_texts(values),
            mode="markers",
            name="pruned here",
            marker={"symbol": "x", "size": 8, "color": STATE_COLORS["pruned"]},
            customdata=[r.tid for r in pruned],
            hovertemplate="trial %{customdata} pruned at step %{x}: %{text}"
            "<extra></extra>",
        )
    )


def _curves(rows: list[TrialRow]) -> tuple[list[float | None], list[float | None]]:
    x: list[float | None] = []
    y: list[float | None] = []
    for row in rows:
        steps = sorted(row.intermediate)
        x.extend([*steps, None])
        y.extend([*(row.intermediate[s] for s in steps), None])
    return x, y


def pareto_figure(data: StudyData) -> go.Figure | None:
    """The Pareto front of a study of two or more objectives, else None.

    Args:
        data: The study (``done`` trials with a full loss vector are drawn; axes are
            titled with :attr:`~hpo_service.insight.StudyData.objective_names`).

    Returns:
        For 2 or 3 objectives a 2-D (WebGL) or 3-D scatter: the front in red (the
        front ``hpo-driver best`` shows: feasible trials no other feasible one
        dominates), other feasible trials in blue, infeasible ones (a positive
        constraint) in grey. For 4 or more, parallel coordinates of the front: one
        line per front trial, one axis per objective (see
        :func:`front_parallel_figure`). None for one objective or no such trial yet.
    """
    go = _go()
    n = data.n_objectives
    # an infinite loss (stored before results had to be finite) has no place on axes
    rows = [r for r in data.objective_rows() if np.isfinite(r.losses).all()]
    if n < 2 or not rows:
        return None
    if n > 3:
        return front_parallel_figure(data, rows)
    points = np.array([r.losses for r in rows], dtype=float)
    front = {r.tid for r in data.pareto_rows()}
    on_front = np.array([r.tid in front for r in rows])
    feasible = np.array([r.violation <= 0 for r in rows])
    tids = np.array([r.tid for r in rows])
    fig = go.Figure()
    for mask, name, color in (
        (feasible & ~on_front, "trials", "#9ecae1"),
        (~feasible, "infeasible", INFEASIBLE_COLOR),
        (on_front, "Pareto front", "#d62728"),
    ):
        if mask.any():
            coords = {k: points[mask, i] for i, k in enumerate("xyz"[:n])}
            trace = go.Scatter3d if n == 3 else go.Scattergl
            marker = {"color": color, "size": 4 if n == 3 else 6}
            fig.add_trace(trace(mode="markers", name=name, customdata=tids[mask],
                                marker=marker, **coords))  # fmt: skip
    _name_axes(fig, data.objective_names)
    drawn = int(on_front.sum())
    count = f"{drawn} trial" + ("" if drawn == 1 else "s")
    fig.update_layout(title=f"Pareto front ({count})", **LAYOUT)
    return fig


def front_parallel_figure(data: StudyData, rows: list[TrialRow]) -> go.Figure | None:
    """Parallel coordinates of the Pareto front of a study of 4 or more objectives:
    one line per front trial (the front ``hpo-driver best`` lists), one axis per
    objective in ``--objectives`` order with plotly's own (round) ticks, lines
    coloured by the first objective (Inselberg's parallel coordinates, as in
    Deb, *Multi-Objective Optimization using Evolutionary Algorithms*, 2001, for
    fronts of more than three objectives).

    Args:
        data: The study.
        rows: Its trials with a full, finite loss vector (``objective_rows``).

    Returns:
        One ``Parcoords`` trace, or None while the front is empty.
    """
    go = _go()
    finite = {r.tid for r in rows}
    front = sorted(
        (r for r in data.pareto_rows() if r.tid in finite), key=lambda r: r.tid
    )
    if not front:
        return None
    losses = np.array([r.losses for r in front], dtype=float)
    names = data.objective_names
    width = _axis_name_width(len(names))
    dims = [
        {"label": _axis_name(name, width), "values": losses[:, i]}
        for i, name in enumerate(names)
    ]
    line = {"color": losses[:, 0], "colorscale": "Viridis_r", "showscale": True,
            "colorbar": {"title": plot_text(names[0])}}  # fmt: skip
    fig = go.Figure(go.Parcoords(line=line, dimensions=dims, labelside="bottom"))
    lines = max(str(d["label"]).count("<br>") + 1 for d in dims)
    count = counted(len(front), "trial")
    fig.update_layout(**LAYOUT)
    fig.update_layout(
        title={"text": f"Pareto front ({count}; one line per trial)", "y": 0.98,
               "yanchor": "top"},
        margin={"t": 80, "b": 40 + 14 * lines, "l": max(60, 4 * width + 10)},
        height=450 + 14 * (lines - 1),
    )  # fmt: skip
    return fig


def _name_axes(fig: Any, names: list[str]) -> None:
    """Title the axes of a 2-D (x, y) or 3-D (scene) objective-space figure."""
    names = [plot_text(name) for name in names]
    if len(names) == 2:
        fig.update_layout(xaxis_title=names[0], yaxis_title=names[1])
        return
    axes = ("xaxis_title", "yaxis_title", "zaxis_title")
    # a cube: objectives have unrelated units, and plotly's "auto" aspect (each axis
    # as long as its range, unless one is over 4 times another) drew a long box
    # that ran past the figure's edges, its ticks and names cut off
    # (plotly's default camera, 1.25 from the centre on each axis, still cut the
    # first objective's name and last tick at the scene's bottom: 1.6 leaves room)
    eye = {"x": 1.6, "y": 1.6, "z": 1.6}
    fig.update_layout(scene={**dict(zip(axes, names, strict=True)),
                             "aspectmode": "cube", "camera": {"eye": eye}})  # fmt: skip
