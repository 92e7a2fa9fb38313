"""``fmin``: minimise an objective over a space, in process or through a study store."""

from __future__ import annotations

import datetime as _dt
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpo_service.algorithms import Algorithm
from hpo_service.driver._progress import Progress
from hpo_service.driver._suggest import Suggester
from hpo_service.exceptions import InvalidResultError, MultiObjectiveError
from hpo_service.objective._result import check_objective_count, normalise_result
from hpo_service.space import space_eval
from hpo_service.trials import (
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    STATUS_FAIL,
    Trials,
    loss_of,
    make_trial_doc,
)

_logger = logging.getLogger(__name__)

EarlyStopFn = Callable[..., tuple[bool, list[Any]]]


@dataclass
class _StopRules:
    max_evals: int
    timeout: float | None
    loss_threshold: float | None
    early_stop_fn: EarlyStopFn | None


def fmin(
    fn: Callable[[Any], Any],
    space: Any,
    algo: Algorithm | None = None,
    max_evals: int | None = None,
    timeout: float | None = None,
    loss_threshold: float | None = None,
    trials: Any = None,
    rstate: np.random.Generator | np.random.RandomState | int | None = None,
    allow_trials_fmin: bool = True,
    pass_expr_memo_ctrl: Any = None,
    catch_eval_exceptions: bool = False,
    verbose: bool = True,
    return_argmin: bool = True,
    points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
    max_queue_len: int = 1,
    show_progressbar: bool = True,
    early_stop_fn: EarlyStopFn | None = None,
    trials_save_file: str = "",
) -> Any:
    """Minimise ``fn`` over ``space``, with hyperopt's arguments and meanings.

    Args:
        fn: The objective; takes a config drawn from ``space``, returns a loss or a
            dict with ``loss`` and ``status``. Several objectives: a list of losses
            (or ``loss`` a list), all minimised; a result may carry ``constraints``
            (satisfied when ``<= 0``).
        space: A search space built with ``hp.*``.
        algo: ``tpe.suggest`` (default) or ``rand.suggest``, optionally a
            ``functools.partial`` binding settings.
        max_evals: Total number of trials (those already in ``trials`` count).
        timeout: Stop starting new trials after this many seconds.
        loss_threshold: Stop once a loss at or below this is found (single
            objective only).
        trials: A :class:`Trials` (in memory) or a store-backed ``StoreTrials``, which
            runs the study through the store and its workers.
        rstate: A numpy ``Generator`` (or ``RandomState``, or an int seed).
        allow_trials_fmin: Let ``trials.fmin`` run the search when it has one.
        pass_expr_memo_ctrl: Not supported; must be None.
        catch_eval_exceptions: Record an objective that raises (or returns an invalid
            result, NaN loss included) as a failed trial instead of raising.
        verbose: Log progress messages.
        return_argmin: Return the best params (choices as indices); otherwise the best
            config (``space_eval`` of them).
        points_to_evaluate: Params to try first, ``[{label: value}, ...]``; only
            when ``trials`` is empty, so that a resumed search does not repeat them.
        max_queue_len: Suggestions asked for at a time.
        show_progressbar: Show a progress bar.
        early_stop_fn: ``fn(trials, *state) -> (stop, state)``, called after each trial.
        trials_save_file: Not supported (a store-backed study checkpoints itself).

    Returns:
        The best params (or config, see ``return_argmin``); with several objectives
        the list of them for every trial on the Pareto front (``trials.best_trials``).

    Raises:
        AllTrialsFailed: No trial succeeded.
        MultiObjectiveError: ``loss_threshold`` is given for several objectives.
        ValueError: Bad arguments.
    """
    _check_unsupported(pass_expr_memo_ctrl, trials_save_file)
    if allow_trials_fmin and hasattr(trials, "fmin"):
        return trials.fmin(
            fn,
            space,
            algo=algo,
            max_evals=max_evals,
            timeout=timeout,
            loss_threshold=loss_threshold,
            rstate=rstate,
            catch_eval_exceptions=catch_eval_exceptions,
            return_argmin=return_argmin,
            points_to_evaluate=points_to_evaluate,
            show_progressbar=show_progressbar,
            early_stop_fn=early_stop_fn,
            max_queue_len=max_queue_len,
        )
    trials = Trials() if trials is None else trials
    rules = _StopRules(
        _check_max_evals(max_evals, timeout), timeout, loss_threshold, early_stop_fn
    )
    suggester = Suggester(space, _algorithm(algo))
    _replay(trials, suggester)
    points = [suggester.trial_for(p) for p in (points_to_evaluate or [])]
    queue = points if len(trials) == 0 else []  # a resumed search ran them already
    _search(
        fn,
        suggester,
        trials,
        as_generator(rstate),
        queue,
        rules,
        catch=catch_eval_exceptions,
        batch=max(1, max_queue_len),
        progress=show_progressbar and verbose,
    )
    return best_of(trials, space, return_argmin=return_argmin)


