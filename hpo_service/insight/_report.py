"""The self-contained HTML report of a study (plotly.js embedded, no network needed)."""

from __future__ import annotations

import html
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo_service._common.outcomes import FAILED
from hpo_service._common.settings import started_in_python
from hpo_service._common.words import counted
from hpo_service.algorithms.pruners._ladder import (
    ladder_notes,
    no_rungs_note,
    pruned_at_text,
    rung_table,
)
from hpo_service.insight import _figures
from hpo_service.insight._data import finished_count
from hpo_service.insight._failures import FailureGroup, failure_groups
from hpo_service.insight._importance import (
    ParamImportance,
    linear_scale_note,
    param_importances,
)
from hpo_service.insight._rungs import study_rung_figure
from hpo_service.insight._style import fit_renderer
from hpo_service.insight._workers import WorkerUsage, timeline_figure, worker_usage

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from hpo_service.insight._data import StudyData

_logger = logging.getLogger(__name__)


@dataclass
class StudyReport:
    """Everything the report shows, computed once.

    Attributes:
        figures: ``{name: figure}`` in page order (names: history, history_time,
            parallel, slice, importance, contour, intermediate, rungs, timeline,
            pareto; ``rungs``, under ASHA or Hyperband, is drawn in the pruning
            section).
        importances: fANOVA importances, most important first.
        failures: Error trials grouped by type.
        workers: Per-worker utilisation.
        notes: Why sections are missing, one line each.
    """

    data: StudyData
    figures: dict[str, go.Figure] = field(default_factory=dict)
    importances: list[ParamImportance] = field(default_factory=list)
    failures: list[FailureGroup] = field(default_factory=list)
    workers: list[WorkerUsage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def build_report(data: StudyData, *, importances: bool = True) -> StudyReport:
    """Compute every figure and table of the report.

    Args:
        data: The study.
        importances: Whether to compute fANOVA importances (and the contour of the
            most important pair).

    Returns:
        The report's parts.
    """
    report = StudyReport(data)
    figs = report.figures
    figs["history"] = _figures.history_figure(data, over="number")
    figs["history_time"] = _figures.history_figure(data, over="time")
    if data.n_objectives > 1:
        figs["pareto"] = _figures.pareto_figure(data)
    if importances:
        report.importances = param_importances(data)
    missing = missing_figures(data, report.importances if importances else None)
    if data.params and "parallel" not in missing:
        figs["parallel"] = _figures.parallel_figure(data, report.importances)
        figs["slice"] = _figures.slice_figure(data, report.importances)
    if report.importances:
        figs["importance"] = _figures.importance_figure(
            report.importances,
            _figures.ranked_objective(data),
            linear=not data.has_space,
        )
        if note := linear_scale_note(data):
            report.notes.append(note)
    if "contour" not in missing and len(report.importances) >= 2:
        pair = contour_pair(data, report.importances)
        figs["contour"] = pair and _figures.contour_figure(data, pair)
    report.notes += list(dict.fromkeys(missing.values()))
    if infinite := data.infinite_count():
        report.notes.append(_infinite_note(infinite))
    figs["intermediate"] = _figures.intermediate_figure(data)
    figs["rungs"] = study_rung_figure(data)
    figs["timeline"] = timeline_figure(data, now=data.read_at)
    report.failures = failure_groups(data)
    report.workers = worker_usage(data, now=data.read_at)
    report.figures = {k: fit_renderer(v, k) for k, v in figs.items() if v is not None}
    return report


def _infinite_note(count: int) -> str:
    """Why ``count`` done trials with an infinite loss are missing from the plots."""
    return (
        f"{count} done {'trial' if count == 1 else 'trials'} with an infinite loss "
        f"{'is' if count == 1 else 'are'} left out of the plots and the "
        "parameter importance (no place on a loss axis)."
    )


def missing_figures(
    data: StudyData, importances: list[ParamImportance] | None
) -> dict[str, str]:
    """The figures a study cannot draw yet, each with why (one line, shared by the
    figures it names): the report writes the lines as notes, the dashboard in the
    figures' place.

    Args:
        data: The study.
        importances: The parameters' importances, most important first, or None
            when they were not computed (then importance and contour are not named).

    Returns:
        ``{figure name: reason}`` for ``pareto`` (4 or more objectives and no
        feasible trial: the parallel coordinates draw the front only),
        ``parallel`` and ``slice`` (no completed trial with a loss to draw),
        ``importance`` and ``contour``.
    """
    missing: dict[str, str] = {}
    if (data.n_objectives or 1) > 3:
        missing |= _no_feasible_front(data)
    if not data.params:
        return missing
    if not _figures.scored_rows(data):
        why = (
            "No parallel coordinates or slices: they draw completed (done) trials, "
            f"and the study has none yet{_not_used(data)}."
        )
        missing |= {"parallel": why, "slice": why}
    if importances is None:
        return missing
    if len(importances) >= 2:
        if contour_pair(data, importances) is None:
            missing["contour"] = (
                "No contour: no two of the most important parameters varied together "
                "in 4 or more completed trials (a choice and a parameter of one of "
                "its options never do)."
            )
        return missing
    if len(importances) == 1:
        return missing | {
            "contour": "No contour: it needs two parameters that varied, and only "
            "one did."
        }
    why = (
        "No parameter importance or contour: they need at least 4 completed (done) "
        f"trials with distinct losses, and the study has {done_with_loss(data)}"
        f"{_not_used(data)}."
    )
    return missing | {"importance": why, "contour": why}


def _no_feasible_front(data: StudyData) -> dict[str, str]:
    """``{"pareto": why}`` for a study of 4 or more objectives whose done trials
    all break a constraint (its front figure draws front trials only, so it has
    nothing to draw, where a 2- or 3-objective study's scatter draws them grey);
    else ``{}``."""
    done = [r for r in data.objective_rows() if all(map(math.isfinite, r.losses))]
    if not done or data.pareto_rows():
        return {}
    trials = (
        "its one done trial breaks"
        if len(done) == 1
        else f"each of its {len(done)} done trials breaks"
    )
    return {
        "pareto": "No Pareto front plot yet: the front holds feasible trials only, "
        f"and {trials} a constraint (a positive value)."
    }


def contour_pair(
    data: StudyData, importances: list[ParamImportance]
) -> tuple[str, str] | None:
    """:func:`~hpo_service.insight._figures.contour_pair`, computed once per version
    of the study's trials and ranking: the note on a missing contour and the
    contour itself (the report's, the dashboard's) both ask for it."""
    if len(importances) < 2:
        return None
    ranking = tuple(p.label for p in importances)
    return data.derived(
        f"contour pair {ranking!r}", lambda: _figures.contour_pair(data, importances)
    )


def done_with_loss(data: StudyData) -> str:
    """``"6 done"``, or with done trials that returned ``STATUS_FAIL`` (no loss)
    ``"2 done with a loss"``: the done trials figures and importances can use."""
    failed = data.unscored_done()
    used = data.counts().get("done", 0) - failed
    return f"{used} done with a loss" if failed else f"{used} done"


def not_used(data: StudyData) -> dict[str, int]:
    """``{"failed (status fail)": 8, "pruned": 2, ...}``: the finished trials the
    figures and importances leave out, by kind (kinds without any omitted); the
    failed are done trials without a loss (``STATUS_FAIL``)."""
    counts = data.counts()
    left = {"failed (status fail)": data.unscored_done()}
    left |= {s: counts.get(s, 0) for s in ("pruned", "error", "cancelled")}
    return {kind: n for kind, n in left.items() if n}


def _not_used(data: StudyData) -> str:
    """`` (not used: 8 failed (status fail), 2 pruned, 1 error)``, the trials the
    figures leave out."""
    left = ", ".join(f"{n} {kind}" for kind, n in not_used(data).items())
    return f" (not used: {left})" if left else ""


def write_report(
    data: StudyData, out: str | Path, *, image_format: str | None = None
) -> list[Path]:
    """Write the HTML report, and each figure as an image if asked.

    Args:
        data: The study.
        out: Path of the HTML file (its folder must exist).
        image_format: ``"png"`` or ``"svg"`` to also write ``<out stem>-<figure>.<fmt>``
            beside it (needs kaleido and a Chrome or Chromium), or None.

    Returns:
        The paths written, the HTML file first.

    Raises:
        ValueError: ``image_format`` is not png or svg.
        ImportError: plotly (or, for images, kaleido) is missing.
    """
    if image_format not in (None, "png", "svg"):
        raise ValueError(
            "`image_format` must be 'png' or 'svg', but got "
            f"image_format={image_format!r}"
        )
    started = time.perf_counter()
    report = build_report(data)
    out = Path(out)
    out.write_text(report_html(report), encoding="utf-8")
    written = [out]
    if image_format is not None:
        written += _write_images(report, out, image_format)
    _logger.debug(
        "report of %r written in %.2f s", data.name, time.perf_counter() - started
    )
    return written


#: Loggers of kaleido and the browser driver under it (choreographer): they log
#: every tab and temporary folder at INFO, which the CLI's log would show.
_IMAGE_LOGGERS = ("kaleido", "choreographer", "chrome_wrapper", "logistro")


def _write_images(report: StudyReport, out: Path, fmt: str) -> list[Path]:
    import plotly.io as pio

    paths = [out.with_name(f"{out.stem}-{name}.{fmt}") for name in report.figures]
    try:
        _quiet(_IMAGE_LOGGERS)
        pio.write_images(list(report.figures.values()), paths, format=fmt)
    except (ImportError, ValueError, RuntimeError) as e:
        raise ImportError(
            f"writing {fmt} images needs kaleido and a Chrome or Chromium browser "
            f'(pip install "hpo-service[dashboard]"; then `plotly_get_chrome` or '
            f"your system's chromium package): {e}"
        ) from e
    return paths


def _quiet(names: tuple[str, ...]) -> None:
    """Set the named loggers to WARNING unless a level was set for them already.

    Not restored afterwards: kaleido's browser cleanup logs from its own thread
    after the images are written.
    """
    for name in names:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


def report_html(report: StudyReport) -> str:
    """The whole report as one HTML document with plotly.js inlined."""
    from plotly.offline import get_plotlyjs

    data = report.data
    parts = [
        _head(f"{data.name}: study report", get_plotlyjs()),
        f'<h1>Study <span id="study-name">{_e(data.name)}</span></h1>',
        summary_html(data),
        *(f'<p class="muted" id="report-note">{_e(n)}</p>' for n in report.notes),
        *_sections(report),
        "</body></html>",
    ]
    return "\n".join(parts)


def _sections(report: StudyReport) -> list[str]:
    titles = {
        "history": "History",
        "history_time": "History over time",
        "pareto": "Pareto front",
        "parallel": "Parallel coordinates",
        "slice": "Slices",
        "importance": "Parameter importance",
        "contour": "Contour of the two most important parameters",
        "intermediate": "Intermediate values",
        "timeline": "Workers",
    }
    out = []
    pruning = pruning_html(report.data, report.figures.get("rungs"))
    for name, fig in report.figures.items():
        if name == "rungs":  # in the pruning section
            continue
        out.append(f'<section id="section-{name}"><h2>{titles.get(name, name)}</h2>')
        out.append(figure_div(fig, name))
        if name == "importance":
            out.append(importance_table(report.importances))
        if name == "timeline":
            out.append(workers_table(report.workers))
        out.append("</section>")
        if name == "intermediate" and pruning:  # what the pruner made of the curves
            out.append(pruning)
            pruning = ""
    if pruning:  # no trial reported: the section says so
        out.append(pruning)
    out.append('<section id="section-failures"><h2>Failures</h2>')
    out.append(failures_table(report.failures))
    out.append("</section>")
    return out


def figure_div(fig: go.Figure, name: str) -> str:
    """One figure as a ``<div id="plot-NAME">`` (plotly.js must be on the page)."""
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"plot-{name}",
        config={"displaylogo": False, "responsive": True},
    )


