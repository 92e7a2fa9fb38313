"""hyperopt's ``base`` module path: trial states, statuses, ``Trials``,
``trials_from_docs``, ``Domain``, the helpers hyperopt code uses on trial dicts,
and the exceptions hyperopt's ``base`` re-exports (``DuplicateLabel``, ...).

``from hyperopt.base import JOB_STATE_ERROR, Trials, miscs_update_idxs_vals``
becomes ``from hpo_service.base import ...``. A trial's ``misc`` holds, per label of
the space, ``idxs[label]`` (``[tid]``, or ``[]`` when the label is inactive in that
trial) and ``vals[label]`` (``[value]`` or ``[]``); the helpers convert between that
and hyperopt's column form ``{label: [tid, ...]}``, ``{label: [value, ...]}``.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any

import numpy as np

from hpo_service import pyll  # noqa: F401 - hyperopt's ``from hyperopt.base import pyll``
from hpo_service.exceptions import (
    AllTrialsFailed,
    DuplicateLabel,
    InvalidLoss,
    InvalidResultStatus,
    InvalidTrial,
)
from hpo_service.objective._report import trial_context
from hpo_service.objective._result import loss_of, normalise_result
from hpo_service.space import compile_space, space_eval
from hpo_service.space._compile import labelled_nodes
from hpo_service.trials import (
    JOB_STATE_CANCEL,
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
    JOB_STATES,
    JOB_VALID_STATES,
    STATUS_FAIL,
    STATUS_NEW,
    STATUS_OK,
    STATUS_RUNNING,
    STATUS_STRINGS,
    STATUS_SUSPENDED,
    Trials,
    trials_from_docs,
)

__all__ = [
    "JOB_STATES",
    "JOB_STATE_CANCEL",
    "JOB_STATE_DONE",
    "JOB_STATE_ERROR",
    "JOB_STATE_NEW",
    "JOB_STATE_RUNNING",
    "JOB_VALID_STATES",
    "STATUS_FAIL",
    "STATUS_NEW",
    "STATUS_OK",
    "STATUS_RUNNING",
    "STATUS_STRINGS",
    "STATUS_SUSPENDED",
    "TRIAL_KEYS",
    "TRIAL_MISC_KEYS",
    "AllTrialsFailed",
    "Domain",
    "DuplicateLabel",
    "InvalidLoss",
    "InvalidResultStatus",
    "InvalidTrial",
    "Trials",
    "miscs_to_idxs_vals",
    "miscs_update_idxs_vals",
    "spec_from_misc",
    "trials_from_docs",
    "validate_loss_threshold",
    "validate_timeout",
]

#: Keys every trial dict has (hyperopt's list; ours also have ``version`` and
#: ``intermediate``).
TRIAL_KEYS = [
    "tid",
    "spec",
    "result",
    "misc",
    "state",
    "owner",
    "book_time",
    "refresh_time",
    "exp_key",
]
#: Keys every trial's ``misc`` has (hyperopt's list; ours also have ``workdir``).
TRIAL_MISC_KEYS = ["tid", "cmd", "idxs", "vals"]

Columns = dict[str, list[Any]]

_logger = logging.getLogger(__name__)


class Domain:
    """An objective and its search space, as hyperopt's ``Domain`` bundles them.

    Args:
        fn: The objective, called with a config drawn from ``expr``.
        expr: The search space.
        workdir: Accepted for hyperopt's signature; not used.
        pass_expr_memo_ctrl: Must be falsy (pyll's memo protocol is not supported).
        name: A name for the problem.
        loss_target: The best reachable loss, if known (test problems set it).

    Raises:
        SpaceError: ``expr`` is not a valid space (``DuplicateLabel`` for a label
            used by two expressions).
        ValueError: ``pass_expr_memo_ctrl`` is set.
    """

    def __init__(
        self,
        fn: Callable[[Any], Any],
        expr: Any,
        workdir: str | None = None,
        pass_expr_memo_ctrl: Any = None,
        name: str | None = None,
        loss_target: float | None = None,
    ) -> None:
        if pass_expr_memo_ctrl:
            raise ValueError("`pass_expr_memo_ctrl` is not supported by hpo-service")
        self.fn = fn
        self.expr = expr
        self.workdir = workdir
        self.name = name
        self.loss_target = loss_target
        self.compiled = compile_space(expr)
        self.params = labelled_nodes(expr)

    def loss(self, result: Mapping[str, Any], config: Any = None) -> float | None:
        """The loss of a successful result, None otherwise."""
        return loss_of(result)

    def status(self, result: Mapping[str, Any], config: Any = None) -> Any:
        """The status of a result."""
        return result.get("status")

    def true_loss(self, result: Mapping[str, Any], config: Any = None) -> Any:
        """``result["true_loss"]`` if present, else the loss (hyperopt's rule)."""
        return result.get("true_loss", self.loss(result, config))

    def loss_variance(self, result: Mapping[str, Any], config: Any = None) -> Any:
        """``result["loss_variance"]`` if present, else 0.0 (hyperopt's rule)."""
        return result.get("loss_variance", 0.0)

    def new_result(self) -> dict[str, Any]:
        """The result of a trial not run yet, ``{"status": "new"}``."""
        return {"status": STATUS_NEW}

    def short_str(self) -> str:
        """``Domain{<the objective>}``, as hyperopt's names a domain."""
        return f"Domain{{{self.fn}}}"

    def evaluate(
        self,
        config: Mapping[str, Any],
        ctrl: Ctrl | None,
        attach_attachments: bool = True,
    ) -> dict[str, Any]:
        """Run the objective on one point, in this process, as hyperopt's does.

        Real code uses it to run a trial again, e.g. the best one for its model:
        ``domain.evaluate(spec_from_misc(best["misc"]), Ctrl(trials, best))``. An
        objective that reports (:func:`~hpo_service.report`) runs to its end: its
        reports are checked but kept nowhere, and ``should_prune()`` is False.

        Args:
            config: The point: ``{label: value}`` of the active labels (a choice as
                its index), as ``spec_from_misc`` or ``trials.argmin`` give it.
            ctrl: The trial's :class:`Ctrl`; it receives the result's attachments.
            attach_attachments: Move ``result["attachments"]`` into
                ``ctrl.attachments`` (False: leave them in the result).

        Returns:
            The result dict: a number becomes ``{"loss": float, "status": "ok"}``.

        Raises:
            InvalidResultStatus: The status is not ``"ok"`` or ``"fail"``.
            InvalidLoss: A successful result without a valid (non-NaN) loss.
            ValueError: ``attach_attachments`` with attachments and no ``ctrl``.
            TypeError: ``attach_attachments`` with attachments and a ``ctrl`` of a
                store's trials (``StoreTrials``, ``MongoTrials``), whose attachments
                are read-only (after the objective ran: pass False to keep them).
            Exception: Whatever the objective raises.
        """
        with trial_context(_never_prune):  # report() is checked, should_prune False
            raw = self.fn(space_eval(self.expr, config))
        result = normalise_result(raw, storable=False)
        if attach_attachments and result.get("attachments"):
            if ctrl is None:
                raise ValueError(
                    "`ctrl` must be given to receive the result's attachments, but "
                    "got ctrl=None (or pass attach_attachments=False)"
                )
            for name, value in result.pop("attachments").items():
                ctrl.attachments[name] = value
        return result


def _never_prune(step: int, value: float) -> bool:
    """The reporter of :meth:`Domain.evaluate`: no study, so no pruner."""
    return False


class Ctrl:
    """hyperopt's control object: one trial being evaluated, in its trials.

    It serves code that evaluates points itself through :meth:`Domain.evaluate`;
    objectives never receive one here (hyperopt's ``fmin_pass_expr_memo_ctrl`` is not
    supported), and ``inject_results`` is left out (add trials with
    ``new_trial_docs`` and ``insert_trial_docs``).

    Args:
        trials: The trials the trial belongs to (a new ``Trials()`` when None).
        current_trial: The trial dict being evaluated (one of ``trials``), or None.
    """

    info = _logger.info
    warn = _logger.warning
    error = _logger.error
    debug = _logger.debug

    def __init__(self, trials: Any = None, current_trial: dict[str, Any] | None = None):
        self.trials = Trials() if trials is None else trials
        self.current_trial = current_trial

    def _trial(self) -> dict[str, Any]:
        trial = self.current_trial
        if trial is None or not any(t is trial for t in self.trials._dynamic_trials):
            raise ValueError(
                "`current_trial` must be a trial dict of `trials`, but got "
                f"current_trial={'None' if trial is None else trial.get('tid')}"
            )
        return trial

    def checkpoint(self, r: dict[str, Any] | None = None) -> None:
        """Set the current trial's result to ``r`` (None: change nothing).

        Raises:
            ValueError: There is no current trial, or it is not one of ``trials``.
        """
        trial = self._trial()
        if r is not None:
            trial["result"] = r

    @property
    def attachments(self) -> MutableMapping[str, Any]:
        """The current trial's attachments (``ctrl.attachments[name] = blob``).

        Raises:
            ValueError: There is no current trial, or it is not one of ``trials``.
        """
        return self.trials.trial_attachments(self._trial())


def miscs_update_idxs_vals(
    miscs: Sequence[MutableMapping[str, Any]],
    idxs: Mapping[str, Sequence[int]],
    vals: Mapping[str, Sequence[Any]],
    assert_all_vals_used: bool = True,
    idxs_map: Mapping[int, int] | None = None,
) -> Sequence[MutableMapping[str, Any]]:
    """Write columns of values into trial miscs (hyperopt's helper, same rules).

    Every misc's ``idxs`` and ``vals`` are replaced by one entry per label of
    ``idxs``: ``[tid]`` and ``[value]`` where the columns give the misc's tid a
    value, ``[]`` elsewhere (the label is inactive in that trial).

    Args:
        miscs: The miscs to fill, each with a ``tid``; changed in place.
        idxs: ``{label: [tid, ...]}``, the trials that have a value of each label.
        vals: ``{label: [value, ...]}``, as long as ``idxs[label]``.
        assert_all_vals_used: Refuse a value for a tid none of ``miscs`` has
            (False: skip it).
        idxs_map: ``{tid in idxs: tid of a misc}``, for columns numbered otherwise.

    Returns:
        ``miscs``.

    Raises:
        ValueError: ``idxs`` and ``vals`` name different labels, or a label has
            more or fewer values than tids.
        KeyError: ``assert_all_vals_used`` and a tid that no misc has.
    """
    if set(idxs) != set(vals):
        raise ValueError(
            "`idxs` and `vals` must have the same labels, but got "
            f"{sorted(idxs)} and {sorted(vals)}"
        )
    idxs_map = idxs_map or {}
    by_tid = {misc["tid"]: misc for misc in miscs}
    for misc in miscs:
        misc["idxs"] = {label: [] for label in idxs}
        misc["vals"] = {label: [] for label in idxs}
    for label, tids in idxs.items():
        if len(tids) != len(vals[label]):
            raise ValueError(
                f"`vals` must have one value per tid of `idxs`, but label {label!r} "
                f"has {len(tids)} tids and {len(vals[label])} values"
            )
        for tid, value in zip(tids, vals[label], strict=True):
            tid = idxs_map.get(tid, tid)
            if tid not in by_tid and not assert_all_vals_used:
                continue
            if tid not in by_tid:
                raise KeyError(f"no misc has tid {tid} (label {label!r})")
            by_tid[tid]["idxs"][label] = [tid]
            by_tid[tid]["vals"][label] = [value]
    return miscs


def miscs_to_idxs_vals(
    miscs: Sequence[Mapping[str, Any]], keys: Sequence[str] | None = None
) -> tuple[Columns, Columns]:
    """The column form of trial miscs, as ``Trials.idxs_vals`` gives it.

    Args:
        miscs: Trial miscs (``trials.miscs``).
        keys: The labels to read; by default those of the first misc.

    Returns:
        ``(idxs, vals)``: ``{label: [tid, ...]}`` and ``{label: [value, ...]}``,
        one entry per misc in which the label is active, in the order of ``miscs``.

    Raises:
        ValueError: ``miscs`` is empty and ``keys`` not given.
    """
    if keys is None:
        if not miscs:
            raise ValueError("cannot infer keys from empty miscs: give `keys`")
        keys = list(miscs[0]["idxs"])
    idxs: Columns = {label: [] for label in keys}
    vals: Columns = {label: [] for label in keys}
    for misc in miscs:
        for label in keys:
            idxs[label].extend(misc["idxs"][label])
            vals[label].extend(misc["vals"][label])
    return idxs, vals


def spec_from_misc(misc: Mapping[str, Any]) -> dict[str, Any]:
    """One trial's point, ``{label: value}`` of its active labels.

    The point is what ``space_eval(space, point)`` turns into the config the
    objective received (a ``choice`` as its index).

    Raises:
        NotImplementedError: A label holds several values (hyperopt's error too).
    """
    spec: dict[str, Any] = {}
    for label, values in misc["vals"].items():
        if len(values) > 1:
            raise NotImplementedError(
                f"a trial holds one value per label, but {label!r} has {values!r}"
            )
        if values:
            spec[label] = values[0]
    return spec


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def validate_timeout(timeout: Any) -> None:
    """Check ``fmin``'s ``timeout``: None or a positive number of seconds.

    Raises:
        ValueError: Anything else (hyperopt raises a bare ``Exception`` with the
            same message).
    """
    if timeout is not None and (not _is_number(timeout) or not timeout > 0):
        raise ValueError(
            "The timeout argument should be None or a positive value. "
            f"Given value: {timeout}"
        )


def validate_loss_threshold(loss_threshold: Any) -> None:
    """Check ``fmin``'s ``loss_threshold``: None or a number (not NaN).

    Raises:
        ValueError: Anything else (hyperopt raises a bare ``Exception`` with the
            same message, and lets NaN through, which no loss ever reaches).
    """
    if loss_threshold is not None and (
        not _is_number(loss_threshold) or math.isnan(loss_threshold)
    ):
        raise ValueError(
            "The loss_threshold argument should be None or a numeric value. "
            f"Given value: {loss_threshold}"
        )
