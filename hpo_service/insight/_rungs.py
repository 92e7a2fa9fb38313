"""The rungs of an ASHA or Hyperband study as a figure: per rung, how many trials
passed it, were pruned there or wait to be judged, and which share of the first and
of the last half of the judged trials passed.

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
    (hover: passed/judged); later trials pass more often when the search finds
    better configurations.

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

    labels = [r["label"] for r in rungs]
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(
            "Trials at each rung",
            "Passed, of the trials judged there (first, last half)",
        ),
        horizontal_spacing=0.12,
    )
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
        text = ["{}/{}".format(*r[key]) for r in rungs]
        fig.add_bar(
            x=labels, y=[_share(*r[key]) for r in rungs], name=half, offsetgroup=half,
            marker_color=_COLORS[half], text=text, textposition="outside",
            hovertemplate="%{x}: %{text} passed<extra>" + half + "</extra>",
            row=1, col=2,
        )  # fmt: skip
    fig.update_layout(barmode="group", **LAYOUT)
    fig.update_yaxes(title_text="trials", row=1, col=1)
    fig.update_yaxes(
        title_text="passed", tickformat=".0%", range=[0, 1.15], row=1, col=2
    )
    return fig


def _rungs(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each rung's counts and its passed form in one dict, with a label (``step
    3``; Hyperband: ``bracket 1, step 3``); [] without rungs."""
    return [
        {**rung, **fates, "label": _label(bracket, rung["step"])}
        for bracket, rung, fates in rungs_with_passed(record)
    ]


def _label(bracket: int | None, step: int) -> str:
    return f"step {step}" if bracket is None else f"bracket {bracket}, step {step}"


def _share(passed: int, judged: int) -> float | None:
    """``passed / judged``, or None (no bar) when none was judged."""
    return passed / judged if judged else None
