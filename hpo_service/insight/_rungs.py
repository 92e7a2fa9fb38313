"""The rungs of an ASHA or Hyperband study as a figure: per rung, how many trials
passed it, were pruned there or wait to be judged, and which share of the first and
of the last half of the judged trials passed. A Hyperband study's rungs are grouped
by bracket on the x axis (a step under its bracket), and past
:data:`SIDE_BY_SIDE` rungs the two panels are drawn one above the other, each the
figure's width.

Drawn from the counts ``hpo-driver status`` shows
(:meth:`~hpo_service.algorithms.pruners._ladder.PruningLadder.as_dict`), nothing
counted again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hpo_service.algorithms.pruners._ladder import rungs_with_passed
from hpo_service.insight._style import LAYOUT, STATE_COLORS

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from hpo_service.insight._data import StudyData

#: Most rungs drawn with the two panels side by side. Hyperband's default ladder
#: (``max_resource`` 81, ``reduction_factor`` 3) has 10 rungs in 4 brackets: in half a
#: report's width their 20 "passed/judged" texts ran into each other and the rung
#: labels were slanted over the next ones.
SIDE_BY_SIDE = 4
#: The figure's height in pixels with the panels one above the other.
STACKED_HEIGHT = 800

#: Bar colours: passed as the completed trials, pruned as the pruned ones.
_COLORS = {
    "passed": STATE_COLORS["done"],
    "pruned": STATE_COLORS["pruned"],
    "not judged yet": "#c7c7c7",
    "first half": "#9ecae1",
    "last half": STATE_COLORS["done"],
}


def study_rung_figure(data: StudyData) -> go.Figure | None:
    """:func:`rung_figure` of the study's pruning record, built once per version of
    its trials (the report's and the dashboard's, which asks at every poll); None
    without ASHA or Hyperband."""
    ladder = data.pruning()
    if ladder is None:
        return None
    return data.derived("rung figure", lambda: rung_figure(ladder.as_dict()))


def rung_figure(record: Mapping[str, Any]) -> go.Figure | None:
    """Two bar panels over the rungs of an ASHA or Hyperband study.

    Left, stacked: of the trials that reached each rung, those that passed it
    (reached the next rung or completed), those pruned there, and the rest (running
    below the next rung, or ended in an error). Right: the share of the judged
    trials that passed, for the first and the last half of them by trial number
    (text and hover: passed/judged; no text where the half holds no judged trial);
    later trials pass more often when the search finds better configurations.
    Hyperband: each rung is labelled with its step under its bracket. More than
    :data:`SIDE_BY_SIDE` rungs: the right panel goes below the left one.

    Args:
        record: :meth:`~hpo_service.algorithms.pruners._ladder.PruningLadder.as_dict`'s
            form of an ``asha`` or ``hyperband`` ladder.

    Returns:
        The figure, or None for another pruner's record or one whose rungs no
        trial reached yet.
    """
    rungs = _rungs(record)
    if not any(r["reached"] for r in rungs):
        return None
    from plotly.subplots import make_subplots

    labels = _x(rungs)
    stacked = len(rungs) > SIDE_BY_SIDE
    fig = make_subplots(
        rows=2 if stacked else 1,
        cols=1 if stacked else 2,
        subplot_titles=(
            "Trials at each rung",
            "Passed, of the trials judged there (first, last half)",
        ),
        horizontal_spacing=0.12,
        vertical_spacing=0.2,
    )
    shares = {"row": 2, "col": 1} if stacked else {"row": 1, "col": 2}
    counts = {
        "passed": [r["passed"] for r in rungs],
        "pruned": [r["pruned"] for r in rungs],
        "not judged yet": [r["reached"] - r["judged"] for r in rungs],
    }
    base = [0] * len(rungs)
    for name, ys in counts.items():  # one offset group, each on the last: stacked
        fig.add_bar(
            x=labels, y=ys, base=list(base), name=name, offsetgroup="counts",
            marker_color=_COLORS[name], row=1, col=1,
        )  # fmt: skip
        base = [b + y for b, y in zip(base, ys, strict=True)]
    for half in ("first half", "last half"):  # an offset group each: side by side
        key = half.replace(" ", "_")
        text = ["{}/{}".format(*r[key]) if r[key][1] else "" for r in rungs]
        fig.add_bar(
            x=labels, y=[_share(*r[key]) for r in rungs], name=half, offsetgroup=half,
            marker_color=_COLORS[half], text=text, textposition="outside",
            customdata=[r["label"] for r in rungs],
            hovertemplate="%{customdata}: %{text} passed<extra>" + half + "</extra>",
            **shares,
        )  # fmt: skip
    fig.update_layout(barmode="group", **LAYOUT)
    if stacked:
        fig.update_layout(height=STACKED_HEIGHT)
    fig.update_yaxes(title_text="trials", row=1, col=1)
    fig.update_yaxes(title_text="passed", tickformat=".0%", range=[0, 1.15], **shares)
    return fig


def _rungs(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each rung's counts and its passed form in one dict, with a label (``step
    3``; Hyperband: ``bracket 1, step 3``); [] without rungs."""
    return [
        {**rung, **fates, "bracket": bracket, "label": _label(bracket, rung["step"])}
        for bracket, rung, fates in rungs_with_passed(record)
    ]


def _x(rungs: list[dict[str, Any]]) -> list[str] | list[list[str]]:
    """The bars' x: ASHA ``step 3`` per rung; Hyperband, a two-level (plotly
    ``multicategory``) axis: ``[["bracket 0", ...], ["step 1", ...]]``."""
    if rungs[0]["bracket"] is None:
        return [r["label"] for r in rungs]
    brackets = [f"bracket {r['bracket']}" for r in rungs]
    return [brackets, [f"step {r['step']}" for r in rungs]]


def _label(bracket: int | None, step: int) -> str:
    return f"step {step}" if bracket is None else f"bracket {bracket}, step {step}"


def _share(passed: int, judged: int) -> float | None:
    """``passed / judged``, or None (no bar) when none was judged."""
    return passed / judged if judged else None
