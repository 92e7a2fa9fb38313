"""In-process search: suggest, run the objective here, record, one trial at a time.

This is what ``fmin`` does without a store. The trials object holds every trial dict
(hyperopt's shape); trials in state new (``generate_trials_to_calculate``,
``points_to_evaluate``, or a batch of suggestions) run first, in tid order.
"""

from __future__ import annotations

import datetime as _dt
import logging
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpo_service._common.stop_words import stop_said
from hpo_service.algorithms._pareto import ParetoArchive
from hpo_service.algorithms.pruners import BasePruner, NopPruner
from hpo_service.algorithms.pruners._ladder import short_rule
from hpo_service.driver._checkpoint import save_checkpoint
from hpo_service.driver._local_pruning import LocalPruning
from hpo_service.driver._output import several_objectives_pruning
from hpo_service.driver._progress import Progress, show_ladder
from hpo_service.driver._space_fit import params_of, refuse_other_space
from hpo_service.driver._suggest import Suggester
from hpo_service.exceptions import (
    InvalidResultError,
    MultiObjectiveError,
    SearchExhausted,
    SpaceCodeError,
    TrialPruned,
)
from hpo_service.objective._report import TrialContext, ignored_prune, pruned_result
from hpo_service.objective._result import (
    STATUS_PRUNED,
    best_key,
    check_constraint_count,
    check_objective_count,
    constraints_count,
    losses_of,
    normalise_result,
    objective_count,
    unrankable_loss,
    violation_of,
)
from hpo_service.trials import (
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
    STATUS_FAIL,
    STATUS_NEW,
    Trials,
    make_trial_doc,
)

_logger = logging.getLogger(__name__)

_FINISHED = (JOB_STATE_DONE, JOB_STATE_ERROR)
_SEED_BOUND = 2**31 - 1


@dataclass(frozen=True)
class StopRules:
    """When an in-process search stops (checked by ``fmin.check_stop_rules``)."""

    max_evals: int
    timeout: float | None
    loss_threshold: float | None
    early_stop_fn: Callable[..., tuple[bool, list[Any]]] | None


class BestSoFar:
    """The best trial's rank key (one objective) and the Pareto front (several).

    The key is :func:`~hpo_service.objective._result.best_key`'s: feasible trials
    first, then the lowest loss; the front holds the feasible loss vectors.
    """

    def __init__(self) -> None:
        self.key: tuple[float, float] | None = None
        self.front = ParetoArchive()
        self.pruned = 0
        self.failed = 0  # results of status "fail"

    def add(self, result: Mapping[str, Any] | None) -> None:
        """Take one finished trial's result (None for an error trial) into account."""
        if result is not None and result.get("status") == STATUS_PRUNED:
            self.pruned += 1
        if result is not None and result.get("status") == STATUS_FAIL:
            self.failed += 1
        key = best_key(result)
        if key is not None and (self.key is None or key < self.key):
            self.key = key
        losses = None if result is None else losses_of(result)
        if losses is not None and len(losses) > 1 and violation_of(result or {}) <= 0:
            self.front.add(losses)

    def reached(self, threshold: float | None) -> bool:
        """Whether a feasible trial's loss is at or below ``threshold``."""
        key = self.key
        if threshold is None or key is None:
            return False
        return key[0] <= 0 and key[1] <= threshold

    def show(
        self, bar: Progress, done: int, n_objectives: int | None, errors: int = 0
    ) -> None:
        """Update ``bar`` with ``done`` finished trials (``errors`` of them error
        trials) and the best so far."""
        key = self.key
        bar.update(
            done,
            None if key is None else key[1],
            pruned=self.pruned,
            errors=errors,
            front=self.front.size if (n_objectives or 1) > 1 else None,
            feasible=key is None or key[0] <= 0,
            failed=self.failed,
        )


