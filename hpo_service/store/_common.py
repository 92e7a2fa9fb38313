"""Argument checks and value encoding shared by the store backends."""

from __future__ import annotations

import json
import math
import numbers
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from hpo_service.exceptions import StoreError, UnstorableError
from hpo_service.objective._report import MAX_STEP
from hpo_service.store._base import (
    MAX_ATTACHMENT_BYTES,
    FinishedTrial,
    NewTrial,
    TrialKeys,
    TrialState,
)

#: The ``error["type"]`` that :meth:`requeue_expired` records when attempts run out.
LEASE_EXPIRED = "LeaseExpired"

ALL_STATES: tuple[TrialState, ...] = tuple(TrialState)
ACTIVE_STATES: tuple[TrialState, ...] = (TrialState.NEW, TrialState.RUNNING)


def dumps(value: Any, what: str) -> str:
    """Encode ``value`` as compact JSON text (never pickle).

    Non-finite floats are written as the JSON5 tokens ``NaN``, ``Infinity`` and
    ``-Infinity`` so that a result holding them reads back exactly. NumPy scalars
    and arrays are written as the plain values they hold (``np.int64(4)`` as ``4``,
    an array as a list), wherever they sit.

    Raises:
        ValueError: ``value`` holds something JSON cannot represent.
        UnstorableError: ``value`` holds an integer beyond 64 bits
            (:func:`check_int64`).
    """
    try:
        text = json.dumps(
            value, separators=(",", ":"), allow_nan=True, default=_numpy_as_plain
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"`{what}` must be JSON-serialisable, but got {what}={value!r:.200} ({exc})"
        ) from None
    if _LONG_DIGITS.search(text):  # rare: then find the integer, if any
        check_int64(json.loads(text), what)
    return text


#: 19 digits in a row: an integer near or beyond 64 bits (a float's JSON has 17
#: significant digits at most), or digits inside a string.
_LONG_DIGITS = re.compile(r"\d{19,}")

#: The integers every store holds: MongoDB's BSON stores 64-bit signed integers.
_INT_RANGE = (-(2**63), 2**63)


def check_int64(value: Any, what: str) -> None:
    """Refuse an integer beyond 64 bits anywhere in ``value`` (JSON-shaped), on
    every store: MongoDB cannot hold one and SQLite, which can, used to keep it,
    so a result stored on one backend became an error trial on the other. One
    rule, so that a study can move between stores.

    Args:
        value: What a store is asked to write (params, config, result, error...).
        what: Its name, the start of the path the message names.

    Raises:
        UnstorableError: Such an integer, named by its path and value:
            ``"`result['n']` must be an integer from -2**63 to 2**63 - 1 (64
            bits: what every store holds), but got result['n']=1180591620717411303424"``
            (``2**70``).
    """
    found = _big_int_at(value, what)
    if found is not None:
        path, big = found
        raise UnstorableError(
            f"`{path}` must be an integer from -2**63 to 2**63 - 1 (64 bits: what "
            f"every store holds), but got {path}={_digits(big)}"
        )


def _big_int_at(value: Any, path: str) -> tuple[str, int] | None:
    """The path and value of the first integer beyond 64 bits in ``value``."""
    if isinstance(value, dict):
        items: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        low, high = _INT_RANGE
        big = isinstance(value, int) and not low <= value < high
        return (path, value) if big else None
    for key, item in items:
        found = _big_int_at(item, f"{path}[{key!r}]")
        if found is not None:
            return found
    return None


def _digits(n: int) -> str:
    """``n``'s digits, the middle ones elided past 60."""
    text = str(n)
    if len(text) <= 60:
        return text
    return f"{text[:28]}...{text[-28:]} ({len(text)} digits)"


def _numpy_as_plain(value: Any) -> Any:
    """``json.dumps`` hook: a NumPy scalar or array becomes its plain value.

    NumPy is not imported here (a worker's store need not load it): anything from
    NumPy has ``tolist()``, which gives plain Python values.
    """
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def loads(text: str | None) -> Any:
    """Decode what :func:`dumps` wrote (``None`` stays ``None``)."""
    return None if text is None else json.loads(text)