def _head(title: str, script: str) -> str:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{STYLE}</style>"
        f"<script>{script}</script></head><body>"
    )


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
section { margin-bottom: 2em; }
.muted { color: #777; }
"""


def summary_html(data: StudyData) -> str:
    """Counts by state (``done`` status ok, ``failed`` status fail, as
    :meth:`StudyData.outcomes`; and how many done trials are infeasible), budget
    and the best trial (or the Pareto front), as HTML."""
    counts = data.counts()
    budget = data.max_evals
    infeasible = data.infeasible_count()
    cells = " ".join(
        f"{_e(s)}={n}"
        + (f" ({infeasible} infeasible)" if s == "done" and infeasible else "")
        + (" (status fail)" if s == FAILED else "")
        for s, n in data.outcomes().items()
    )
    return (
        f'<p><b><span id="finished-count">{finished_count(counts)}</span></b> '
        "finished"
        + (f" of {budget}" if budget else "")
        + f' <span class="muted">({cells or "no trials"})</span></p>'
        f'<p id="best">{_best_text(data)}</p>'
    )


def _best_text(data: StudyData) -> str:
    """``Best: loss ... (trial t): params``, or the front's size and objectives."""
    if data.n_objectives > 1:
        names = ", ".join(_e(n) for n in data.objective_names)
        return f"Pareto front: {counted(len(data.pareto_rows()), 'trial')} ({names})"
    best = data.best_row()
    if best is None:
        finished = finished_count(data.counts())
        if data.max_evals and finished >= data.max_evals:  # "yet" would promise one
            return f"Best: none: no trial of the {finished} finished succeeded"
        return "Best: none yet"
    params = ", ".join(
        f"{_e(k)}={_e(_value_text(data, k, v))}" for k, v in sorted(best.params.items())
    )
    return f"Best: loss {best.loss:.6g} (trial {best.tid}): {params}"


def _value_text(data: StudyData, label: str, value: Any) -> str:
    infos = {p.label: p for p in data.params}
    info = infos.get(label)
    shown = info.display(value) if info is not None else value
    return f"{shown:.6g}" if isinstance(shown, float) else str(shown)


def importance_table(importances: list[ParamImportance]) -> str:
    """The importances as an HTML table."""
    rows = "".join(
        f"<tr><td>{_e(p.label)}</td><td class=num>{p.importance:.3f}</td>"
        f"<td class=num>{p.variance_fraction:.3f} ± {p.std:.3f}</td></tr>"
        for p in importances
    )
    return (
        "<table><tr><th>parameter</th><th>importance</th>"
        "<th>fraction of loss variance (± over trees)</th></tr>" + rows + "</table>"
        '<p class="muted">fANOVA on a random forest (Hutter, Hoos and Leyton-Brown, '
        "ICML 2014).</p>"
    )


def workers_table(workers: list[WorkerUsage]) -> str:
    """Per-worker utilisation as an HTML table."""
    rows = "".join(
        f"<tr><td>{_e(w.owner)}</td><td class=num>{w.trials}</td>"
        f"<td class=num>{w.busy:.1f}</td><td class=num>{w.idle:.1f}</td>"
        f"<td class=num>{w.longest_gap:.1f}</td>"
        f"<td class=num>{w.utilisation:.0%}</td></tr>"
        for w in workers
    )
    quiet = max((w.quiet for w in workers), default=0.0)
    note = (
        f'<p class="muted">{quiet / 3600:.3g} h in which no trial of the study ran '
        "(cut from the timeline) is not counted as idle.</p>"
        if quiet
        else ""
    )
    return (
        "<table id='workers'><tr><th>worker</th><th>trials</th><th>busy (s)</th>"
        "<th>idle (s)</th><th>longest gap (s)</th><th>utilisation</th></tr>"
        + rows
        + "</table>"
        + note
    )


def pruning_html(data: StudyData, figure: go.Figure | None = None) -> str:
    """What the study's pruner did, as a section: its rule; under ASHA or
    Hyperband one table of the rungs (a bracket column for Hyperband; per rung the
    trials that reached it, went on and were pruned there, and of the trials judged
    there how many passed it, in all and in the first and last half by trial
    number: the counts of ``hpo-driver status``) and ``figure`` (the rungs'
    figure); under median/percentile the steps trials were pruned at; then the
    notes. Without rungs a one-line note says why; "" for a study not read from a
    store (its pruner is not known)."""
    ladder = data.pruning()
    python = started_in_python(data.settings)
    if ladder is None:
        if data.read_at is None:
            return ""
        note = no_rungs_note(data.settings.get("pruner"), python)
        return _pruning_section([f'<p class="muted" id="pruning-none">{_e(note)}</p>'])
    record = ladder.as_dict()
    parts = [f'<p id="pruning-rule">{_e(record["rule"])}</p>']
    if ladder.brackets:
        parts.append(_table_html("pruning-rungs", *rung_table(record)))
        if figure is not None:
            parts.append(figure_div(figure, "rungs"))
    else:
        if text := pruned_at_text(record):
            parts.append(f'<p id="pruning-steps">{_e(text)}</p>')
        note = no_rungs_note(ladder.pruner, python)
        parts.append(f'<p class="muted" id="pruning-none">{_e(note)}</p>')
    parts += [f'<p class="muted">{_e(line)}</p>' for line in ladder_notes(record)]
    return _pruning_section(parts)


def _pruning_section(parts: list[str]) -> str:
    return "\n".join(
        ['<section id="section-pruning"><h2>Pruning</h2>', *parts, "</section>"]
    )


def _table_html(table_id: str, head: list[str], rows: list[list[str]]) -> str:
    """A table of text cells, right-aligned (numbers); "" without rows."""
    if not rows:
        return ""
    titles = "".join(f"<th>{_e(title)}</th>" for title in head)
    body = "".join(
        "<tr>" + "".join(f"<td class=num>{_e(cell)}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table id='{table_id}'><tr>{titles}</tr>{body}</table>"


def failures_table(groups: list[FailureGroup]) -> str:
    """Error trials grouped by type as an HTML table."""
    if not groups:
        return "<p id='failures'>No trial failed.</p>"
    rows = "".join(
        f"<tr><td>{_e(g.type)}</td><td class=num>{g.count}</td>"
        f"<td class=num>{g.example_tid}</td><td>{_e(g.example_message)}</td></tr>"
        for g in groups
    )
    return (
        "<table id='failures'><tr><th>error type</th><th>trials</th>"
        "<th>example trial</th><th>example message</th></tr>" + rows + "</table>"
    )


def _e(text: Any) -> str:
    return html.escape(str(text))
