"""A stored trial as a record and as a CSV row: what ``hpo-driver trials`` writes
(``--format json`` / ``csv``) and ``hpo_service.insight.trials_dataframe`` reads, in
one place for both (neither imports the other).

- :func:`each_trial` reads a study's trials a window of tids at a time (the
  store's :mod:`hpo_service.store._windows`, named here too);
- :func:`trial_record` is one trial as a JSON-able dict (the JSON export's item);
- :func:`flat_row` is a record as one CSV row, :func:`columns` the CSV header
  (:func:`study_row_columns`: a study's columns from the keys its store gathered);
- :func:`objective_names` and :func:`study_choices` are what a row needs of the
  study (its objectives' names, its choices' options).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Any

from hpo_service._common.settings import StudySettings
from hpo_service.exceptions import HPOServiceError
from hpo_service.objective._result import (
    STATUS_PRUNED,
    losses_of,
    shown_result,
    violation_of,
)
from hpo_service.store import BaseTrialStore, Trial, TrialKeys
from hpo_service.store._windows import MAX_FILTERED_WINDOW as MAX_FILTERED_WINDOW
from hpo_service.store._windows import WINDOW as WINDOW
from hpo_service.store._windows import each_trial as each_trial

_BASE_COLUMNS = [
    "tid",
    "state",
    "loss",
    "status",
    "attempts",
    "owner",
    "duration",
    "created_at",
    "started_at",
    "finished_at",
    "error_type",
    "error_message",
    "last_step",
    "intermediate",
    "code.module",
    "code.sha256",
    "code.version",
]


#: Result keys with columns of their own (not ``result.<key>``).
_SHOWN_KEYS = frozenset({"loss", "status", "duration", "constraints"})
#: A pruned trial's result also holds ``step``, its ``last_step`` (the objective
#: returns no result then: these are all of its keys).
_PRUNED_KEYS = _SHOWN_KEYS | {"step"}


def objective_names(store: BaseTrialStore, study: str) -> list[str] | None:
    """The study's objective names, or ``loss.0``, ``loss.1``... for several
    unnamed objectives; None for a single-objective study (even one named by
    ``--objectives error``)."""
    settings = store.get_study(study).settings
    names = settings.get("objective_names")
    if names and len(names) > 1:
        return list(names)
    count = settings.get("n_objectives")
    return default_names(count) if count and count > 1 else None


def text_json(value: Any, **options: Any) -> str:
    """``value`` as JSON text for people and CSV cells: labels and strings as
    written (``"温度"``, not ``"\\u6e29\\u5ea6"``). ``--json`` output stays ASCII."""
    return json.dumps(value, ensure_ascii=False, **options)


def default_names(count: int) -> list[str]:
    """The names of ``count`` unnamed objectives: ``loss.0``, ``loss.1``... (the
    columns of their losses in exports and reports)."""
    return [f"loss.{i}" for i in range(count)]


def trial_record(trial: Trial, n_objectives: int | None = None) -> dict[str, Any]:
    """A JSON-able dict of one trial.

    Args:
        trial: The stored trial.
        n_objectives: The study's number of objectives; with several, a pruned
            trial's result has ``loss`` None (see
            :func:`~hpo_service.objective._result.shown_result`).
    """
    result = trial.result
    return {
        "tid": trial.tid,
        "state": trial.state.value,
        "params": trial.params,
        "config": trial.config,
        "result": None if result is None else shown_result(result, n_objectives),
        "error": trial.error,
        "owner": trial.owner,
        "attempts": trial.attempts,
        "created_at": trial.created_at,
        "started_at": trial.started_at,
        "finished_at": trial.finished_at,
        "intermediate": {str(step): v for step, v in trial.intermediate.items()},
        "code": trial.code,
    }


def flat_row(
    record: dict[str, Any],
    names: list[str] | None = None,
    choices: dict[str, tuple[Switch, ...]] | None = None,
) -> dict[str, Any]:
    """One CSV row: fixed columns, then ``result.<key>`` and ``param.<label>`` columns.

    Several losses go to one column each (named by ``names``, else ``loss.0``,
    ``loss.1``...), and to ``loss`` as a JSON list. Constraints go to ``constraints``
    as a JSON list, to one ``constraint.<i>`` column each and to ``feasible`` (every
    one ``<= 0``). Every other key of the result (hyperopt's extra keys, Optuna's
    user attributes) gets a ``result.<key>`` column, a list or dict as JSON text.
    ``duration`` is the result's (the objective's call, or its own key), else the
    error's (an error trial's call). Times are ISO 8601 (UTC); a choice's column
    holds the option's index and a ``param.<label>.value`` column the chosen option
    itself.

    Args:
        record: A :func:`trial_record`.
        names: The study's objective names (several objectives).
        choices: The options of each choice label (:func:`choice_options`).
    """
    result = record["result"] or {}
    error = record["error"] or {}
    row = {key: record.get(key) for key in _BASE_COLUMNS}
    loss = result.get("loss")
    if isinstance(loss, list):
        keys = names if names and len(names) == len(loss) else default_names(len(loss))
        row.update({f"objective.{k}": v for k, v in zip(keys, loss, strict=True)})
        loss = text_json(loss)
    row.update(_constraint_cells(result))
    row.update(
        loss=loss,
        status=result.get("status"),
        # the objective's own may be any; an error trial's is in its error
        duration=_cell(result.get("duration", error.get("duration"))),
        error_type=error.get("type"),
        error_message=error.get("message"),
        last_step=_last_step(record["intermediate"]),
        intermediate=text_json(record["intermediate"])
        if record["intermediate"]
        else "",
    )
    for key in ("created_at", "started_at", "finished_at"):
        row[key] = _iso(row[key])
    code = record.get("code") or {}
    row.update({f"code.{k}": code.get(k) for k in ("module", "sha256", "version")})
    shown = _PRUNED_KEYS if result.get("status") == STATUS_PRUNED else _SHOWN_KEYS
    row.update({f"result.{k}": _cell(v) for k, v in result.items() if k not in shown})
    params = record["params"]
    for label, value in params.items():
        row[f"param.{label}"] = value
        if choices is not None and label in choices:
            row[f"param.{label}.value"] = _chosen(choices[label], value, params)
    return row


def study_row_columns(
    keys: TrialKeys,
    names: list[str] | None = None,
    choices: dict[str, tuple[Switch, ...]] | None = None,
) -> tuple[str, ...]:
    """The columns :func:`flat_row` gives the trials of a study together (same
    arguments), from the keys its store gathered over them
    (:meth:`~hpo_service.store.BaseTrialStore.trial_keys`), first seen first as
    the trials by tid would give them: what a filtered CSV listing's header needs
    of the whole study without reading the trials it does not show."""
    columns = list(_BASE_COLUMNS)
    for length in keys.loss_lengths:
        objectives = names if names and len(names) == length else None
        columns += [f"objective.{k}" for k in objectives or default_names(length)]
    if keys.constraints is not None:
        columns += [
            "constraints",
            *(f"constraint.{i}" for i in range(keys.constraints)),
        ]
    columns.append("feasible")
    columns += [f"result.{k}" for k in keys.result_keys if k not in _SHOWN_KEYS]
    columns += [f"result.{k}" for k in keys.pruned_result_keys if k not in _PRUNED_KEYS]
    for label in keys.params:
        columns.append(f"param.{label}")
        if choices is not None and label in choices:
            columns.append(f"param.{label}.value")
    return tuple(dict.fromkeys(columns))


def _constraint_cells(result: dict[str, Any]) -> dict[str, Any]:
    """``constraints`` (all of them, as JSON) and ``constraint.<i>`` (each) of a
    result's constraints, if it has any; and ``feasible`` always.

    ``feasible`` is True for a trial that best and Pareto front count as feasible:
    status ok, a loss, every constraint ``<= 0`` (none is none violated); False for
    every other trial, so the column (written when some trial has constraints) holds
    only True and False, which ``pandas.read_csv`` reads as a bool column.
    """
    feasible = losses_of(result) is not None and violation_of(result) <= 0
    constraints = result.get("constraints")
    if constraints is None:
        return {"feasible": feasible}
    values = constraints if isinstance(constraints, list | tuple) else [constraints]
    cells: dict[str, Any] = {"constraints": text_json(values)}
    cells.update({f"constraint.{i}": _cell(v) for i, v in enumerate(values)})
    cells["feasible"] = feasible
    return cells


def _cell(value: Any) -> Any:
    """A plain value as it is; a list or dict as JSON text (CSV holds one value)."""
    if isinstance(value, dict | list | tuple):
        return text_json(value, default=str)
    return value


#: ``((label, index), ...)``: a choice's path, taken when each label holds its index.
Condition = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Switch:
    """One choice of a label: its options, and where it stands in the space.

    A label names several when ``scope.switch`` calls over one ``hp.randint``
    (hyperopt's ``hp.choice``) stand in several branches or side by side.

    Attributes:
        options: The choice's options, by index.
        conditions: The paths reaching it (any one taken reaches it); empty, or
            holding ``()``, when it is always reached.
    """

    options: tuple[Any, ...]
    conditions: tuple[Condition, ...] = ()

    def reached(self, params: dict[str, Any]) -> bool:
        """Whether a trial's ``params`` take a path to this choice."""
        return not self.conditions or any(
            all(params.get(label) == index for label, index in condition)
            for condition in self.conditions
        )


def choice_options(space: Any) -> dict[str, tuple[Switch, ...]]:
    """The choices of ``space`` by label: every ``hp.choice``, and every
    ``scope.switch`` of a label shared by several, each with its conditions."""
    from hpo_service.space._compile import choice_switches

    return {
        label: tuple(Switch(tuple(node.options), tuple(reached))
                     for node, reached in switches)
        for label, switches in choice_switches(space).items()
    }  # fmt: skip


def study_choices(
    store: BaseTrialStore, study: str
) -> dict[str, tuple[Switch, ...]] | None:
    """The study's choice options by label, or None if its space cannot be read."""
    from hpo_service.space import from_document

    try:
        settings = StudySettings.from_dict(store.get_study(study).settings)
        return choice_options(from_document(settings.space))
    except (HPOServiceError, KeyError, TypeError, ValueError):
        return None


def _chosen(switches: tuple[Switch, ...], index: Any, params: dict[str, Any]) -> Any:
    """The option at ``index`` of the label's choice that ``params`` reach,
    evaluated (JSON text if it is not a plain value, a dict's keys in the space's
    order, as the config has them); None when they reach none. A label shared by
    several switches that ``params`` reach together, with different options
    chosen, gives their options as a JSON list, in the space's order."""
    chosen = []
    for switch in switches:
        if not switch.reached(params):
            continue
        try:
            chosen.append(_evaluated(switch.options, index, params))
        except Exception:  # whatever the space's own code raises on these params:
            return None  # it does not give them (the rule of _study.config_made)
    distinct = list(dict.fromkeys(text_json(v, sort_keys=True, default=str)
                                  for v in chosen))  # fmt: skip
    if len(distinct) > 1:
        return text_json(chosen, default=str)
    if not chosen:
        return None
    value = chosen[0]
    if isinstance(value, (dict, list, tuple)):
        return text_json(value, default=str)
    return value


def _evaluated(options: tuple[Any, ...], index: Any, params: dict[str, Any]) -> Any:
    from hpo_service.space import space_eval

    return space_eval(options[int(index)], params)


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds")


def _last_step(intermediate: dict[str, float]) -> int | None:
    return max(map(int, intermediate)) if intermediate else None


def columns(rows: list[dict[str, Any]], names: list[str] | None = None) -> list[str]:
    """The CSV header: fixed columns, objectives and constraints (if any), then every
    ``result.`` column seen, sorted, then every param column seen, sorted.

    Args:
        rows: :func:`flat_row` rows.
        names: The study's objective names (several objectives): their
            ``objective.<name>`` columns are there whichever trials ``rows`` hold
            (a pruned-only listing has the same header as a done-only one).
    """
    params = sorted({key for row in rows for key in row if key.startswith("param.")})
    study = [f"objective.{name}" for name in names or []]
    seen = (k for row in rows for k in row if k.startswith("objective."))
    objectives = list(dict.fromkeys([*study, *seen]))
    seen_keys = {key for row in rows for key in row}
    extra = ["constraints"] if "constraints" in seen_keys else []
    count = sum(1 for key in seen_keys if key.startswith("constraint."))
    extra += [f"constraint.{i}" for i in range(count)]
    extra += ["feasible"] if extra else []
    results = sorted(key for key in seen_keys if key.startswith("result."))
    return _BASE_COLUMNS + objectives + extra + results + params