def normalise(value: Any, what: str) -> Any:
    """Return ``value`` as JSON would give it back (tuples become lists, ...).

    Backends that store native documents use this so that every backend returns the
    same values for the same input.
    """
    return json.loads(dumps(value, what))


def storable(value: Any, what: str) -> Any:
    """``value`` as :func:`normalise` gives it, if every backend can hold it: JSON
    can, and each integer fits in 64 bits (:func:`check_int64`, the rule every
    store's writes follow).

    Args:
        value: What a store is to hold (a config, a result), JSON-shaped or made of
            what :func:`normalise` turns into JSON (NumPy scalars and arrays).
        what: Its name in the message (``"config"``).

    Raises:
        ValueError: ``value`` holds something JSON cannot represent, or an integer
            outside [-2**63, 2**63) (:class:`UnstorableError`, naming its path:
            ``"`config['v']` must be an integer from -2**63 to 2**63 - 1 (64 bits:
            what every store holds), but got config['v']=1180591620717411303424"``).
    """
    return normalise(value, what)


def check_name(value: Any, what: str) -> str:
    """Return ``value`` if it is a non-empty string, else raise ValueError."""
    if not isinstance(value, str) or not value:
        raise ValueError(
            f"`{what}` must be a non-empty string, but got {what}={value!r}"
        )
    return value


_SETTING_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_setting_key(value: Any, what: str) -> str:
    """Return ``value`` if it can name a top-level study setting in every store (a
    JSON path and a MongoDB field path alike: letters, digits and ``_``, not
    starting with a digit), else raise ValueError."""
    if not isinstance(value, str) or not _SETTING_KEY.fullmatch(value):
        raise ValueError(
            f"`{what}` must name a setting (letters, digits and _, not starting "
            f"with a digit), but got {what}={value!r}"
        )
    return value


def check_positive(value: Any, what: str) -> float:
    """Return ``value`` as a float if it is a finite number > 0, else raise."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"`{what}` must be a finite number > 0, but got {what}={value!r}"
        )
    return float(value)


def check_max_attempts(value: Any) -> int:
    """Return ``value`` if it is an int >= 1, else raise ValueError."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(
            f"`max_attempts` must be an int >= 1, but got max_attempts={value!r}"
        )
    return value


def check_tid(value: Any) -> int:
    """Return ``value`` if it is an int >= 0, else raise ValueError."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"`tid` must be an int >= 0, but got tid={value!r}")
    return value


def check_cursor(value: Any) -> int:
    """Return ``value`` if it is an int >= 0, else raise ValueError."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"`cursor` must be an int >= 0, but got cursor={value!r}")
    return value


def check_first_tid(value: Any) -> int:
    """Return ``value`` if it is an int >= 0, else raise ValueError."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(
            f"`first_tid` must be an int >= 0, but got first_tid={value!r}"
        )
    return value


def check_end_tid(value: Any, first_tid: int) -> int | None:
    """Return ``value`` if it is None or an int above ``first_tid``, else raise
    ValueError (the tid range ``[first_tid, end_tid)`` of ``best_trial``)."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= first_tid:
        raise ValueError(
            f"`end_tid` must be None or an int > first_tid={first_tid}, but got "
            f"end_tid={value!r}"
        )
    return value


def check_dict(value: Any, what: str) -> dict[str, Any]:
    """Return ``value`` if it is a dict, else raise ValueError."""
    if not isinstance(value, dict):
        raise ValueError(f"`{what}` must be a dict, but got {what}={value!r:.200}")
    return value


def check_changes(changes: Any) -> dict[str, Any]:
    """Return ``changes`` of ``BaseTrialStore.patch_study_settings`` if well formed.

    Raises:
        ValueError: Not a dict, empty, or a key is not a non-empty string.
    """
    check_dict(changes, "changes")
    if not changes:
        raise ValueError("`changes` must name at least one setting, but got changes={}")
    for key in changes:
        if not isinstance(key, str) or not key:
            raise ValueError(
                f"every key of `changes` must be a non-empty string, but got {key!r}"
            )
    return changes