def check_loss_threshold(
    loss_threshold: float | None, n_objectives: int | None, *, cli: bool = False
) -> None:
    """Refuse a loss threshold for a study with several objectives.

    Args:
        cli: Name the command line's options (``--loss-threshold``) instead of
            ``fmin``'s arguments.

    Raises:
        MultiObjectiveError: ``loss_threshold`` is set and ``n_objectives > 1``.
    """
    if loss_threshold is None or n_objectives is None or n_objectives <= 1:
        return
    if cli:  # the words of hpo-driver start's own refusal before the study starts
        raise MultiObjectiveError(
            f"`--loss-threshold` needs a single objective, but the study has "
            f"{n_objectives} objectives; leave it out (stop on --max-evals, "
            "--timeout or --no-improvement)"
        )
    raise MultiObjectiveError(
        f"`loss_threshold` needs a single loss, but the study has {n_objectives} "
        "objectives; leave it out (or stop on max_evals, timeout or early_stop_fn)"
    )


def point_docs(
    points: Sequence[Mapping[str, Any]], labels: Sequence[str] | None
) -> list[dict[str, Any]]:
    """New trial dicts (tids ``0..``) for given params, run before any suggestion.

    Args:
        points: ``[{label: value}, ...]``.
        labels: Every label of the space (absent ones get empty lists), or None to
            list only the labels each point gives.
    """
    return [
        make_trial_doc(
            tid,
            state=JOB_STATE_NEW,
            params=dict(point),
            labels=list(point) if labels is None else labels,
            result={"status": STATUS_NEW},
        )
        for tid, point in enumerate(points)
    ]


