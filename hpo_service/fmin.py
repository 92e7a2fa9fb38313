"""``fmin``: minimise an objective over a space, in process or through a study store.

This module path is hyperopt's: ``from hpo_service.fmin import fmin,
generate_trials_to_calculate`` works as ``from hyperopt.fmin import ...`` does.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from hpo_service.algorithms import Algorithm
from hpo_service.algorithms.pruners import resolve_pruner
from hpo_service.base import _is_number, validate_loss_threshold, validate_timeout
from hpo_service.driver._checkpoint import load_checkpoint
from hpo_service.driver._serial import SerialSearch, StopRules, point_docs
from hpo_service.driver._space_fit import fitting_trials, params_of
from hpo_service.driver._suggest import Suggester
from hpo_service.exceptions import (
    AllTrialsFailed,
    InvalidAnnotatedParameter,
    SpaceError,
)
from hpo_service.objective._result import (
    STATUS_OK,
    STATUS_PRUNED,
    best_position,
    losses_of,
    pareto_front,
)
from hpo_service.space import compile_space, space_eval
from hpo_service.space._eval import misfit_point, non_finite_param
from hpo_service.space._expr import Expr
from hpo_service.space._sample import as_generator
from hpo_service.trials import JOB_STATE_DONE, JOB_STATE_ERROR, JOB_STATE_NEW, Trials

__all__ = ["as_generator", "best_of", "fmin", "generate_trials_to_calculate"]


_logger = logging.getLogger(__name__)

_FINISHED = (JOB_STATE_DONE, JOB_STATE_ERROR)

EarlyStopFn = Callable[..., tuple[bool, list[Any]]]


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
    show_progressbar: bool | Callable[..., Any] = True,
    early_stop_fn: EarlyStopFn | None = None,
    trials_save_file: str = "",
    pruner: Any = None,
) -> Any:
    """Minimise ``fn`` over ``space``, with hyperopt's arguments and meanings.

    Args:
        fn: The objective; takes a config drawn from ``space``, returns a loss or a
            dict with ``loss`` and ``status`` (other keys are kept; in process they
            may be any object, ``attachments`` go to ``trials.attachments``).
            Several objectives: a list of losses (or ``loss`` a list), all
            minimised; a result may carry ``constraints`` (satisfied when ``<= 0``).
        space: A search space built with ``hp.*``, or ``"annotated"`` to read it
            from ``fn``'s parameter annotations (``def f(x: hp.uniform(...))``).
        algo: ``tpe.suggest`` (default), ``rand.suggest``, ``anneal.suggest`` or
            ``grid.suggest``, optionally a ``functools.partial`` binding settings.
        max_evals: Total number of trials (those already in ``trials``, error ones
            included, count); a whole float (``1e3``) counts as its int. May be None
            (or ``inf``) when another stop rule is given.
        timeout: Stop starting new trials after this many seconds (> 0).
        loss_threshold: Stop once a loss at or below this is found (one objective
            only).
        trials: A :class:`Trials` (in memory) or a store-backed ``StoreTrials`` /
            ``MongoTrials``, which runs the study through the store and its workers.
            A trial timeout exists on a store only (``StoreTrials(...,
            trial_timeout=60)``); in memory there is none, as in hyperopt: the
            objective runs in this process, which cannot kill it.
        rstate: A numpy ``Generator`` (or ``RandomState``, or an int seed). Each
            suggestion draws its seed from it, as hyperopt does (so simple spaces
            get hyperopt's values for a seed); a resumed search first skips one
            seed per finished trial, so it never replays the earlier points, while
            the same seed on fresh trials gives the same sequence.
        allow_trials_fmin: Let ``trials.fmin`` run the search when it has one. A
            ``StoreTrials``/``MongoTrials`` needs it (with False it is refused).
        pass_expr_memo_ctrl: Not supported; must be None.
        catch_eval_exceptions: Record an objective that raises (or returns an invalid
            result) as an error trial and go on, instead of raising after recording
            it. A NaN loss is always recorded as an error trial and never raises.
        verbose: Show progress.
        return_argmin: Return the best params (choices as indices); otherwise the best
            config (``space_eval`` of them), or None if no trial finished.
        points_to_evaluate: Params to try first, ``[{label: value}, ...]``; only
            when ``trials`` is empty, so that a resumed search does not repeat them.
            They count toward ``max_evals`` (hyperopt runs ``max_evals`` more).
        max_queue_len: Suggestions asked for at a time.
        show_progressbar: Show a progress bar; or hyperopt's progress callback, a
            context manager ``callback(initial=n, total=max_evals)`` whose value gets
            ``update(k)`` as ``k`` more trials finish and ``postfix`` (the best
            loss).
        early_stop_fn: ``fn(trials, *state) -> (stop, state)``, called after each trial.
        trials_save_file: Pickle the trials to this path after every trial; when
            ``trials`` is None and the file exists, resume from it. Load only files
            you wrote: unpickling runs code. Not written with ``StoreTrials`` or
            ``MongoTrials`` (a warning says so): the store keeps every trial.
        pruner: Stops unpromising trials early from what they report
            (``hpo_service.report``): None (no pruning), a name (``"median"``,
            ``"percentile"``, ``"asha"``, with default settings) or a pruner object
            from ``hpo_service.pruners`` (hyperband has no default ``max_resource``:
            ``pruners.HyperbandPruner(max_resource=27)``). Pruned trials count
            toward ``max_evals``. With ``StoreTrials``, None keeps the study's
            pruner, and a name resuming a study of that pruner keeps its stored
            settings.

    Returns:
        The best params (or config, see ``return_argmin``); with several objectives
        the list of them for every trial on the Pareto front (``trials.best_trials``).

    Raises:
        AllTrialsFailed: No trial succeeded (with ``return_argmin``, or when some
            trial finished but none with status ok); on a study resumed with
            ``StoreTrials(..., override=True)`` and a changed space, none of the
            trials this space can evaluate succeeded (the best is taken among
            them, with a warning saying how many finished trials do not fit).
        SpaceError: In-process ``trials`` hold finished trials of another space
            (a label added or removed); refused before any trial runs, as in
            hyperopt. A point to evaluate (or a queued trial of ``trials``) holds
            a value no parameter takes (NaN, an infinity, no number), refused
            before any trial runs: ``"point 0 does not fit the space: params['x']
            must be a finite number, but got nan"``; on a store, any point that
            does not fit the study's space is refused so.
        MultiObjectiveError: ``loss_threshold`` is given for several objectives.
        TypeError: ``trials`` or ``algo`` come from hyperopt itself (the message
            says what to pass instead); ``trials`` is of no kind listed above, or a
            ``StoreTrials`` with ``allow_trials_fmin=False``.
        ValueError: Bad arguments.
    """
    if pass_expr_memo_ctrl:
        raise ValueError("`pass_expr_memo_ctrl` is not supported by hpo-service")
    rules = check_stop_rules(max_evals, timeout, loss_threshold, early_stop_fn)
    _refuse_hyperopt_trials(trials)
    fn, space = _annotated(fn, space)
    progress = show_progressbar if verbose else False
    if allow_trials_fmin and hasattr(trials, "fmin") and not isinstance(trials, Trials):
        from hpo_service.driver._store_trials import warn_unsaved

        warn_unsaved(trials, trials_save_file)  # its stacklevel names fmin's caller
        return _search_on_store(
            trials, fn, space, algo=algo, max_evals=max_evals, timeout=timeout,
            loss_threshold=loss_threshold, rstate=rstate,
            catch_eval_exceptions=catch_eval_exceptions, return_argmin=return_argmin,
            points_to_evaluate=points_to_evaluate, show_progressbar=progress,
            early_stop_fn=early_stop_fn, max_queue_len=max_queue_len, pruner=pruner,
        )  # fmt: skip
    return _search_in_process(
        fn, space, _initial_trials(trials, trials_save_file, allow_trials_fmin), rules,
        algo=algo, rstate=rstate, catch=catch_eval_exceptions,
        points=points_to_evaluate, max_queue_len=max_queue_len,
        save_file=trials_save_file, pruner=pruner, progress=progress,
        return_argmin=return_argmin,
    )  # fmt: skip


def _search_on_store(
    trials: Any, fn: Any, space: Any, *, pruner: Any, **given: Any
) -> Any:
    """Run the search through ``trials``' store (``StoreTrials.fmin``), given
    fmin's arguments; no ``pruner`` is passed when none is given, so the study's
    own stays."""
    extra = {} if pruner is None else {"pruner": pruner}
    return trials.fmin(fn, space, **given, **extra)


def _search_in_process(
    fn: Callable[[Any], Any],
    space: Any,
    trials: Trials,
    rules: StopRules,
    *,
    algo: Algorithm | None,
    rstate: np.random.Generator | np.random.RandomState | int | None,
    catch: bool,
    points: Sequence[Mapping[str, Any]] | None,
    max_queue_len: int,
    save_file: str,
    pruner: Any,
    progress: bool | Callable[..., Any],
    return_argmin: bool,
) -> Any:
    """Run the search in this process on in-memory ``trials`` (the points to
    evaluate queued first into empty ones); return fmin's result."""
    suggester = Suggester(space, _algorithm(algo))
    if points and not trials._dynamic_trials:
        _refuse_non_finite(suggester, enumerate(points))
        trials.insert_trial_docs(point_docs(points, suggester.labels))
    queued = [d for d in trials._dynamic_trials if d["state"] == JOB_STATE_NEW]
    _refuse_non_finite(suggester, ((d["tid"], params_of(d)) for d in queued))
    said = SerialSearch(
        fn,
        suggester,
        trials,
        rules,
        seeds=seed_stream(rstate),
        catch=catch,
        batch=max(1, max_queue_len),
        save_file=save_file,
        pruner=resolve_pruner(pruner),
    ).run(progress=progress)
    return best_of(trials, space, return_argmin=return_argmin, stopped=said)


def _refuse_non_finite(
    suggester: Suggester, points: Iterable[tuple[int, Mapping[str, Any]]]
) -> None:
    """Refuse, before any trial runs, a point to evaluate (``(tid, params)``: of
    ``points_to_evaluate`` or a queued trial, ``generate_trials_to_calculate``'s)
    holding a value no parameter takes (NaN, an infinity, no number), in the
    words a store's study uses (``non_finite_param``); a value only outside a
    parameter's range is still evaluated as given, as in hyperopt.

    Raises:
        SpaceError: ``"point 0 does not fit the space: params['x'] must be a
            finite number, but got nan"``.
    """
    for tid, params in points:
        problem = non_finite_param(suggester.compiled, params)
        if problem is not None:
            raise SpaceError(misfit_point(f"point {tid}", problem, "the space"))


def generate_trials_to_calculate(
    points: Sequence[Mapping[str, Any]],
) -> Trials:
    """A :class:`Trials` holding ``points`` as new trials, which ``fmin`` runs first.

    hyperopt's warm start: ``fmin(..., trials=generate_trials_to_calculate(points))``.

    Args:
        points: ``[{label: value}, ...]`` with a value for every active parameter
            (the option index for a choice).

    Returns:
        Trials whose trials are in state ``JOB_STATE_NEW``, tids ``0..len-1``.

    Raises:
        TypeError: ``points`` is not a list of dicts.
    """
    if isinstance(points, Mapping) or not all(isinstance(p, Mapping) for p in points):
        raise TypeError(
            "`points` must be a list of {label: value} dicts, "
            f"but got points={points!r:.200}"
        )
    trials = Trials()
    trials.insert_trial_docs(point_docs(points, labels=None))
    return trials


def best_of(
    trials: Any, space: Any, *, return_argmin: bool, stopped: str | None = None
) -> Any:
    """What ``fmin`` returns: the best params, or the best config, of ``trials``.

    With several objectives, a list: one per trial on the Pareto front (empty,
    with a warning, while no successful trial satisfies its constraints).

    When some finished trials are not points of ``space`` (a study resumed with
    ``override=True`` after a label was added or removed), the best is taken among
    those that are, with a warning saying how many are not.

    ``stopped`` is what stopped the search (``"timeout=60 s ran out"``), said
    when it stopped before any trial finished.

    Raises:
        AllTrialsFailed: ``return_argmin`` and no trial finished, or trials finished
            but none with status ok (none that ``space`` can evaluate).
    """
    if len(trials) == 0:
        if not return_argmin:
            return None  # as hyperopt: every trial raised, nothing to evaluate
        why = _why_none_finished(trials._dynamic_trials, stopped)
        raise AllTrialsFailed(
            f"no trial finished ({why}), so there is no best trial to return"
        )
    count = trials.n_objectives
    fitting = fitting_trials(compile_space(space), trials)
    if fitting is not None:  # a study resumed with override=True and a new space
        return _best_of_fitting(fitting, space, count, return_argmin=return_argmin)
    if count is not None and count > 1:
        return _front(trials.trials, space, return_argmin=return_argmin)
    return trials.argmin if return_argmin else space_eval(space, trials.argmin)


def _best_of_fitting(
    docs: list[dict[str, Any]],
    space: Any,
    count: int | None,
    *,
    return_argmin: bool,
) -> Any:
    """``best_of`` among the trial dicts ``docs`` (those the space can evaluate,
    error ones included).

    Raises:
        AllTrialsFailed: No trial of ``docs`` succeeded (one objective); the
            message says how many ended in error and the last error.
    """
    if count is not None and count > 1:
        return _front(docs, space, return_argmin=return_argmin)
    best = best_position([d["result"] for d in docs])
    if best is None:
        raise AllTrialsFailed(
            "no trial that this space can evaluate has status 'ok' and a numeric "
            f"loss ({_why_none_finished(docs)})"
        )
    params = params_of(docs[best])
    return params if return_argmin else space_eval(space, params)


def _front(docs: list[dict[str, Any]], space: Any, *, return_argmin: bool) -> Any:
    """The Pareto front of the trial dicts ``docs`` (``trials.best_trials`` of
    them), as params or configs; empty, with a warning saying what the trials
    were (the finished ones: queued, running and cancelled trials are left out),
    while no successful trial satisfies its constraints."""
    front = [params_of(docs[i]) for i in pareto_front([d["result"] for d in docs])]
    if not front:
        finished = [d for d in docs if d["state"] in _FINISHED]
        _logger.warning(
            "the Pareto front is empty: none of the %d trials is a success with "
            "every constraint <= 0 (%s)",
            len(finished),
            _why_no_front(finished),
        )
    return front if return_argmin else [space_eval(space, p) for p in front]


def _why_none_finished(docs: list[dict[str, Any]], stopped: str | None = None) -> str:
    """``"3 ended in error, the last: TYPE: MESSAGE"`` (the message cut at 300
    characters) of the trial dicts ``docs`` (hyperopt's ``_dynamic_trials``,
    error ones included): on a store the error is a worker's, which the user of
    ``fmin`` saw nowhere (the workers log it). Without an error trial, what
    ``stopped`` the search before the first trial finished (``"timeout=1 s ran
    out before any trial finished"``), or, not known, ``"every one raised or
    none ran"``."""
    errors = [t for t in docs if t.get("state") == JOB_STATE_ERROR]
    if not errors and stopped:
        return f"{stopped} before any trial finished"
    if not errors:
        return "every one raised or none ran"
    error = errors[-1].get("misc", {}).get("error")
    kind, message = (
        error if isinstance(error, tuple | list) and len(error) == 2 else ("", "")
    )
    last = f", the last: {kind}: {message!s:.300}" if kind else ""
    return f"{len(errors)} ended in error{last}"


def _why_no_front(docs: list[dict[str, Any]]) -> str:
    """What the trial dicts ``docs`` of a study with an empty Pareto front were,
    e.g. ``"3 pruned, 2 returned status 'fail'"`` (``"4 violate their
    constraints"``, ``"2 ended in error"``)."""
    kinds: dict[str, int] = {}
    for trial in docs:
        result = trial.get("result") or {}
        status = result.get("status")
        if trial.get("state") == JOB_STATE_ERROR:
            kind = "ended in error"
        elif status == STATUS_OK and losses_of(result) is not None:
            kind = "violate their constraints"
        elif status == STATUS_OK:
            kind = "have no loss"
        elif status == STATUS_PRUNED:
            kind = "pruned"
        else:
            kind = f"returned status {status!r}"
        kinds[kind] = kinds.get(kind, 0) + 1
    return ", ".join(f"{n} {kind}" for kind, n in kinds.items())


def seed_stream(
    rstate: np.random.Generator | np.random.RandomState | int | None,
) -> np.random.Generator:
    """The generator that one seed per suggestion is drawn from, as in hyperopt.

    ``rstate`` itself when it is a Generator (so reusing it for a second call gives
    new seeds); seeded by ``HYPEROPT_FMIN_SEED`` or fresh entropy when None.
    """
    if rstate is None and os.environ.get("HYPEROPT_FMIN_SEED"):
        rstate = int(os.environ["HYPEROPT_FMIN_SEED"])
    return as_generator(rstate)


def check_stop_rules(
    max_evals: Any, timeout: Any, loss_threshold: Any, early_stop_fn: Any
) -> StopRules:
    """Check fmin's stop arguments; at least one must be able to stop the search.

    Raises:
        ValueError: ``timeout`` is not None or a positive number, ``loss_threshold``
            is not None or a number (hyperopt's messages), ``max_evals`` is negative,
            or nothing can stop the search.
        TypeError: ``max_evals`` is not a whole number (a whole float is its int,
            ``inf`` means no limit, as None), or ``early_stop_fn`` not callable.
    """
    validate_timeout(timeout)
    validate_loss_threshold(loss_threshold)
    if early_stop_fn is not None and not callable(early_stop_fn):
        raise TypeError(
            f"`early_stop_fn` must be callable, but got early_stop_fn={early_stop_fn!r}"
        )
    max_evals = _whole_max_evals(max_evals)
    if max_evals is None:
        if timeout is None and loss_threshold is None and early_stop_fn is None:
            raise ValueError(
                "give `max_evals`, or a stop rule (`timeout`, `loss_threshold` or "
                "`early_stop_fn`), so that fmin can stop"
            )
        max_evals = sys.maxsize
    if max_evals < 0:
        raise ValueError(f"`max_evals >= 0` must hold, but got max_evals={max_evals}")
    return StopRules(max_evals, timeout, loss_threshold, early_stop_fn)


def _whole_max_evals(max_evals: Any) -> int | None:
    """``max_evals`` as an int; None for no limit (None or ``inf``).

    hyperopt only compares ``max_evals`` with a count, so its users pass whole
    floats (``1e3``, ``n / 2``) and ``np.inf`` beside another stop rule.

    Raises:
        TypeError: ``max_evals`` is not a whole number (nor ``inf``).
    """
    if max_evals is None or _is_integer(max_evals):
        return None if max_evals is None else int(max_evals)
    if _is_number(max_evals) and math.isinf(max_evals) and max_evals > 0:
        return None
    if _is_number(max_evals) and float(max_evals).is_integer():
        return int(max_evals)
    raise TypeError(
        "`max_evals` must be an int (or a whole float such as 1e3, or inf for no "
        f"limit), but got max_evals={max_evals!r}"
    )


def _is_integer(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _annotated(fn: Callable[..., Any], space: Any) -> tuple[Callable[..., Any], Any]:
    """``space="annotated"``: the space is ``fn``'s annotations, ``fn`` takes kwargs.

    Raises:
        InvalidAnnotatedParameter: A parameter is not annotated with an ``hp``
            expression.
    """
    if not (isinstance(space, str) and space == "annotated"):
        return fn, space
    try:
        annotations = inspect.get_annotations(fn, eval_str=True)
    except Exception:  # string annotations that do not evaluate: report below
        annotations = inspect.get_annotations(fn)
    annotations.pop("return", None)
    for name, annotation in annotations.items():
        if not isinstance(annotation, Expr):
            raise InvalidAnnotatedParameter(
                "with space='annotated' every parameter of fn must be annotated with "
                f"an hp expression, but {name!r} is annotated with {annotation!r}"
            )

    def call(config: dict[str, Any]) -> Any:
        return fn(**config)

    return call, dict(annotations)


def _initial_trials(trials: Any, save_file: str, allow_trials_fmin: bool) -> Trials:
    """The in-memory trials an in-process search runs on: ``trials``, or a fresh
    (or ``save_file``'s) Trials when None.

    Raises:
        TypeError: ``trials`` is not a Trials; for a StoreTrials/MongoTrials (which
            run their search through their own ``fmin``) the message names
            ``allow_trials_fmin=False`` as the reason.
    """
    if trials is None:
        if save_file and os.path.exists(save_file):
            _logger.info("resuming from trials_save_file %s", save_file)
            return load_checkpoint(save_file)
        return Trials()
    if isinstance(trials, Trials):
        return trials
    name = type(trials).__name__
    if not allow_trials_fmin and hasattr(trials, "fmin"):
        raise TypeError(
            "`trials` must be a Trials when allow_trials_fmin=False (a StoreTrials "
            "or MongoTrials runs its search through its store, which needs "
            f"allow_trials_fmin=True), but got {name}"
        )
    raise TypeError(
        f"`trials` must be a Trials, a StoreTrials or a MongoTrials, but got {name}"
    )


def _refuse_hyperopt_trials(trials: Any) -> None:
    """Refuse hyperopt's own trials objects (``Trials``, ``MongoTrials``, ...).

    Raises:
        TypeError: ``trials`` comes from hyperopt.
    """
    kind = type(trials)
    if kind.__module__.split(".")[0] != "hyperopt":
        return
    raise TypeError(
        "`trials` must be one of hpo_service's (from hpo_service import Trials, "
        f"or MongoTrials), but got hyperopt's own {kind.__module__}.{kind.__name__}; "
        "to go on from its trials, pass "
        "trials=hpo_service.trials_from_docs(old_trials._dynamic_trials)"
    )


def _algorithm(algo: Algorithm | None) -> Algorithm:
    if algo is None:
        from hpo_service.algorithms import tpe

        return tpe.suggest
    if not callable(algo):
        raise TypeError(f"`algo` must be callable (e.g. tpe.suggest), but got {algo!r}")
    _refuse_hyperopt_algorithm(algo)
    return algo


def _refuse_hyperopt_algorithm(algo: Algorithm) -> None:
    """Refuse hyperopt's own suggest functions and ones written to its interface.

    Raises:
        TypeError: ``algo`` (or the function a partial wraps) comes from hyperopt, or
            takes hyperopt's ``(new_ids, domain, trials, seed)``.
    """
    function = algo
    while isinstance(function, functools.partial):
        function = function.func
    module = getattr(function, "__module__", None) or ""
    name = f"{module}.{getattr(function, '__qualname__', function)!s}"
    if module.split(".")[0] == "hyperopt":
        raise TypeError(
            f"`algo` must be one of hpo_service's algorithms (from hpo_service import "
            f"tpe, then algo=tpe.suggest), but got hyperopt's own {name}"
        )
    try:
        names = list(inspect.signature(function).parameters)[:2]
    except (TypeError, ValueError):
        return
    if names == ["new_ids", "domain"]:
        raise TypeError(
            f"`algo` is called as algo(space, history, rng, n) here, but {name} "
            "takes hyperopt's (new_ids, domain, trials, seed): pass hpo_service's "
            "tpe/rand/anneal/mix suggest, with settings through functools.partial"
        )
