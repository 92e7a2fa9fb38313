"""hyperopt's ``hyperopt.plotting`` functions, and the report's figures for any study.

``main_plot_history``, ``main_plot_histogram``, ``main_plot_vars`` and
``main_plot_1D_attachment`` draw with matplotlib what hyperopt's functions of the same
names draw, so notebooks written for
``hyperopt.plotting`` keep working after ``from hpo_service import plotting``. They
accept a ``Trials``, a ``StoreTrials``, or (as an extension) a store URL with
``study=``. Like hyperopt's they draw on matplotlib's current figure and call
``plt.show()`` when ``do_show`` is true; unlike hyperopt's (which return None) they
return the axes they drew on. Where hyperopt's fail on a ``Trials`` without a loss
(an empty one, or one whose trials all failed) with an unpacking ``ValueError``, ours
raise a ``ValueError`` that says so (the histogram and ``main_plot_vars`` need a
finite loss: infinite ones cannot be binned or shaded).

:func:`report_figures` returns the HTML report's interactive plotly figures.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo_service.insight import as_study_data
from hpo_service.insight._attachments import attachment_reader, attachment_values
from hpo_service.objective._result import (
    STATUS_FAIL,
    STATUS_NEW,
    STATUS_OK,
    STATUS_PRUNED,
    STATUS_RUNNING,
)

if TYPE_CHECKING:
    from hpo_service.insight import StudyData
    from hpo_service.insight._data import TrialRow

__all__ = [
    "default_status_colors",
    "main_plot_1D_attachment",
    "main_plot_histogram",
    "main_plot_history",
    "main_plot_vars",
    "report_figures",
]

#: Marker colour of each result status (hyperopt's defaults; a pruned trial, at the
#: last value it reported, in the report's orange).
default_status_colors = {
    STATUS_NEW: "k",
    STATUS_RUNNING: "g",
    STATUS_OK: "b",
    STATUS_FAIL: "r",
    STATUS_PRUNED: "tab:orange",
}


_NO_PLACE = "(no place on a loss axis)"


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError(
            "hpo_service.plotting needs matplotlib: "
            'pip install "hpo-service[dashboard]"'
        ) from e
    return plt


def _scored(data: StudyData) -> list[tuple[int, float, str]]:
    """(tid, loss, status) of every trial with a loss, in tid order (as hyperopt);
    with several objectives, the first one's loss (as the report plots it)."""
    return [
        (row.tid, row.score, row.status or STATUS_OK)
        for row in data.sorted_rows()
        if row.score is not None
    ]


def _loss_label(data: StudyData) -> str:
    """The loss axis' label: ``loss``, or the first objective's name."""
    n = data.n_objectives
    return "loss" if n == 1 else f"{data.objective_names[0]} (first of {n} objectives)"


def main_plot_history(
    trials: Any,
    do_show: bool = True,
    status_colors: dict[str, str] | None = None,
    title: str = "Loss History",
    *,
    study: str | None = None,
) -> Any:
    """Scatter every trial's loss in trial order, with a line at the best loss (that
    of ``Trials.best_trial``: trials that satisfy their constraints come first).

    With several objectives the first one is drawn (as in the HTML report), without
    a best line (``Trials.best_trials`` is a Pareto front, not one loss). Infinite
    losses (hyperopt accepts them) cannot be drawn: a printed line says how many.
    A pruned trial is drawn at the last value it reported, in orange (in a
    single-objective study; in a multi-objective one it has no loss to draw).

    Args:
        trials: A ``Trials``, a ``StoreTrials`` or a store URL (with ``study``).
        do_show: Call ``plt.show()`` at the end.
        status_colors: Marker colour by result status (default
            :data:`default_status_colors`, which also fills statuses it leaves out).
        title: The axes' title.
        study: The study, when ``trials`` is a store URL.

    Returns:
        The matplotlib axes drawn on.

    Raises:
        ValueError: No trial has a loss yet.
    """
    plt = _pyplot()
    colors = {**default_status_colors, **(status_colors or {})}
    data = as_study_data(trials, study)
    scored = _scored(data)
    if not scored:
        raise ValueError("`trials` must hold a trial with a loss, but none has one")
    losses = [loss for _, loss, _ in scored]
    plt.scatter(range(len(losses)), losses, c=[colors[s] for _, _, s in scored])
    plt.xlabel("time")
    plt.ylabel(_loss_label(data))
    infinite = sum(1 for loss in losses if math.isinf(loss))
    if infinite:  # matplotlib drops them without a word
        noun = "trial" if infinite == 1 else "trials"
        print(f"{infinite} {noun} with an infinite loss left out", _NO_PLACE)
    best = data.best_row()  # Trials.best_trial: constraints satisfied first
    if best is not None and data.n_objectives == 1:
        print("avg best error:", best.loss)
        plt.axhline(best.loss, c="g")
    plt.title(title)
    return _finish(plt, do_show)


