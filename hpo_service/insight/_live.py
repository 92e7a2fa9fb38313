"""What the dashboard serves, independent of the web framework: studies with their
progress, trial changes since a cursor, and figures, all read-only.

Each study's :class:`~hpo_service.insight.StudyData` is kept in memory and refreshed
with ``changes_since`` (only trials changed since the last refresh are read); every
browser polls with its own store cursor, so an update costs one indexed query for the
changed trials, never a read of the whole study.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from hpo_service._common.settings import budget_of, started_in_python
from hpo_service.algorithms.pruners._ladder import (
    ladder_notes,
    no_rungs_note,
    pruned_at_text,
    rung_table,
)
from hpo_service.insight import _figures
from hpo_service.insight._data import (
    StudyData,
    TrialRow,
    finished_count,
    row_from_trial,
)
from hpo_service.insight._importance import param_importances
from hpo_service.insight._report import contour_pair, missing_figures
from hpo_service.insight._rungs import study_rung_figure
from hpo_service.insight._style import fit_renderer
from hpo_service.insight._workers import timeline_figure

if TYPE_CHECKING:
    from collections.abc import Callable

    from hpo_service.store import BaseTrialStore

_logger = logging.getLogger(__name__)

#: Figures the dashboard can ask for, cheapest first.
FIGURES = (
    "history", "history_time", "pareto", "rungs", "parallel", "slice",
    "intermediate", "timeline", "importance", "contour",
)  # fmt: skip
_REFRESH_EVERY = 0.5  # seconds between two store reads for one study's figures
_IMPORTANCE_EVERY = 30.0  # seconds an importance result is reused while trials arrive


class _LiveStudy:
    def __init__(self, data: StudyData) -> None:
        self.data = data
        self.lock = threading.Lock()
        self.refreshed = 0.0
        self.importance_at = -1.0
        self.importance_n = -1
        self.importances: list[Any] = []


class LiveStore:
    """Read-only views of a store's studies for the dashboard (thread-safe).

    Args:
        store: An open trials store; only its read methods are called.
    """

    def __init__(self, store: BaseTrialStore) -> None:
        self.store = store
        self._studies: dict[str, _LiveStudy] = {}
        self._lock = threading.Lock()

    def studies(self) -> list[dict[str, Any]]:
        """Every study with its budget, counts by state and best loss."""
        out = []
        for study in self.store.list_studies():
            counts = {
                s.value: n for s, n in self.store.count_by_state(study.name).items()
            }
            out.append({
                "name": study.name,
                "max_evals": budget_of(study.settings),
                "cancelled": bool(study.settings.get("cancelled")),
                "counts": counts,
                "finished": finished_count(counts),
                "updated_at": study.updated_at,
            })  # fmt: skip
        return out

    def changes(self, study: str, cursor: int) -> dict[str, Any]:
        """Trials of ``study`` changed after ``cursor``, as table rows, and the next
        cursor; ``cursor=0`` gives every trial. The summary reads the study's settings
        afresh (a resumed study may have a new ``max_evals``).

        Raises:
            StudyNotFoundError: No such study.
        """
        live = self._live(study)
        settings = self.store.get_study(study).settings  # a resume may raise the budget
        with live.lock:
            live.data.settings = dict(settings)
            if cursor > live.data.cursor:  # the cache lags behind this browser
                live.data.refresh(self.store)
            trials, next_cursor = self.store.changes_since(study, cursor)
            rows = [row_from_trial(t) for t in trials]
            live.data.apply(rows)
            if cursor <= live.data.cursor:  # the delta covers the cache's gap
                live.data.cursor = max(live.data.cursor, next_cursor)
            summary = summary_of(live.data)
            table = [table_row(live.data, r) for r in rows]
        return {
            "study": study,
            "cursor": next_cursor,
            "rows": table,
            **summary,
        }

    def figures(self, study: str, names: list[str]) -> str:
        """A JSON object ``{name: plotly figure}`` for the names asked, as text: a
        figure the study cannot draw yet is ``{"note": why}`` (the report's note),
        unknown names and figures that do not apply are left out, and ``"pending":
        true`` says the importance and contour are from fewer done trials than the
        study has (the page asks again, even when no trial changes meanwhile).

        Raises:
            StudyNotFoundError: No such study.
        """
        live = self._live(study)
        _import_what_plotly_peeks_at()
        with live.lock:
            if time.monotonic() - live.refreshed > _REFRESH_EVERY:
                live.data.refresh(self.store)
                live.refreshed = time.monotonic()
            parts = []
            for name in names:
                if note := self._missing(live, name):
                    parts.append(f"{json.dumps(name)}: {json.dumps({'note': note})}")
                elif (fig := self._figure(live, name)) is not None:
                    fig = fit_renderer(fig, name)
                    parts.append(f"{json.dumps(name)}: {fig.to_json()}")
            if {"importance", "contour"} & set(names) and self._outdated(live):
                parts.append('"pending": true')
            return "{" + ", ".join(parts) + "}"

    def _outdated(self, live: _LiveStudy) -> bool:
        """Whether the importances shown are from fewer done trials than the study
        has (reused for ``_IMPORTANCE_EVERY`` seconds): the page asks again."""
        return live.importance_n != live.data.counts().get("done", 0)

    def _missing(self, live: _LiveStudy, name: str) -> str | None:
        """Why figure ``name`` cannot be drawn yet (the report's note), or None."""
        ranked = None
        if name in ("importance", "contour"):
            ranked = self._importances(live)
        return missing_figures(live.data, ranked).get(name)

    def _figure(self, live: _LiveStudy, name: str) -> Any:
        data = live.data
        if name in ("importance", "contour"):
            ranked = self._importances(live)
            if name == "importance":
                objective = _figures.ranked_objective(data)
                linear = not data.has_space
                return (
                    _figures.importance_figure(ranked, objective, linear=linear)
                    if ranked
                    else None
                )
            pair = contour_pair(data, ranked)
            return None if pair is None else _figures.contour_figure(data, pair)
        importances = functools.partial(self._importances, live)
        builders = {
            "history": lambda: _figures.history_figure(data, over="number"),
            "history_time": lambda: _figures.history_figure(data, over="time"),
            "pareto": lambda: _figures.pareto_figure(data),
            "parallel": lambda: _wide(
                _figures.parallel_figure, _figures.MAX_PARALLEL_AXES, data, importances
            ),
            "slice": lambda: _wide(
                _figures.slice_figure, _figures.MAX_SLICE_PANELS, data, importances
            ),
            "intermediate": lambda: _figures.intermediate_figure(data),
            "timeline": lambda: timeline_figure(data, now=self.store.now()),
            "rungs": lambda: study_rung_figure(data),
        }
        build = builders.get(name)
        return None if build is None else build()

    def _importances(self, live: _LiveStudy) -> list[Any]:
        """The study's importances, reused for ``_IMPORTANCE_EVERY`` seconds while
        done trials arrive (a forest fit costs seconds on a big study); an empty
        result (too few done trials with distinct losses) is never reused: it costs
        no fit, and the figures it holds back are drawn once the trials are there."""
        n = live.data.counts().get("done", 0)
        stale = time.monotonic() - live.importance_at > _IMPORTANCE_EVERY
        fresh = live.importance_n < 0 or not live.importances
        if n != live.importance_n and (stale or fresh):
            live.importances = param_importances(live.data)
            live.importance_at, live.importance_n = time.monotonic(), n
        return live.importances

    def _live(self, study: str) -> _LiveStudy:
        with self._lock:
            live = self._studies.get(study)
            if live is None:
                live = _LiveStudy(StudyData.for_study(self.store.get_study(study)))
                self._studies[study] = live
            return live


#: Modules plotly looks up in ``sys.modules`` without importing them (its validators
#: and JSON encoder test values against ``pandas.Series``, ``PIL.Image.Image``, ...).
_PEEKED_MODULES = ("pandas", "PIL.Image")


@functools.cache
def _import_what_plotly_peeks_at() -> None:
    """Import the installed :data:`_PEEKED_MODULES` before a figure is built.

    The dashboard builds figures in several threads at once. scikit-learn imports
    pandas when the importance's forest is first fitted, and plotly, while it builds
    another study's figure in another thread, finds that half-imported pandas in
    ``sys.modules`` and fails on ``pd.Series`` (an ``AttributeError``: a 500 for that
    figure). An ``import`` waits for another thread's import of the same module to
    end, so once this has run in a thread every peeked module is whole.
    """
    for name in _PEEKED_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _wide(
    figure: Callable[..., Any],
    limit: int,
    data: StudyData,
    importances: Callable[[], list[Any]],
) -> Any:
    """``figure(data, importances)`` of a plot that shows at most ``limit``
    parameters: importances are computed only for a study with more."""
    if not data.params:
        return None
    return figure(data, importances() if len(data.params) > limit else None)


def summary_of(data: StudyData) -> dict[str, Any]:
    """Counts by state (``counts``: ``done`` holds the trials that returned status
    ``fail``, ``failed`` counts them; ``outcomes``: as shown, ``done`` status ok
    then ``failed``, :meth:`StudyData.outcomes`), how many done trials are
    infeasible, finished count, budget,
    objective names, the best trial (one objective) or the Pareto front's size
    (``front``, several objectives), and what the pruner did (``pruning``: as
    ``hpo-driver status --json`` gives it, with ``notes_text``, its notes as the
    report words them, and ``rung_table``, the report's table of the rungs as
    ``{"head": [...], "rows": [[...], ...]}`` of text, empty without rungs; None
    without a pruner; ``pruning_note``: why there is no rung table, one line, or
    None under ASHA or Hyperband)."""
    counts = data.counts()
    best = data.best_row()
    several = data.n_objectives > 1
    ladder = data.pruning()
    pruning = None if ladder is None else ladder.as_dict()
    note = None
    if pruning is not None:
        head, rows = rung_table(pruning)
        pruning |= {"pruned_at": pruned_at_text(pruning)}
        pruning |= {"notes_text": ladder_notes(pruning)}
        pruning |= {"rung_table": {"head": head, "rows": rows}}
    if ladder is None or not ladder.brackets:
        name = data.settings.get("pruner")
        note = no_rungs_note(name, started_in_python(data.settings))
    return {
        "pruning": pruning,
        "pruning_note": note,
        "counts": counts,
        "failed": data.failed_count(),
        "outcomes": data.outcomes(),
        "infeasible": data.infeasible_count(),
        "finished": finished_count(counts),
        "max_evals": data.max_evals,
        "best": None if best is None else {"tid": best.tid, "loss": best.loss},
        "front": len(data.pareto_rows()) if several else None,
        "objectives": data.objective_names,
    }


def table_row(data: StudyData, row: TrialRow) -> dict[str, Any]:
    """One trial as the dashboard's table shows it (choices by value)."""
    infos = {p.label: p for p in data.params}
    params = {
        k: (infos[k].display(v) if k in infos else v) for k, v in row.params.items()
    }
    return {
        "tid": row.tid,
        "state": row.state,
        "loss": row.loss if row.losses is None else list(row.losses),
        "params": params,
        "duration": row.duration,
        "owner": row.owner,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "error": _error_text(row),
    }


def _error_text(row: TrialRow) -> str | None:
    """The table's error cell: an error trial's type and message, or for a done
    trial whose objective returned ``STATUS_FAIL`` (no loss; ``status`` counts it
    as failed) "status fail (no loss)", so that it does not pass for a done trial
    with a loss left blank; else None."""
    if row.error_type:
        return f"{row.error_type}: {row.error_message or ''}"
    if row.state == "done" and row.status == "fail":
        return "status fail (no loss)"
    return None
