"""Colours and axis helpers shared by the figures."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

#: Colour of each trial state (and of "best so far").
STATE_COLORS = {
    "done": "#1f77b4",
    "error": "#d62728",
    "pruned": "#ff7f0e",
    "cancelled": "#7f7f7f",
    "running": "#2ca02c",
    "new": "#bcbd22",
}
#: Colour of finished trials that break a constraint (a positive constraint value).
INFEASIBLE_COLOR = "#bdbdbd"
BEST_COLOR = "#2ca02c"
LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 50, "b": 50}}


def epoch_ms(epoch_seconds: np.ndarray) -> np.ndarray:
    """Epoch seconds as epoch milliseconds, what a plotly ``date`` axis reads (UTC).

    Numbers travel to the page as a typed array (a few bytes each) where datetimes
    would be ISO strings; NaN (unknown) stays NaN and leaves a gap.
    """
    return np.asarray(epoch_seconds, dtype=float) * 1000.0


def floats(values: list[Any]) -> np.ndarray:
    """A float array with NaN for None."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def loss_axis_type(losses: np.ndarray) -> str:
    """``"log"`` when every loss is positive and they span more than 3 decades."""
    finite = losses[np.isfinite(losses)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 1e3:
        return "log"
    return "linear"


def plot_text(text: str) -> str:
    """``text`` (a user's label, objective name or choice) as plotly draws it
    literally: plotly reads titles, axis and category labels and hover text as a
    subset of HTML, so ``<i>`` would turn italic and ``&amp;`` into ``&``."""
    return html.escape(str(text), quote=False)


def number_texts(values: Any) -> list[str]:
    """Each float as the CLI and the dashboard's tables write it, Python's
    ``format(v, ".6g")``: six significant digits, scientific below 1e-4 and from
    1e6 (``3.03973e-06``). A plot's hover shows these (``%{text}``): plotly's own
    ``.6g`` (d3's) writes 3.04e-6 as 0.00000303973.

    Args:
        values: A sequence (or 1-D array) of floats, NaN allowed.

    Returns:
        One text per value, in order.
    """
    return [format(float(v), ".6g") for v in values]


#: A figure drawing more points than this draws them with WebGL (``scattergl``),
#: fewer as SVG (plotly express's rule for ``render_mode="auto"``). A page keeps at
#: most 16 WebGL contexts in Chromium (8 on Android) and drops the oldest beyond
#: them, leaving its figure blank: each WebGL scatter figure takes 2 and the
#: parallel coordinates 3, so a multi-objective study with pruning, 8 such figures
#: (17 contexts), lost its history plot, though it had 30 trials.
WEBGL_MIN_POINTS = 1000
#: Figures drawn as SVG at any size, so that a page of every figure of a large study
#: stays under 16 contexts: 4 WebGL scatter figures (history, history_time, slice,
#: intermediate: 8), the parameters' parallel coordinates (3) and the Pareto front
#: (a 3-objective scatter3d: 1; parallel coordinates of a 4+-objective front: 3)
#: make 14 at most. The contour's markers were a WebGL figure too: a 3-objective
#: study with pruning then opened exactly 16 (counted in headless Chromium), with
#: none to spare. The contour draws one pair, a marker per trial; the timeline
#: (always SVG, :func:`~hpo_service.insight.timeline_figure`) one path per outcome.
SVG_ONLY = frozenset({"pareto", "contour"})


def fit_renderer(fig: Any, name: str) -> Any:
    """``fig`` (figure ``name`` of the report) with its WebGL scatter traces turned
    into SVG ones when it draws at most :data:`WEBGL_MIN_POINTS` points or is one of
    :data:`SVG_ONLY` (the same traces, options and data; only the renderer differs).

    Args:
        fig: A plotly figure (any traces; only ``scattergl`` ones are changed).
        name: Its name in the report (history, pareto, ...).

    Returns:
        ``fig`` itself when it keeps WebGL, else a new figure with its layout.
    """
    gl = [t for t in fig.data if t.type == "scattergl"]
    points = sum(len(t.y if t.x is None else t.x) for t in gl if t.y is not None)
    if not gl or (points > WEBGL_MIN_POINTS and name not in SVG_ONLY):
        return fig
    import plotly.graph_objects as go

    def svg(trace: Any) -> Any:
        if trace.type != "scattergl":
            return trace
        spec = trace.to_plotly_json()
        spec.pop("type")
        return go.Scatter(spec)

    return go.Figure(data=[svg(t) for t in fig.data], layout=fig.layout)