def main_plot_histogram(
    trials: Any,
    do_show: bool = True,
    title: str = "Loss Histogram",
    *,
    study: str | None = None,
) -> Any:
    """Histogram of the trials' losses (the first objective's, with several).

    Args:
        trials: A ``Trials``, a ``StoreTrials`` or a store URL (with ``study``).
        do_show: Call ``plt.show()`` at the end.
        title: The axes' title.
        study: The study, when ``trials`` is a store URL.

    Returns:
        The matplotlib axes drawn on.

    Raises:
        ValueError: No trial has a finite loss yet.
    """
    plt = _pyplot()
    data = as_study_data(trials, study)
    scored = [loss for _, loss, _ in _scored(data)]
    losses = [loss for loss in scored if math.isfinite(loss)]  # numpy bins no inf
    if not losses:
        raise ValueError("`trials` must hold a trial with a finite loss, but none has")
    left_out = len(scored) - len(losses)
    note = f" ({left_out} with an infinite loss left out)" if left_out else ""
    print(f"Showing Histogram of {len(losses)} jobs{note}")
    plt.hist(losses)
    plt.xlabel(_loss_label(data))
    plt.ylabel("frequency")
    plt.title(title)
    return _finish(plt, do_show)


def main_plot_vars(
    trials: Any,
    do_show: bool = True,
    fontsize: int = 10,
    colorize_best: int | None = None,
    columns: int = 5,
    arrange_by_loss: bool = False,
    *,
    study: str | None = None,
) -> Any:
    """One panel per parameter: its value in each trial, shaded by the trial's loss.

    As in hyperopt, panels are ordered by label (a title longer than its panel
    wraps onto a second line, and past two lines is cut in the middle with "…");
    x is the trial id (or the loss with ``arrange_by_loss``); shading runs from
    black (best) to light grey (worst), and the ``colorize_best`` best trials are
    green (by the first objective, with several). A log-scale parameter (known from
    the study's space, or, as hyperopt does, "log" in its label) is drawn on a log
    axis.

    Args:
        trials: A ``Trials``, a ``StoreTrials`` or a store URL (with ``study``).
        do_show: Call ``plt.show()`` at the end.
        fontsize: Font size of the panel titles.
        colorize_best: How many of the best trials to draw in green, or None.
        columns: Panels per row.
        arrange_by_loss: Put the loss, not the trial id, on the x axes.
        study: The study, when ``trials`` is a store URL.

    Returns:
        The matplotlib axes drawn on, one per parameter.

    Raises:
        ValueError: No trial has a finite loss yet.
    """
    plt = _pyplot()
    data = as_study_data(trials, study)
    rows = data.sorted_rows()
    finite = sorted(
        r.score for r in rows if r.score is not None and math.isfinite(r.score)
    )
    if not finite:
        raise ValueError("`trials` must hold a trial with a finite loss, but none has")
    threshold = finite[min(colorize_best, len(finite) - 1)] if colorize_best else None
    shade = _shader(finite[0], finite[-1], threshold)
    params = sorted(data.params, key=lambda p: p.label)
    n_cols = min(columns, max(1, len(params)))
    n_rows = math.ceil(len(params) / n_cols)
    axes = []
    wrapped = False
    for number, info in enumerate(params):
        ax = plt.subplot(n_rows, n_cols, number + 1)
        width = _title_width(ax, fontsize)
        active = [r for r in rows if info.label in r.params]
        x = [r.score if arrange_by_loss else r.tid for r in active]
        y = [r.params[info.label] for r in active]
        title = _panel_title(info.label, width)
        ax.set_title(title, fontsize=fontsize)
        wrapped = wrapped or "\n" in title
        ax.set_xticklabels([])
        if y:
            ax.scatter(x, y, c=[shade(r.score) for r in active])
        if info.log or "log" in info.label:
            ax.set_yscale("log")
        axes.append(ax)
    if wrapped:  # room for two-line titles between the rows
        plt.subplots_adjust(hspace=0.45)
    _finish(plt, do_show)
    return axes