def check_error(error: Any) -> dict[str, Any]:
    """Return a copy of a trial error with ``type``, ``message`` and ``traceback``.

    Raises:
        ValueError: ``error`` is not a dict with string ``type`` and ``message``.
    """
    check_dict(error, "error")
    if not isinstance(error.get("type"), str) or not isinstance(
        error.get("message"), str
    ):
        raise ValueError(
            "`error` must hold string 'type' and 'message' entries, "
            f"but got error={error!r:.200}"
        )
    return {"traceback": None, **error}


def check_new_trials(trials: Any) -> list[NewTrial]:
    """Return ``trials`` as a list of :class:`NewTrial` with dict params.

    Raises:
        ValueError: ``trials`` is not a sequence of NewTrial, or params is not a dict.
    """
    if not isinstance(trials, Sequence) or isinstance(trials, (str, bytes)):
        raise ValueError(
            f"`trials` must be a list of NewTrial, but got trials={trials!r:.200}"
        )
    for item in trials:
        if not isinstance(item, NewTrial):
            raise ValueError(
                f"`trials` must hold NewTrial items, but got {item!r:.200}"
            )
        check_dict(item.params, "params")
    return list(trials)


def check_finished_trials(trials: Any) -> list[FinishedTrial]:
    """Return ``trials`` as a list of :class:`FinishedTrial` with dict params/result.

    Raises:
        ValueError: Not a sequence of FinishedTrial, or a params/result not a dict.
    """
    if not isinstance(trials, Sequence) or isinstance(trials, (str, bytes)):
        raise ValueError(
            f"`trials` must be a list of FinishedTrial, but got trials={trials!r:.200}"
        )
    return [_checked_finished(item) for item in trials]


#: States an imported trial may have, and whether its result must be a dict.
_IMPORTED_STATES = {
    TrialState.DONE: True,
    TrialState.PRUNED: True,
    TrialState.ERROR: False,
    TrialState.CANCELLED: False,
}


def _checked_finished(item: Any) -> FinishedTrial:
    """One :class:`FinishedTrial`, checked: a copy with its state a TrialState, its
    error with ``traceback`` and its reports as ``{int step: float}``."""
    if not isinstance(item, FinishedTrial):
        raise ValueError(
            f"`trials` must hold FinishedTrial items, but got {item!r:.200}"
        )
    check_dict(item.params, "params")
    try:
        state = TrialState(item.state)
    except ValueError:
        state = None
    if state not in _IMPORTED_STATES:
        raise ValueError(
            "a FinishedTrial's `state` must be done, pruned, error or cancelled, "
            f"but got state={getattr(item.state, 'value', item.state)!r}"
        )
    if _IMPORTED_STATES[state] or item.result is not None:
        check_dict(item.result, "result")
    error = item.error
    if state is TrialState.ERROR or error is not None:
        error = check_error(error)
    if not isinstance(item.intermediate, dict):
        raise ValueError(
            "a FinishedTrial's `intermediate` must be a {step: value} dict, but got "
            f"intermediate={item.intermediate!r:.200}"
        )
    pairs = list(item.intermediate.items())
    reports = dict(check_reports(pairs)) if pairs else {}
    return FinishedTrial(item.params, item.config, item.result, state, error, reports)


def check_states(states: Any) -> list[TrialState] | None:
    """Return ``states`` as TrialState members (None stays None)."""
    if states is None:
        return None
    try:
        return [TrialState(s) for s in states]
    except (TypeError, ValueError):
        raise ValueError(
            f"`states` must be TrialState values, but got states={states!r}"
        ) from None


def check_tids(tids: Any) -> list[int] | None:
    """Return ``tids`` as a list of ints >= 0 (None stays None)."""
    if tids is None:
        return None
    if isinstance(tids, (str, bytes)) or not isinstance(tids, Sequence):
        raise ValueError(f"`tids` must be a list of ints, but got tids={tids!r:.200}")
    return [check_tid(t) for t in tids]


