"""See a study: its trials as data, plots, parameter importance and the HTML report.

``StudyData.from_store(store, "name")`` (or ``load_study(url, "name")``) reads a study;
the figure functions return plotly figures; ``param_importances`` computes fANOVA
importances; ``trials_dataframe`` gives the trials as a pandas DataFrame;
``write_report`` writes the self-contained HTML report that ``hpo-driver report``
writes. Plotting needs the extra: ``pip install
"hpo-service[dashboard]"``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpo_service.insight._data import StudyData, TrialRow, pareto_front
    from hpo_service.insight._failures import FailureGroup, failure_groups
    from hpo_service.insight._figures import (
        contour_figure,
        history_figure,
        importance_figure,
        intermediate_figure,
        parallel_figure,
        pareto_figure,
        slice_figure,
    )
    from hpo_service.insight._frame import trials_dataframe
    from hpo_service.insight._importance import ParamImportance, param_importances
    from hpo_service.insight._params import ParamInfo
    from hpo_service.insight._report import StudyReport, build_report, write_report
    from hpo_service.insight._workers import WorkerUsage, timeline_figure, worker_usage
    from hpo_service.trials import TrialsView

#: Where each public name lives; imported on first use, so that ``hpo-driver``
#: (which registers this package's commands) loads none of it for ``status``.
_LOCATIONS = {
    **dict.fromkeys(["StudyData", "TrialRow", "pareto_front"], "_data"),
    **dict.fromkeys(["FailureGroup", "failure_groups"], "_failures"),
    **dict.fromkeys(
        [
            "contour_figure",
            "history_figure",
            "importance_figure",
            "intermediate_figure",
            "parallel_figure",
            "pareto_figure",
            "slice_figure",
        ],
        "_figures",
    ),
    "trials_dataframe": "_frame",
    **dict.fromkeys(["ParamImportance", "param_importances"], "_importance"),
    "ParamInfo": "_params",
    **dict.fromkeys(["StudyReport", "build_report", "write_report"], "_report"),
    **dict.fromkeys(["WorkerUsage", "timeline_figure", "worker_usage"], "_workers"),
}

__all__ = [
    "FailureGroup",
    "ParamImportance",
    "ParamInfo",
    "StudyData",
    "StudyReport",
    "TrialRow",
    "WorkerUsage",
    "as_study_data",
    "build_report",
    "contour_figure",
    "failure_groups",
    "history_figure",
    "importance_figure",
    "intermediate_figure",
    "load_study",
    "parallel_figure",
    "param_importances",
    "pareto_figure",
    "pareto_front",
    "slice_figure",
    "timeline_figure",
    "trials_dataframe",
    "worker_usage",
    "write_report",
]


def load_study(db: str, study: str) -> StudyData:
    """Read a study from a store URL (``sqlite:///...``, ``mongodb://...``).

    Raises:
        StudyNotFoundError: No such study.
        StoreConnectionError: The store cannot be reached.
    """
    from hpo_service.insight._data import StudyData
    from hpo_service.store import open_store

    with open_store(db) as store:
        return StudyData.from_store(store, study)


def as_study_data(source: Any, study: str | None = None) -> StudyData:
    """A :class:`StudyData` from a ``Trials``, a ``StoreTrials``, a store URL + study,
    or a :class:`StudyData` (returned as is).

    Raises:
        TypeError: ``source`` is none of these, or a URL is given without ``study``.
    """
    from hpo_service.insight._data import StudyData

    if isinstance(source, StudyData):
        return source
    if isinstance(source, str):
        if study is None:
            raise TypeError("a store URL needs `study`, but got study=None")
        return load_study(source, study)
    if hasattr(source, "trials"):
        trials: TrialsView = source
        return StudyData.from_trials(trials)
    raise TypeError(
        "`source` must be a Trials, StoreTrials, store URL or StudyData, but got "
        f"{type(source).__name__}"
    )


def __getattr__(name: str) -> Any:
    if name in _LOCATIONS:
        module = importlib.import_module(f"{__name__}.{_LOCATIONS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
