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