def check_tid_list(tids: Iterable[Any]) -> list[int]:
    """Return the tids of any iterable (a list, tuple, set, range) as a list of
    ints >= 0, as ``get_trials(tids=...)`` takes them.

    Raises:
        ValueError: A tid is not an int >= 0.
        TypeError: ``tids`` is not iterable.
    """
    return [check_tid(t) for t in tids]


def check_configs(configs: Any) -> dict[int, Any]:
    """Return ``configs`` (``{tid: config}``, as ``fill_configs`` takes it) with
    each config as the store keeps it (:func:`normalise`).

    Raises:
        ValueError: Not a mapping, a tid is not an int >= 0, or a config is None
            or not JSON-able.
    """
    if not isinstance(configs, Mapping):
        raise ValueError(
            "`configs` must be a dict of tid to config, but got "
            f"configs={configs!r:.200}"
        )
    checked = {}
    for tid, config in configs.items():
        if config is None:
            raise ValueError(
                f"each config must be a value, not None, but got configs[{tid!r}]=None"
            )
        checked[check_tid(tid)] = normalise(config, "config")
    return checked


def check_filled_params(
    params: Any, configs: Mapping[int, Any]
) -> dict[int, dict[str, Any]]:
    """Return ``params`` (``{tid: params}``, as ``fill_configs`` takes it beside
    ``configs``, already checked) with each value as the store keeps it; ``{}``
    for None.

    Raises:
        ValueError: Not a mapping, a tid is not one of ``configs``, or a value is
            not a JSON-able dict.
    """
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise ValueError(
            f"`params` must be a dict of tid to params, but got params={params!r:.200}"
        )
    checked = {}
    for tid, value in params.items():
        if check_tid(tid) not in configs:
            raise ValueError(
                "each tid of `params` must be a tid of `configs`, but got "
                f"params[{tid!r}] and no configs[{tid!r}]"
            )
        if not isinstance(value, Mapping):
            raise ValueError(
                f"each params must be a dict, but got params[{tid!r}]={value!r:.200}"
            )
        checked[tid] = normalise(value, "params")
    return checked


def check_statuses(statuses: Any) -> list[str] | None:
    """Return ``statuses`` as a list of strings, None for None or empty (any).

    Raises:
        ValueError: Not a collection of strings.
    """
    if not statuses:
        return None
    if isinstance(statuses, (str, bytes)) or not isinstance(statuses, Collection):
        raise ValueError(
            f"`statuses` must be a list of strings, but got statuses={statuses!r:.200}"
        )
    if not all(isinstance(status, str) for status in statuses):
        raise ValueError(
            f"each status must be a string, but got statuses={statuses!r:.200}"
        )
    return sorted(set(statuses))


def has_status(result: Any, statuses: list[str] | None) -> bool:
    """Whether a decoded ``result`` has one of ``statuses`` (None: any trial)."""
    if statuses is None:
        return True
    return isinstance(result, dict) and result.get("status") in statuses


class KeysGatherer:
    """Builds a :class:`TrialKeys` from what a backend's database gathered and
    from the few rows it could not read itself (decoded here), by one rule."""

    def __init__(self) -> None:
        self.params: set[str] = set()
        self.results: dict[bool, set[str]] = {False: set(), True: set()}
        self.losses: dict[int, int] = {}  # length -> lowest tid holding it
        self.constraints: int | None = None

    def add_loss_length(self, length: int, tid: int) -> None:
        """A list loss of ``length`` held by trial ``tid`` (or a lower one)."""
        self.losses[length] = min(tid, self.losses.get(length, tid))

    def add_constraints(self, count: int) -> None:
        """A result holding ``count`` constraints."""
        self.constraints = max(count, self.constraints or 0)

    def add_result_keys(self, keys: Iterable[str], *, pruned: bool) -> None:
        """Keys of a result whose status is ``"pruned"`` (``pruned``) or not."""
        self.results[pruned].update(keys)

    def add_result(self, tid: int, result: Any) -> None:
        """One decoded result of trial ``tid``, whole."""
        if not isinstance(result, dict):
            return
        self.add_result_keys(result, pruned=result.get("status") == "pruned")
        loss = result.get("loss")
        if isinstance(loss, list):
            self.add_loss_length(len(loss), tid)
        constraints = result.get("constraints")
        if constraints is not None:
            self.add_constraints(
                len(constraints) if isinstance(constraints, list) else 1
            )

    def keys(self) -> TrialKeys:
        """What was gathered."""
        return TrialKeys(
            params=tuple(sorted(self.params)),
            result_keys=tuple(sorted(self.results[False])),
            pruned_result_keys=tuple(sorted(self.results[True])),
            loss_lengths=tuple(sorted(self.losses, key=self.losses.__getitem__)),
            constraints=self.constraints,
        )