class SerialSearch:
    """Runs trials one after the other in this process until a stop rule fires.

    The objective's reports (``hpo_service.report``) go to the trial dict's
    ``intermediate`` and to ``pruner``; an objective raising ``TrialPruned`` ends as
    a pruned trial (state done, result status ``"pruned"``).
    """

    def __init__(
        self,
        fn: Callable[[Any], Any],
        suggester: Suggester,
        trials: Trials,
        rules: StopRules,
        *,
        seeds: np.random.Generator,
        catch: bool,
        batch: int,
        save_file: str = "",
        pruner: BasePruner | None = None,
    ) -> None:
        self.fn = fn
        self.suggester = suggester
        self.trials = trials
        self.rules = rules
        self.seeds = seeds
        self.catch = catch
        self.batch = batch
        self.save_file = save_file
        self._early_state: list[Any] = []
        self._no_doc_reason = "max_evals"  # or "exhausted": why no trial is next
        self._sampled: set[int] = set()  # tids the algorithm suggested
        self._said_ignored_prune = False
        self._said_pruning_several = False
        # fixed by the first success carrying constraints: read once, then kept
        # from each recorded result (a scan of every result per trial was O(n^2))
        self._n_constraints = trials.n_constraints
        # likewise the objective count: the names', else the first success's
        self._n_objectives = trials.n_objectives
        requeue_interrupted(trials)
        self._pruning = LocalPruning(pruner or NopPruner(), trials._dynamic_trials)
        self._best = replay(trials, suggester)
        skip_seeds(seeds, self._n_finished())

    def run(self, *, progress: bool | Callable[..., Any]) -> str:
        """Evaluate queued and suggested trials until a stop rule fires.

        Returns:
            What stopped the search, in ``fmin``'s words (``"timeout=60 s ran
            out"``, ``"max_evals=20 reached"``: :func:`~hpo_service._common.
            stop_words.stop_said`), also said on the end line (or logged).
        """
        total = self.rules.max_evals
        check_loss_threshold(self.rules.loss_threshold, self._n_objectives)
        pruner = self._pruning.pruner
        bar = Progress(  # it redirects the prints: closed below, also on an error
            total if total < sys.maxsize else None,
            enabled=progress,
            initial=self._n_finished(),
            pruning=short_rule(pruner.name, pruner.settings()),
        )
        try:
            reason = self._loop(bar)
        except BaseException:
            bar.close(last_line=False)  # the error says how the run ended
            raise
        said = stop_said(reason, self.rules, python=True)
        bar.close(why=said)
        show_ladder(lambda: self._pruning.ladder(self.trials._dynamic_trials), progress)
        return said

    def _loop(self, bar: Progress) -> str:
        """Run trials until a stop rule fires; return its reason (a key of
        :data:`~hpo_service._common.stop_words.STOP_WORDS`)."""
        started = time.monotonic()
        self._show(bar)  # trials of an earlier run, if any
        while (reason := self._stopping(started)) is None:
            self._say_pruning_several()  # names given, or a first result
            doc = self._next_doc()
            if doc is None:
                return self._no_doc_reason
            self._run_one(doc)
            check_loss_threshold(self.rules.loss_threshold, self._n_objectives)
            self._show(bar)
            if self._early_stop():
                return "early_stop"
        return reason

    def _show(self, bar: Progress) -> None:
        self._best.show(bar, self._n_finished(), self._n_objectives, self._n_errors())

    # ---- steps -----------------------------------------------------------------

    def _stopping(self, started: float) -> str | None:
        """The stop rule that fires now (``"timeout"``, ``"loss_threshold"``), or
        None."""
        rules = self.rules
        if rules.timeout is not None and time.monotonic() - started >= rules.timeout:
            return "timeout"
        return "loss_threshold" if self._best.reached(rules.loss_threshold) else None

    def _next_doc(self) -> dict[str, Any] | None:
        """The next new trial dict, suggesting a batch when none is queued."""
        queued = self._queued()
        if queued:
            return queued[0]
        room = self.rules.max_evals - self._n_finished()
        self._no_doc_reason = "max_evals"
        if room <= 0:
            return None
        tids = self.trials.new_trial_ids(min(self.batch, room))
        self._sampled.update(tids)
        seed = int(self.seeds.integers(_SEED_BOUND))
        try:
            new = self.suggester.suggest_seeded(seed, tids)
        except SearchExhausted as e:
            _logger.info("search exhausted: %s", e)
            self._no_doc_reason = "exhausted"
            return None
        self.trials.insert_trial_docs(
            [
                make_trial_doc(
                    tid,
                    state=JOB_STATE_NEW,
                    params=params,
                    labels=self.suggester.labels,
                    result={"status": STATUS_NEW},
                )
                for tid, params in zip(tids, new, strict=False)  # grid: maybe fewer
            ]
        )
        return self._queued()[0]

    def _run_one(self, doc: dict[str, Any]) -> None:
        params = params_of(doc)
        point = "sampled point" if doc["tid"] in self._sampled else "point"
        result: dict[str, Any] | None = None
        try:  # a point that cannot be evaluated (SpaceError) stays queued
            new, valid = self.suggester.point_trial(params, point)
        except SpaceCodeError as e:
            self._space_raised(doc, e)
            return
        doc["state"] = JOB_STATE_RUNNING
        doc["book_time"] = _now()
        try:
            with self._pruning.running(doc["tid"]) as (progress, context):
                doc["intermediate"] = progress.intermediate
                result = self._call(new.config, doc["tid"], context)
            self._record_result(doc, result)
        except Exception as e:
            result = None
            self._record_error(doc, e)
            if isinstance(e, _NaNLoss):
                pass  # said when the loss came back
            elif self.catch:  # as hyperopt's "job exception" line: never silent
                _logger.warning(
                    "trial %s: %s: %s; recorded as an error",
                    doc["tid"], type(e).__name__, e,
                )  # fmt: skip
            else:
                raise
        finally:
            self._pruning.observe(doc)
            self.trials._refresh_changed()
            if self.save_file:
                save_checkpoint(self.trials, self.save_file)
        if valid:
            self.suggester.observe(params, result)

    def _space_raised(self, doc: dict[str, Any], error: SpaceCodeError) -> None:
        """End the trial whose config the space's own code could not make as an
        error trial, as hyperopt's ``Domain.evaluate`` does (it evaluates the space
        inside the trial): never left queued, so a resumed ``trials`` does not run
        the point again. With ``catch_eval_exceptions`` the search goes on.

        Raises:
            SpaceCodeError: ``error``, when ``catch_eval_exceptions`` is False.
        """
        where = error.where()
        doc["misc"]["error"] = (type(error).__name__, f"{error}{where}")
        doc.update(
            state=JOB_STATE_ERROR,
            result={"status": STATUS_FAIL},
            book_time=_now(),
            refresh_time=_now(),
        )
        self.trials._refresh_changed()
        if self.save_file:
            save_checkpoint(self.trials, self.save_file)
        if self.suggester.is_valid(error.params):  # a failure, as replay() sees it
            self.suggester.observe(error.params, None)
        if not self.catch:
            raise error
        _logger.warning(
            "trial %s: SpaceCodeError: %s%s; recorded as an error",
            doc["tid"], error, where,
        )  # fmt: skip

    def _call(self, config: Any, tid: int, context: TrialContext) -> dict[str, Any]:
        """The objective's normalised result (a NaN loss, or an infinite one among
        several, raises :class:`_NaNLoss`).

        An objective that raises ``TrialPruned`` gives a pruned result.
        """
        start = time.perf_counter()
        try:
            value = self.fn(config)
        except TrialPruned:
            _logger.debug("trial %s pruned at step %s", tid, context.last_step)
            return pruned_result(context, time.perf_counter() - start)
        self._say_ignored_prune(tid, context)
        problem = unrankable_loss(value)
        if problem is not None:
            _logger.warning(
                "trial %s: InvalidLoss: %s; recorded as an error", tid, problem
            )  # the type _record_error records, as for other invalid results
            raise _NaNLoss(problem)
        result = normalise_result(value, storable=False)
        names = self.trials.objective_names or ()
        check_objective_count(result, self._n_objectives, names)
        check_constraint_count(result, self._n_constraints)
        return result

    def _say_ignored_prune(self, tid: int, context: TrialContext) -> None:
        """Warn, once per search, that the objective never checks the pruner."""
        problem = ignored_prune(context)
        if problem is not None and not self._said_ignored_prune:
            self._said_ignored_prune = True
            _logger.warning("trial %s: %s (shown once)", tid, problem)

    def _say_pruning_several(self) -> None:
        """Warn, once per search, that with several objectives the pruner judges
        the one reported value, not the front (as ``hpo-driver start`` says)."""
        if self._said_pruning_several:
            return
        pruner = self._pruning.pruner.name
        note = several_objectives_pruning(pruner, self._n_objectives)
        if note is not None:
            self._said_pruning_several = True
            _logger.warning("%s", note)

    def _record_result(self, doc: dict[str, Any], result: dict[str, Any]) -> None:
        attachments = result.pop("attachments", None)
        if attachments is not None:
            if not isinstance(attachments, Mapping):
                raise InvalidResultError(
                    "result['attachments'] must be a dict {name: bytes or str}, but "
                    f"got {type(attachments).__name__}"
                )
            view = self.trials.trial_attachments(doc)
            for name, value in attachments.items():
                view[str(name)] = value
        doc.update(state=JOB_STATE_DONE, result=result, refresh_time=_now())
        self._best.add(result)
        if self._n_constraints is None:  # this result may fix the count
            self._n_constraints = constraints_count(result) or None
        if self._n_objectives is None:  # the first success fixes the count
            self._n_objectives = objective_count([result])

    def _record_error(self, doc: dict[str, Any], error: Exception) -> None:
        if not isinstance(error, InvalidResultError):
            _logger.debug(
                "objective raised on trial %s:\n%s", doc["tid"], traceback.format_exc()
            )
        name = "InvalidLoss" if isinstance(error, _NaNLoss) else type(error).__name__
        doc["misc"]["error"] = (name, str(error))
        doc.update(
            state=JOB_STATE_ERROR,
            result={"status": STATUS_FAIL},
            book_time=_now(),
            refresh_time=_now(),
        )

    def _early_stop(self) -> bool:
        if self.rules.early_stop_fn is None:
            return False
        stop, self._early_state = self.rules.early_stop_fn(
            self.trials, *self._early_state
        )
        return bool(stop)

    # The three below read what Trials keeps between refreshes (the open trials,
    # counts by state): scans of every trial here, a few per trial, were O(n^2).
    def _queued(self) -> list[dict[str, Any]]:
        docs = self.trials.open_trials()
        return sorted(
            (d for d in docs if d["state"] == JOB_STATE_NEW), key=lambda d: d["tid"]
        )

    def _n_finished(self) -> int:
        return self.trials.count_by_state_unsynced(_FINISHED)

    def _n_errors(self) -> int:
        return self.trials.count_by_state_unsynced(JOB_STATE_ERROR)


