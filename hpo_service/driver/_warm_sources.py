"""Reading warm-start inputs: points to queue, and evaluated results to import.

- points: a JSON list of ``{label: value}`` dicts, or one dict per line (JSON lines);
- results: ``hpo-driver trials --format json`` or ``--format csv`` of another study,
  or a pickled ``Trials``, hyperopt's or ours: their finished trials (done, pruned
  with their reports, error, cancelled; new and running trials have no outcome yet
  and are left out).

A pickle is only ever read from a local file the user names on the command line
(``hpo-driver import``), never from the store, and through an unpickler that builds
hyperopt's ``Trials`` from its data without importing hyperopt: any other object
in it becomes an inert placeholder (never called, never imported), and results keep
only their JSON values.
"""

from __future__ import annotations

import csv
import io
import json
import pickle
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from hpo_service._common.standard_json import number_or_text
from hpo_service.driver._warm_start import Evaluated, loss_or_none
from hpo_service.objective._result import STATUS_PRUNED

_DONE = 2  # hyperopt's JOB_STATE_DONE
_HYPEROPT_STATES = {0: "new", 1: "running", 3: "error", 4: "cancelled"}


def read_points(text: str, what: str) -> list[dict[str, Any]]:
    """Points from JSON: a list of dicts, one dict, or one dict per line.

    Raises:
        ValueError: The text is not one of those (naming ``what`` and the line).
    """
    stripped = text.strip()
    try:
        value = json.loads(stripped) if stripped else []
    except json.JSONDecodeError:
        value = [_json_line(line, what, i) for i, line in _lines(stripped)]
    points = [value] if isinstance(value, dict) else value
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise ValueError(
            f"{what} must hold {{label: value}} dicts (a JSON list, or one per line), "
            f"but got {stripped[:120]!r}"
        )
    return points


def read_results(path: str, left_out: Counter[str] | None = None) -> list[Evaluated]:
    """The finished trials of an export (``.json``/``.csv``) or of a pickled
    ``Trials`` (hyperopt's or ours).

    Args:
        path: The file.
        left_out: If given, counts the trials not read, by state (``"running"``,
            ``"new"``, a pickle's ``"other"``).

    Raises:
        ValueError: The file is none of those, or a row is malformed.
        OSError: The file cannot be read.
    """
    data = Path(path).read_bytes()
    name = Path(path).name
    left_out = Counter() if left_out is None else left_out
    if data[:1] == b"\x80":  # a pickle's protocol opcode
        return list(_from_hyperopt_pickle(data, name, left_out))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{name} {_KINDS}, but it is not UTF-8 text") from None
    if not text.strip():
        raise ValueError(f"{name} {_KINDS}, but it is empty")
    if text.lstrip()[:1] in ("[", "{"):
        return list(_from_json_export(_json(text, name), name, left_out))
    return list(_from_csv_export(text, name, left_out))


_KINDS = (
    "must be an export of trials (hpo-driver trials --format json or csv) or a "
    "pickled Trials (hyperopt's, or ours from fmin(..., trials_save_file=...))"
)