def _title_width(ax: Any, fontsize: float) -> int:
    """Characters of a title that fit over ``ax`` without reaching the next panel's
    (a character is about 0.62 of the font size wide; a title may spread a tenth
    past its panel, into the gap between panels)."""
    points = ax.get_position().width * ax.figure.get_figwidth() * 72
    return max(6, int(points * 1.1 / (0.62 * fontsize)))


def _panel_title(label: str, width: int) -> str:
    """``label`` in at most two lines of ``width`` characters, a longer one cut in
    the middle with "…": a long label no longer runs over its neighbours'."""
    if len(label) <= width:
        return label
    if len(label) > 2 * width:
        head = width - 1
        label = label[:head] + "…" + label[len(label) - width :]
    return label[:width] + "\n" + label[width:]


def _shader(low: float, high: float, threshold: float | None) -> Any:
    span = high - low + 1e-4

    def shade(loss: float | None) -> tuple[float, float, float]:
        if loss is None or not math.isfinite(loss):
            return (1.0, 1.0, 1.0)
        t = float(np.clip((loss - low) / span, 0.0, 1.0))
        if threshold is not None and loss < threshold:
            return (0.0, 1.0 - t, 0.0)
        return (t, t, t)

    return shade


def _finish(plt: Any, do_show: bool) -> Any:
    if do_show:
        plt.show()
    return plt.gca()


def _unchanged(values: np.ndarray) -> Any:
    return values