def best_of(trials: Any, space: Any, *, return_argmin: bool) -> Any:
    """The best params of ``trials`` (their config if not ``return_argmin``).

    With several objectives, a list: one per trial on the Pareto front.
    """
    if len(trials) == 0:
        raise ValueError("there are no trials, so there is no best trial to return")
    count = trials.n_objectives
    if count is None or count == 1:
        return trials.argmin if return_argmin else space_eval(space, trials.argmin)
    front = [
        {k: v[0] for k, v in t["misc"]["vals"].items() if v} for t in trials.best_trials
    ]
    return front if return_argmin else [space_eval(space, p) for p in front]


def check_loss_threshold(
    loss_threshold: float | None, n_objectives: int | None
) -> None:
    """Refuse a loss threshold for a study with several objectives.

    Raises:
        MultiObjectiveError: ``loss_threshold`` is set and ``n_objectives > 1``.
    """
    if loss_threshold is not None and n_objectives is not None and n_objectives > 1:
        raise MultiObjectiveError(
            f"`loss_threshold` needs a single loss, but the study has {n_objectives} "
            "objectives; leave it out (or stop with timeout / max_evals / "
            "early_stop_fn)"
        )


def as_generator(
    rstate: np.random.Generator | np.random.RandomState | int | None,
) -> np.random.Generator:
    """A numpy Generator from whatever hyperopt users pass as ``rstate``."""
    if isinstance(rstate, np.random.Generator):
        return rstate
    if isinstance(rstate, np.random.RandomState):
        return np.random.default_rng(rstate.randint(2**31 - 1))
    if rstate is None and os.environ.get("HYPEROPT_FMIN_SEED"):
        rstate = int(os.environ["HYPEROPT_FMIN_SEED"])
    if rstate is None or isinstance(rstate, int | np.integer):
        return np.random.default_rng(rstate)
    raise TypeError(
        f"`rstate` must be a numpy Generator, RandomState or int, but got {rstate!r}"
    )


def _algorithm(algo: Algorithm | None) -> Algorithm:
    if algo is None:
        from hpo_service.algorithms import tpe

        return tpe.suggest
    if not callable(algo):
        raise TypeError(f"`algo` must be callable (e.g. tpe.suggest), but got {algo!r}")
    return algo


def _check_unsupported(pass_expr_memo_ctrl: Any, trials_save_file: str) -> None:
    if pass_expr_memo_ctrl:
        raise ValueError("`pass_expr_memo_ctrl` is not supported by hpo-service")
    if trials_save_file:
        raise ValueError(
            "`trials_save_file` is not supported: use a store-backed StoreTrials, "
            "which checkpoints every trial in its database"
        )