def _json(text: str, name: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{name} {_KINDS}, but it is not valid JSON: {e}") from None


# ---- exports of another study ----------------------------------------------------


def _from_json_export(
    records: Any, name: str, left_out: Counter[str]
) -> Iterator[Evaluated]:
    if not isinstance(records, list):
        raise ValueError(
            f"{name} {_KINDS}, but it holds a JSON {type(records).__name__}, not a "
            "list of trials"
        )
    for i, record in enumerate(records):
        if not isinstance(record, dict) or "params" not in record:
            raise ValueError(f"{name}: item {i} is not a trial record (no 'params')")
        state, result = record.get("state"), record.get("result")
        if state not in _FINISHED or (state in _WITH_RESULT and not result):
            left_out[str(state)] += 1
            continue
        reports = _reports(record.get("intermediate"), name, i)
        if result is not None and not isinstance(result, dict):
            raise ValueError(
                f"{name}: item {i} must have its result as a dict or null, but got "
                f"{result!r:.120}"
            )
        if result is not None:
            result = _numeric_loss(dict(result))
        if state == "pruned":
            result = _as_pruned(result, reports)
        yield Evaluated(
            dict(record["params"]),
            result,
            f"{name}#{record.get('tid', i)}",
            state,
            record.get("error"),
            reports,
            _json_names(record.get("objectives"), name, i),
            record.get("config"),
        )


def _json_names(names: Any, name: str, i: int) -> tuple[str, ...]:
    """A JSON record's objectives' names (``hpo-driver trials --format json`` of a
    study with named objectives lists them), or none.

    Raises:
        ValueError: ``objectives`` is not a list of names (naming the item).
    """
    if names is None:
        return ()
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ValueError(
            f"{name}: item {i} must name its objectives as a list of strings, but "
            f"got objectives={names!r:.120}"
        )
    return tuple(names)


def _as_pruned(result: dict[str, Any], reports: dict[int, float]) -> dict[str, Any]:
    """A pruned trial's result as its worker stored it: its last report as
    ``loss`` (an export of several objectives shows none) and its ``step``."""
    step = max(reports) if reports else None
    last = None if step is None else reports[step]
    loss = result.get("loss")
    return {**result, "loss": last if loss is None else loss, "step": step}


#: The states an export's trial is imported in (new and running ones are left out).
_FINISHED = ("done", "pruned", "error", "cancelled")
#: Those of them whose trials have a result.
_WITH_RESULT = ("done", "pruned")


def _reports(value: Any, name: str, i: int) -> dict[int, float]:
    """A trial's reports as an export wrote them (``{"<step>": value}``, JSON text
    in a CSV cell), as ``{step: value}``."""
    if isinstance(value, str):
        value = _json(value, f"{name}: row {i}") if value else None
    if not value:
        return {}
    if not isinstance(value, dict):
        raise ValueError(
            f"{name}: trial {i} must have its intermediate values as a "
            f"{{step: value}} dict, but got {value!r:.120}"
        )
    try:
        return {int(step): float(number_or_text(v)) for step, v in value.items()}
    except (TypeError, ValueError):
        raise ValueError(
            f"{name}: trial {i} has intermediate values that are not numbers by "
            f"step: {value!r:.120}"
        ) from None


def _numeric_loss(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with a loss an export wrote as ``"Infinity"``/``"-Infinity"``/
    ``"NaN"`` (standard JSON has no such numbers) as the float again."""
    loss = result.get("loss")
    if isinstance(loss, list):
        result["loss"] = [number_or_text(v) for v in loss]
    elif "loss" in result:
        result["loss"] = number_or_text(loss)
    return result


def _from_csv_export(
    text: str, name: str, left_out: Counter[str]
) -> Iterator[Evaluated]:
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if not any(key.startswith("param.") for key in header) or "state" not in header:
        raise ValueError(
            f"{name} {_KINDS}, but its first line has no state and param.<label> "
            f"columns: {text.splitlines()[0][:120]!r}"
        )
    rows = list(reader)
    labels = [key for key in header if key.startswith("param.")]
    # a choice's column holds its index; param.<label>.value is the option shown
    labels = [key for key in labels if not _is_value_column(key, labels)]
    names = tuple(k[len("objective.") :] for k in header if k.startswith("objective."))
    for i, row in enumerate(rows):
        state = row.get("state")
        if state not in _FINISHED:
            left_out[str(state)] += 1
            continue
        params = {
            key[len("param.") :]: _number(row[key], name, i)
            for key in labels
            if row.get(key) not in ("", None)
        }
        reports = _reports(row.get("intermediate"), name, i)
        yield Evaluated(
            params,
            _csv_result(row, name, i, reports) if state in _WITH_RESULT else None,
            f"{name}#{row.get('tid', i)}",
            state,
            _csv_error(row),
            reports,
            names,
        )


def _csv_error(row: dict[str, str]) -> dict[str, Any] | None:
    """The error of a CSV row: its type, message and, for an error trial, its
    duration (a CSV holds no traceback)."""
    if not row.get("error_type"):
        return None
    error = {"type": row["error_type"], "message": row.get("error_message") or ""}
    if row.get("state") == "error" and row.get("duration"):
        error["duration"] = cell_value(row["duration"])
    return error


def _csv_result(
    row: dict[str, str], name: str, i: int, reports: dict[int, float]
) -> dict[str, Any]:
    """The result of CSV row ``i``: status, loss, duration, constraints (from the
    ``constraints`` list, or the ``constraint.<i>`` columns of a file without it) and
    each ``result.<key>`` cell, read back as the export wrote it (see
    :func:`cell_value`); an empty cell is a key the result did not have. Several
    losses come from the ``loss`` list, or the ``objective.<name>`` cells of a file
    without it. A pruned trial's result is as a worker stores it: its last report
    as ``loss`` (which the export leaves out for several objectives) and its
    ``step``."""
    result: dict[str, Any] = {"status": row.get("status") or "ok"}
    loss = _loss_cell(row.get("loss"), name, i)
    if loss is None and result["status"] != STATUS_PRUNED:
        loss = _objective_cells(row, name, i)
    if loss is not None:
        result["loss"] = loss
    if result["status"] == STATUS_PRUNED:
        result = _as_pruned(result, reports)
    if row.get("duration"):
        result["duration"] = cell_value(row["duration"])
    constraints = _csv_constraints(row, name, i)
    if constraints is not None:
        result["constraints"] = constraints
    for key, text in row.items():
        if key and key.startswith("result.") and text not in ("", None):
            result[key[len("result.") :]] = cell_value(text)
    return result


def _objective_cells(row: dict[str, str], name: str, i: int) -> list[float] | None:
    """A row's ``objective.<name>`` cells as its losses, in the header's order (None
    unless there are several, all filled)."""
    cells = [text for key, text in row.items() if key and key.startswith("objective.")]
    if len(cells) < 2 or not all(cells):
        return None
    try:
        return [float(text) for text in cells]
    except ValueError:
        raise ValueError(
            f"{name}: row {i} has an objective.<name> cell that is not a number: "
            f"{cells!r:.120}"
        ) from None


def _csv_constraints(row: dict[str, str], name: str, i: int) -> list[Any] | None:
    """A row's constraints: its ``constraints`` JSON list, else its ``constraint.<i>``
    cells in order (None without either)."""
    if row.get("constraints"):
        return list(_json(row["constraints"], f"{name}: row {i}"))
    cells = {
        int(key[len("constraint.") :]): text
        for key, text in row.items()
        if key and key.startswith("constraint.") and key[11:].isdigit() and text
    }
    if not cells:
        return None
    if sorted(cells) != list(range(len(cells))):
        raise ValueError(
            f"{name}: row {i} must have constraint.0 .. constraint.{len(cells) - 1} "
            f"all filled, but has constraint.{', constraint.'.join(map(str, cells))}"
        )
    return [_constraint(cells[k], name, i) for k in sorted(cells)]


def _constraint(text: str, name: str, row: int) -> float:
    value = cell_value(text)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(
            f"{name}: row {row} has a constraint that is not a number: {text!r}"
        )
    return value


def cell_value(text: str) -> Any:
    """The value an export wrote as CSV cell ``text``: a bool, an int, a float, a
    list or dict (JSON text), else the text itself.

    Only a reading that the export would write back as the same text is taken (the
    text "1e5" or "007" stays text), so export -> import -> export keeps each cell.
    JSON text may hold its letters as written ("温度", as exports write it) or
    escaped ("\\u6e29\\u5ea6", as exports before 675c55f did).
    """
    if text in ("True", "False"):
        return text == "True"
    if text[:1] in ("[", "{"):
        try:
            value = json.loads(text)
        except ValueError:
            return text
        written = {
            json.dumps(value, default=str, ensure_ascii=a) for a in (True, False)
        }
        return value if text in written else text
    for parse in (int, float):
        try:
            value = parse(text)
        except ValueError:
            continue
        return value if str(value) == text else text
    return text


def _is_value_column(key: str, keys: list[str]) -> bool:
    return key.endswith(".value") and key[: -len(".value")] in keys


def _loss_cell(value: str | None, name: str, row: int) -> Any:
    """A CSV loss: a number, a JSON list of them (several objectives), or None."""
    if value is not None and value.lstrip().startswith("["):
        return _json(value, f"{name}: row {row}")
    try:
        return loss_or_none(value)
    except ValueError:
        raise ValueError(
            f"{name}: row {row} has a loss that is not a number: {value!r}"
        ) from None


def _number(value: str, name: str, row: int) -> int | float:
    """A ``param.<label>`` cell: an int when the text is one as an export writes
    it (a choice's option index, a ``randint``'s value: ``"1"``), else a float
    (``"1.0"``, ``"0.25"``), so an exported trial's params come back as stored.

    Raises:
        ValueError: The text is no number (naming ``name`` and ``row``).
    """
    try:
        whole = int(value)
    except ValueError:
        pass
    else:
        if str(whole) == value:  # "007" or "+1" are no export's int: floats
            return whole
    try:
        return float(value)
    except ValueError:
        raise ValueError(
            f"{name}: row {row} has a param value that is not a number: {value!r}"
        ) from None


# ---- a pickled hyperopt Trials ---------------------------------------------------


class _Inert:
    """Stands for any object the import does not load: takes anything, does nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


class _LoadedTrials:
    """hyperopt's ``Trials`` (or ours, which ``fmin(..., trials_save_file=...)``
    writes), rebuilt from its pickled attributes only."""

    def __setstate__(self, state: Any) -> None:
        self.__dict__.update(state if isinstance(state, dict) else {})


_ALLOWED = {
    ("datetime", "datetime"),
    ("datetime", "timezone"),
    ("datetime", "timedelta"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("copyreg", "_reconstructor"),
    ("builtins", "object"),
}
_NUMPY_SCALARS = {"scalar", "dtype"}
#: The module of our ``Trials``, read like hyperopt's (its ``_all`` holds the trial
#: dicts that hyperopt keeps in ``_dynamic_trials``).
_OURS = "hpo_service.trials"


class _TrialsUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if name == "Trials" and (module.startswith("hyperopt") or module == _OURS):
            return _LoadedTrials
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        if module.startswith("numpy") and name in _NUMPY_SCALARS:
            return super().find_class(module, name)
        return _Inert


def _from_hyperopt_pickle(
    data: bytes, name: str, left_out: Counter[str]
) -> Iterator[Evaluated]:
    """The finished trials of a pickled ``Trials`` (see :func:`hyperopt_docs`)."""
    try:
        loaded = _TrialsUnpickler(io.BytesIO(data)).load()
    except Exception as e:  # a damaged pickle raises many kinds of error
        raise ValueError(f"{name} {_KINDS}, but its pickle is damaged: {e}") from None
    docs = getattr(loaded, "_dynamic_trials", getattr(loaded, "_all", None))
    if not isinstance(docs, list):
        held = "an object it does not load" if isinstance(loaded, _Inert) else None
        raise ValueError(
            f"{name} must be a pickled Trials (hyperopt's or ours), but holds "
            f"{held or type(loaded).__name__}"
        )
    return hyperopt_docs(docs, name, left_out)


def read_trials_object(trials: Any, name: str = "Trials") -> list[Evaluated]:
    """The finished trials of a ``Trials`` object in memory: hyperopt's (also its
    ``MongoTrials``) or ours, as :func:`read_results` reads a pickled one.

    Raises:
        ValueError: ``trials`` has no trial dicts (``_dynamic_trials``).
    """
    docs = getattr(trials, "_dynamic_trials", None)
    if not isinstance(docs, list):
        raise ValueError(
            "a Trials object must be hyperopt's Trials or MongoTrials, or ours, but "
            f"got {type(trials).__name__}"
        )
    return list(hyperopt_docs(docs, name, Counter()))


def hyperopt_docs(
    docs: Iterable[Any], name: str, left_out: Counter[str]
) -> Iterator[Evaluated]:
    """The finished trials of hyperopt's trial dicts (a ``Trials``' or a
    ``MongoTrials`` jobs collection's documents), ``name`` the source's.

    Args:
        docs: The dicts: ``state`` (hyperopt's ``JOB_STATE_*``), ``tid``,
            ``misc.vals`` (``{label: [value]}``, ``[]`` for an inactive one),
            ``result``, the error as ``misc.error`` (``Trials``) or ``error``
            (``MongoWorker``), ``intermediate`` (ours).
        name: The source, for each trial's origin ``"<name>#<tid>"``.
        left_out: Counts the trials not read, by state.
    """
    for doc in docs:
        state = _pickled_state(doc)
        if state not in _FINISHED:
            left_out[state] += 1
            continue
        misc = doc.get("misc") or {}
        params = {k: _plain(v[0]) for k, v in (misc.get("vals") or {}).items() if v}
        result = {
            k: _plain(v)
            for k, v in dict(doc.get("result") or {}).items()
            if _is_json(v)
        }
        error = doc.get("error") or misc.get("error")
        yield Evaluated(
            params,
            result if state in _WITH_RESULT else None,
            f"{name}#{doc.get('tid')}",
            state,
            {"type": str(error[0]), "message": str(error[1])}
            if state == "error" and isinstance(error, list | tuple) and len(error) == 2
            else None,
            _reports(_plain_reports(doc.get("intermediate")), name, doc.get("tid")),
        )


def _pickled_state(doc: Any) -> str:
    """The state of a pickled trial dict: ``done``, ``pruned`` (ours: done with
    status pruned), ``error``, ``cancelled``, ``new``, ``running`` or ``other``."""
    state = doc.get("state") if isinstance(doc, Mapping) else None
    if state == _DONE:
        pruned = (doc.get("result") or {}).get("status") == STATUS_PRUNED
        return "pruned" if pruned else "done"
    return _HYPEROPT_STATES.get(state, "other")  # type: ignore[arg-type]


def _plain_reports(value: Any) -> Any:
    """A pickled trial's ``intermediate`` with numpy numbers as plain ones."""
    if not isinstance(value, Mapping):
        return value
    return {str(_plain(k)): _plain(v) for k, v in value.items()}


def _plain(value: Any) -> Any:
    return (
        value.item() if hasattr(value, "item") and not isinstance(value, str) else value
    )


def _is_json(value: Any) -> bool:
    try:
        json.dumps(_plain(value))
    except (TypeError, ValueError):
        return False
    return True


def _lines(text: str) -> Iterator[tuple[int, str]]:
    for i, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield i, line


def _json_line(line: str, what: str, number: int) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"{what}: line {number} is not JSON: {e}") from None
