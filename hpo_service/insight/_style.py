"""Colours and axis helpers shared by the figures."""

from __future__ import annotations

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
BEST_COLOR = "#2ca02c"
LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 50, "b": 50}}


def datetimes(epoch_seconds: np.ndarray) -> np.ndarray:
    """Epoch seconds (NaN for unknown) as ``datetime64[ms]`` (NaT for unknown), UTC."""
    out = np.full(len(epoch_seconds), np.datetime64("NaT"), dtype="datetime64[ms]")
    known = ~np.isnan(epoch_seconds)
    out[known] = (epoch_seconds[known] * 1000).astype("int64").astype("datetime64[ms]")
    return out


def floats(values: list[Any]) -> np.ndarray:
    """A float array with NaN for None."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def loss_axis_type(losses: np.ndarray) -> str:
    """``"log"`` when every loss is positive and they span more than 3 decades."""
    finite = losses[np.isfinite(losses)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 1e3:
        return "log"
    return "linear"