def lease_expired_error(max_attempts: int) -> dict[str, Any]:
    """The ``error`` a trial gets when the lease of its last allowed attempt expires."""
    return {
        "type": LEASE_EXPIRED,
        "message": (
            f"the lease expired on the last allowed attempt (max_attempts="
            f"{max_attempts}): the worker died, hung or lost the store"
        ),
        "traceback": None,
    }


def zero_counts() -> dict[TrialState, int]:
    """A count per state, all zero."""
    return dict.fromkeys(ALL_STATES, 0)


def closed_error() -> StoreError:
    """The error raised by every operation of a closed store."""
    return StoreError("the store must be open, but close() was called on it")


def check_step(value: Any) -> int:
    """Return ``value`` as an int if it is an integer in ``[0, MAX_STEP]`` (not a
    bool), else raise ValueError."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or not 0 <= value <= MAX_STEP:
        raise ValueError(
            f"`step` must be an int in [0, 2**63 - 1], but got step={value!r:.50}"
        )
    return int(value)


def check_report_value(value: Any) -> float:
    """Return ``value`` as a float if it is a finite real number, else raise.

    Raises:
        ValueError: Not a real number, or NaN or +-inf (which JSON cannot hold).
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not math.isfinite(value):
        raise ValueError(
            f"`value` must be a finite number, but got value={value!r:.100}"
        )
    return float(value)


def check_reports(values: Any) -> list[tuple[int, float]]:
    """Return ``values`` as a non-empty list of valid ``(step, value)`` pairs."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(
            "`values` must be a list of (step, value) pairs, but got "
            f"values={values!r:.100}"
        )
    if not values:
        raise ValueError("`values` must hold at least one (step, value), but got []")
    pairs = []
    for pair in values:
        if not isinstance(pair, Sequence) or len(pair) != 2:
            raise ValueError(
                f"`values` must hold (step, value) pairs, but got {pair!r:.100}"
            )
        pairs.append((check_step(pair[0]), check_report_value(pair[1])))
    return pairs


def check_attachments(attachments: Any) -> dict[str, bytes]:
    """Return a trial's attachments as ``{name: bytes}``, checked.

    Raises:
        ValueError: ``attachments`` is not a dict of non-empty str names to bytes
            (``bytes``, ``bytearray`` or ``memoryview``), or holds more than
            :data:`~hpo_service.store.MAX_ATTACHMENT_BYTES` in total.
    """
    check_dict(attachments, "attachments")
    blobs: dict[str, bytes] = {}
    for name, data in attachments.items():
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"attachment names must be non-empty strings, but got {name!r:.80}"
            )
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ValueError(
                f"attachments[{name!r}] must be bytes, but got {type(data).__name__}"
            )
        blobs[name] = bytes(data)
    total = sum(len(b) for b in blobs.values())
    if total > MAX_ATTACHMENT_BYTES:
        raise ValueError(
            f"the attachments of one trial must hold at most {MAX_ATTACHMENT_BYTES} "
            f"bytes (8 MiB) together, but got {total} bytes: keep large artefacts in "
            "files and return their paths"
        )
    return blobs


def check_attachment_names(names: Any) -> set[str] | None:
    """Return ``names`` as a set (None stays None: every attachment)."""
    if names is None:
        return None
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ValueError(
            f"`names` must be a list of attachment names, but got names={names!r:.80}"
        )
    return set(names)