def _check_max_evals(max_evals: int | None, timeout: float | None) -> int:
    if max_evals is None:
        if timeout is None:
            raise ValueError("give `max_evals` or `timeout`, so that fmin can stop")
        return sys.maxsize
    if isinstance(max_evals, bool) or not isinstance(max_evals, int | np.integer):
        raise TypeError(f"`max_evals` must be an int, but got max_evals={max_evals!r}")
    if max_evals < 0:
        raise ValueError(f"`max_evals >= 0` must hold, but got max_evals={max_evals}")
    return int(max_evals)


def _replay(trials: Trials, suggester: Suggester) -> None:
    """Feed trials left from an earlier fmin call into the history."""
    for doc in trials.trials:
        params = {k: v[0] for k, v in doc["misc"]["vals"].items() if v}
        if doc["state"] in (JOB_STATE_DONE, JOB_STATE_ERROR):
            suggester.observe(params, doc["result"])


def _search(
    fn: Callable[[Any], Any],
    suggester: Suggester,
    trials: Trials,
    rng: np.random.Generator,
    queue: list[Any],
    rules: _StopRules,
    *,
    catch: bool,
    batch: int,
    progress: bool,
) -> None:
    started = time.monotonic()
    check_loss_threshold(rules.loss_threshold, trials.n_objectives)
    best = _best_loss(trials)
    bar = Progress(
        rules.max_evals if rules.max_evals < sys.maxsize else None,
        enabled=progress,
        initial=len(trials),
    )
    early_state: list[Any] = []
    try:
        while len(trials) < rules.max_evals:
            if _timed_out(rules, started) or _threshold_met(rules, best):
                break
            if not queue:
                n = min(batch, rules.max_evals - len(trials))
                queue = suggester.suggest(_seeded(rng), n)
            new = queue.pop(0)
            result = _evaluate(fn, new, trials, suggester.labels, catch=catch)
            suggester.observe(new.params, result)
            check_loss_threshold(rules.loss_threshold, trials.n_objectives)
            loss = loss_of(result)
            best = loss if best is None or (loss is not None and loss < best) else best
            bar.update(len(trials), best)
            if rules.early_stop_fn is not None:
                stop, early_state = rules.early_stop_fn(trials, *early_state)
                if stop:
                    _logger.info("early stop requested after %s trials", len(trials))
                    break
    finally:
        bar.close()


def _seeded(rng: np.random.Generator) -> np.random.Generator:
    return np.random.default_rng(int(rng.integers(2**31 - 1)))


def _evaluate(
    fn: Callable[[Any], Any],
    new: Any,
    trials: Trials,
    labels: list[str],
    *,
    catch: bool,
) -> dict[str, Any]:
    """Run the objective on one trial, append its record and return its result."""
    tid = trials.new_trial_ids(1)[0]
    book = _dt.datetime.now(_dt.timezone.utc)
    error = None
    try:
        result = normalise_result(fn(new.config))
        names = trials.objective_names or ()
        check_objective_count(result, trials.n_objectives, names)
    except Exception as e:
        if not catch:
            raise
        if not isinstance(e, InvalidResultError):
            _logger.debug(
                "objective raised on trial %s:\n%s", tid, traceback.format_exc()
            )
        result, error = {"status": STATUS_FAIL}, (type(e).__name__, str(e))
    doc = make_trial_doc(
        tid,
        state=JOB_STATE_DONE if error is None else JOB_STATE_ERROR,
        params=new.params,
        labels=labels,
        result=result,
        error=error,
        book_time=book,
        refresh_time=_dt.datetime.now(_dt.timezone.utc),
    )
    trials.append(doc)
    return result


def _best_loss(trials: Trials) -> float | None:
    losses = [loss for r in trials.results if (loss := loss_of(r)) is not None]
    return min(losses) if losses else None


def _timed_out(rules: _StopRules, started: float) -> bool:
    return rules.timeout is not None and time.monotonic() - started >= rules.timeout


def _threshold_met(rules: _StopRules, best: float | None) -> bool:
    return (
        rules.loss_threshold is not None
        and best is not None
        and best <= rules.loss_threshold
    )