class _NaNLoss(InvalidResultError):
    """A NaN loss (or an infinite one among several): recorded as an error trial even
    without catch_eval_exceptions."""


def skip_seeds(seeds: np.random.Generator, n: int) -> None:
    """Advance the seed stream past ``n`` suggestions (those of finished trials).

    A resumed search with the same ``rstate`` seed then continues the sequence
    instead of replaying its first points (hyperopt replays them).
    """
    if n > 0:
        seeds.integers(_SEED_BOUND, size=n)


def requeue_interrupted(trials: Trials) -> None:
    """Queue again the trials a search left running when it was interrupted (Ctrl-C
    in the objective; also in a checkpoint, ours or hyperopt's, saved meanwhile).

    In process nothing else runs them: left as they are (as hyperopt leaves them),
    they would count in ``len(trials)`` but never finish. They run first, with their
    params, and their reports of the interrupted attempt are dropped.
    """
    for doc in trials._dynamic_trials:
        if doc["state"] == JOB_STATE_RUNNING:
            _logger.info("trial %s was interrupted: it runs again", doc["tid"])
            doc.update(
                state=JOB_STATE_NEW,
                result={"status": STATUS_NEW},
                book_time=None,
                intermediate={},
            )
    trials.refresh()


def replay(trials: Trials, suggester: Suggester) -> BestSoFar:
    """Feed trials finished before this call to the algorithm; return their best.

    A trial whose params are not valid in ``space`` (an out-of-range point that was
    evaluated as given) is skipped, with one warning saying how many and why.

    Raises:
        SpaceError: A finished trial is of another space (it lacks an active label,
            holds one the space has not, or a choice index it has not): ``trials``
            resumed with a changed space, refused before any trial runs, as hyperopt
            refuses it.
    """
    refuse_other_space(suggester.compiled, trials._dynamic_trials)
    best = BestSoFar()
    outside: list[tuple[int, str]] = []
    for doc in trials._dynamic_trials:
        if doc["state"] not in _FINISHED:
            continue
        params = params_of(doc)
        result = doc["result"] if doc["state"] == JOB_STATE_DONE else None
        problem = suggester.why_invalid(params)
        if problem is None:
            suggester.observe(params, result)
        else:
            outside.append((doc["tid"], problem))
        best.add(result)
    if outside:
        _say_outside(outside, len(trials._dynamic_trials))
    return best


def _say_outside(outside: list[tuple[int, str]], total: int) -> None:
    """Warn that finished trials are no points of this search's space."""
    tid, problem = outside[0]
    _logger.warning(
        "%s of the %s trials already in `trials` are not points of this space "
        "(trial %s: %s), as a point to evaluate out of range: the algorithm does "
        "not learn from them",
        len(outside), total, tid, problem,
    )  # fmt: skip


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)