def main_plot_1D_attachment(
    trials: Any,
    attachment_name: str,
    do_show: bool = True,
    colorize_by_loss: bool = True,
    max_darkness: float = 0.5,
    num_trails: int | None = None,
    preprocessing_fn: Callable[[np.ndarray], Any] = _unchanged,
    line_width: float = 0.1,
    *,
    study: str | None = None,
) -> Any:
    """One line per trial: its attachment ``attachment_name``, a 1-D array (a
    learning curve, say), shaded by the trial's loss, as hyperopt draws it.

    Each trial with a loss (the first objective's, with several; a pruned trial's
    last reported value) that has the attachment gets a line of its values
    (squeezed: shape ``(n,)``, ``(n, 1)`` or ``(1, n)``; other shapes are left out,
    a printed line says how many) after ``preprocessing_fn``, labelled
    ``loss: <loss>``. Shading is hyperopt's: black with alpha ``max_darkness *
    (loss - lowest) / (highest - lowest)``, so the highest loss is darkest and the
    lowest is transparent (equal losses: all at ``max_darkness``). An attachment is
    a pickle (hyperopt's ``pickle.dumps(array)``), an ``np.save`` file or JSON text;
    a pickle is read only if it holds numbers (numpy arrays and scalars, lists),
    never one that would run code.

    Args:
        trials: A ``Trials``, a ``StoreTrials`` or a store URL (with ``study``).
        attachment_name: The attachment (a key of ``result["attachments"]``).
        do_show: Add a legend (with fewer than 10 trials) and call ``plt.show()``.
        colorize_by_loss: Shade by loss; False takes matplotlib's colour cycle.
        max_darkness: The alpha of the highest loss, 0 to 1.
        num_trails: Plot this many trials spread evenly over the trials sorted by
            loss (hyperopt's spelling), or every trial (None).
        preprocessing_fn: Applied to each 1-D array before it is drawn.
        line_width: Line width in points.
        study: The study, when ``trials`` is a store URL.

    Returns:
        The matplotlib axes drawn on.

    Raises:
        ValueError: No trial has a loss, none of them has the attachment, an
            attachment is no array of numbers, or an argument is out of range.
    """
    if not 0 <= max_darkness <= 1:
        raise ValueError(
            f"`0 <= max_darkness <= 1` must hold, but got max_darkness={max_darkness}"
        )
    if num_trails is not None and num_trails < 1:
        raise ValueError(
            f"`num_trails >= 1` must hold, but got num_trails={num_trails}"
        )
    plt = _pyplot()
    rows = [
        r for r in as_study_data(trials, study).sorted_rows() if r.score is not None
    ]
    if not rows:
        raise ValueError("`trials` must hold a trial with a loss, but none has one")
    shade = _darkness([r.score for r in rows], max_darkness)
    picked = _spread_by_loss(rows, num_trails)
    plt.title(attachment_name)
    read, close = attachment_reader(trials, study)
    try:
        lines = [
            (row, _attachment_line(read, row.tid, attachment_name)) for row in picked
        ]
    finally:
        close()
    drawn = [(row, line) for row, line in lines if line is not None and line.ndim == 1]
    if not drawn and all(line is None for _, line in lines):
        raise ValueError(
            f"a trial with a loss must have attachment {attachment_name!r}, but none "
            f"of the {len(picked)} plotted has"
        )
    for row, line in drawn:
        plt.plot(preprocessing_fn(line), linewidth=line_width,
                 color=shade(row.score) if colorize_by_loss else None,
                 label=f"loss: {row.score:.5}")  # fmt: skip
    other = sum(1 for _, line in lines if line is not None and line.ndim != 1)
    if other:
        noun = "trial" if other == 1 else "trials"
        print(f"{other} {noun} left out: {attachment_name!r} is not one-dimensional")
    if do_show and len(picked) < 10:
        plt.legend()
    return _finish(plt, do_show)


def _attachment_line(
    read: Callable[[int, str], Any], tid: int, name: str
) -> np.ndarray | None:
    blob = read(tid, name)
    if blob is None:
        return None
    try:
        return np.squeeze(np.asanyarray(attachment_values(blob)))
    except ValueError as e:
        raise ValueError(f"attachment {name!r} of trial {tid}: {e}") from e


def _spread_by_loss(rows: list[TrialRow], count: int | None) -> list[TrialRow]:
    """Every row (None), or ``count`` rows at even steps through them by loss."""
    if count is None:
        return rows
    by_loss = sorted(rows, key=lambda r: r.score)
    steps = np.linspace(0, len(by_loss), count, endpoint=False, dtype=int)
    return [by_loss[i] for i in steps]


def _darkness(
    scores: Sequence[float], max_darkness: float
) -> Callable[[float], tuple[float, float, float, float]]:
    finite = [s for s in scores if math.isfinite(s)] or [0.0]
    low, span = min(finite), max(finite) - min(finite)

    def shade(score: float) -> tuple[float, float, float, float]:
        share = float(np.clip((score - low) / span, 0.0, 1.0)) if span else 1.0
        return (0.0, 0.0, 0.0, max_darkness * share)

    return shade


def report_figures(source: Any, study: str | None = None) -> dict[str, Any]:
    """The HTML report's plotly figures for a study.

    Args:
        source: A ``Trials``, a ``StoreTrials``, a store URL (with ``study``) or a
            :class:`~hpo_service.insight.StudyData`.
        study: The study, when ``source`` is a store URL.

    Returns:
        ``{name: plotly Figure}``: history, history_time, parallel, slice,
        importance, contour, intermediate, rungs (ASHA or Hyperband: per rung the
        trials that passed, were pruned, wait), timeline, pareto (those that
        apply).
    """
    from hpo_service.insight import build_report

    return build_report(as_study_data(source, study)).figures
