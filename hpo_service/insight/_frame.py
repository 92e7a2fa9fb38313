"""A study's trials as a pandas DataFrame: the rows of ``hpo-driver trials --format
csv``, typed, for a notebook (Optuna's ``study.trials_dataframe()``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from hpo_service._common import trial_rows
from hpo_service.insight._data import _JOB_STATES, _epoch, _owner_text
from hpo_service.objective._result import STATUS_PRUNED, shown_result

if TYPE_CHECKING:
    import pandas as pd

    from hpo_service.store import BaseTrialStore

#: Columns of epoch seconds in the records, ISO 8601 text in the CSV rows.
_TIMES = ("created_at", "started_at", "finished_at")


def trials_dataframe(source: Any, study: str | None = None) -> pd.DataFrame:
    """Every trial of a study, one row each, with the columns of ``hpo-driver trials
    --format csv`` (README "Machine-readable output"): ``tid``, ``state``, ``loss``,
    ``status``, ``duration`` (seconds), ``created_at``/``started_at``/
    ``finished_at`` (UTC timestamps), ``error_type``, ``objective.<name>`` for
    several objectives, ``constraint.<i>`` and ``feasible``, ``result.<key>`` for a
    result's extra keys and ``param.<label>`` (a choice's option index, its option
    in ``param.<label>.value`` when the study's space is known).

    Args:
        source: A store URL (with ``study``), a ``StoreTrials`` or ``MongoTrials``,
            or an in-process ``Trials`` (whose trials keep no space and no
            creation time: its choices are option indices only).
        study: The study's name, for a store URL.

    Returns:
        A DataFrame, a row per trial in ``tid`` order (``tid`` is a column), error
        and pruned trials included; a missing value is NaN (NaT for a time), and
        ``loss`` holds a JSON list for several objectives, as the CSV does.

    Raises:
        ImportError: pandas is not installed (``pip install
            "hpo-service[dashboard]"``).
        TypeError: ``source`` is none of these, or a URL is given without ``study``.
        StudyNotFoundError: The store holds no such study.
    """
    pd = _pandas()
    if isinstance(source, str):
        if study is None:
            raise TypeError("a store URL needs `study`, but got study=None")
        from hpo_service.store import open_store

        with open_store(source, create=False) as store:
            rows, names = _store_rows(store, study)
    elif hasattr(source, "store") and hasattr(source, "study"):
        rows, names = _store_rows(source.store, source.study)
    elif hasattr(source, "_dynamic_trials"):
        names = getattr(source, "objective_names", None)
        rows = _trials_rows(source, names)
    else:
        raise TypeError(
            "`source` must be a Trials, StoreTrials, MongoTrials or store URL, but "
            f"got {type(source).__name__}"
        )
    frame = pd.DataFrame(rows, columns=trial_rows.columns(rows, names))
    # a missing value (None, or the CSV's empty text) is NaN in every column, as
    # read_csv reads an empty cell
    present = frame.notna() & (frame.astype(object) != "")
    frame = frame.astype(object).where(present, float("nan")).infer_objects()
    for key in _TIMES:
        frame[key] = pd.to_datetime(frame[key], utc=True, format="ISO8601")
    return frame


def _pandas() -> Any:
    try:
        import pandas as pd
    except ImportError as e:
        raise ImportError(
            'trials_dataframe needs pandas: pip install "hpo-service[dashboard]"'
        ) from e
    return pd


def _store_rows(
    store: BaseTrialStore, study: str
) -> tuple[list[dict[str, Any]], list[str] | None]:
    """The CSV rows of a stored study (as ``hpo-driver trials`` reads them) and
    its objective names."""
    names = trial_rows.objective_names(store, study)
    count = len(names) if names else None
    choices = trial_rows.study_choices(store, study)
    rows = [
        trial_rows.flat_row(trial_rows.trial_record(trial, count), names, choices)
        for trial in trial_rows.each_trial(store, study)
    ]
    return rows, names


def _trials_rows(trials: Any, names: list[str] | None) -> list[dict[str, Any]]:
    """The CSV rows of an in-process ``Trials`` (error trials included)."""
    count = len(names) if names else None
    records = _doc_records(trials, count)
    return [trial_rows.flat_row(record, names) for record in records]


def _doc_records(trials: Any, n_objectives: int | None) -> Iterator[dict[str, Any]]:
    """Each hyperopt trial dict as the record ``hpo-driver trials`` has for a stored
    trial (no config, creation time or code: a ``Trials`` keeps none)."""
    for doc in trials._dynamic_trials:
        result = dict(doc.get("result") or {})
        misc = doc.get("misc") or {}
        state = _JOB_STATES.get(doc.get("state"), str(doc.get("state")))
        if state == "done" and result.get("status") == STATUS_PRUNED:
            state = "pruned"
        error = misc.get("error")
        yield {
            "tid": int(doc["tid"]),
            "state": state,
            "params": {k: v[0] for k, v in (misc.get("vals") or {}).items() if v},
            "config": None,
            "result": _shown(result, state, n_objectives),
            "error": {"type": str(error[0]), "message": str(error[1])}
            if error
            else None,
            "owner": _owner_text(doc.get("owner")),
            "attempts": 1 if doc.get("book_time") is not None else 0,
            "created_at": None,
            "started_at": _epoch(doc.get("book_time")),
            "finished_at": _epoch(doc.get("refresh_time")),
            "intermediate": {
                str(k): v for k, v in (doc.get("intermediate") or {}).items()
            },
            "code": None,
        }


def _shown(
    result: Mapping[str, Any], state: str, n_objectives: int | None
) -> Mapping[str, Any] | None:
    """A finished trial's result as a store shows it; None before it finished."""
    if state not in ("done", "pruned"):
        return None
    result = {k: v for k, v in result.items() if k != "attachments"}
    return shown_result(result, n_objectives)
