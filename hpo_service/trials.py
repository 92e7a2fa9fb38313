"""hyperopt-shaped trial records: the in-memory :class:`Trials` and the shared view.

Trial dicts look like hyperopt's (``tid``, ``state`` as hyperopt's integer job state,
``result``, ``misc.vals`` / ``misc.idxs`` as one-element-or-empty lists per label), so
analysis code written against ``hyperopt.Trials`` runs unchanged.
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from collections.abc import Container, Iterator, Mapping, MutableMapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from hpo_service.exceptions import AllTrialsFailed, InvalidTrial, MultiObjectiveError
from hpo_service.objective._result import (  # noqa: F401 - public names
    STATUS_FAIL,
    STATUS_NEW,
    STATUS_OK,
    STATUS_RUNNING,
    STATUS_STRINGS,
    STATUS_SUSPENDED,
    best_position,
    constraint_count,
    loss_of,
    objective_count,
    pareto_front,
    shown_result,
    violation_of,
)

JOB_STATE_NEW = 0
JOB_STATE_RUNNING = 1
JOB_STATE_DONE = 2
JOB_STATE_ERROR = 3
JOB_STATE_CANCEL = 4
JOB_STATES = (
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_CANCEL,
)
#: States of the trials that ``trials.trials`` and ``len(trials)`` show, as in
#: hyperopt: error and cancelled trials are only in ``trials._dynamic_trials``.
JOB_VALID_STATES = frozenset({JOB_STATE_NEW, JOB_STATE_RUNNING, JOB_STATE_DONE})


def make_trial_doc(
    tid: int,
    *,
    state: int,
    params: Mapping[str, Any],
    labels: Sequence[str],
    result: dict[str, Any],
    error: tuple[str, str] | None = None,
    book_time: _dt.datetime | None = None,
    refresh_time: _dt.datetime | None = None,
    owner: str | None = None,
    intermediate: Mapping[int, float] | None = None,
    exp_key: str | None = None,
) -> dict[str, Any]:
    """Build one hyperopt-shaped trial dict.

    Args:
        tid: The trial id.
        state: One of the ``JOB_STATE_*`` integers.
        params: Values of the active parameters, ``{label: value}``.
        labels: Every label of the space (inactive ones get empty lists).
        result: The result dict (``{"status": ..., "loss": ...}``).
        error: ``(type, message)`` for trials whose objective raised.
        book_time: When the trial started.
        refresh_time: When the trial last changed.
        owner: Who ran it (a worker id), if known.
        intermediate: Values the objective reported, ``{step: value}``.
        exp_key: The experiment key of the trials object it belongs to.

    Returns:
        The trial dict (hyperopt's keys, plus ``intermediate``). A pruned trial is in
        state ``JOB_STATE_DONE`` with result status ``"pruned"``.
    """
    misc: dict[str, Any] = {
        "tid": tid,
        "cmd": None,
        "workdir": None,
        "idxs": {k: ([tid] if k in params else []) for k in labels},
        "vals": {k: ([params[k]] if k in params else []) for k in labels},
    }
    if error is not None:
        misc["error"] = error
    return {
        "state": state,
        "tid": tid,
        "spec": None,
        "result": result,
        "misc": misc,
        "exp_key": exp_key,
        "owner": owner,
        "version": 0,
        "book_time": book_time,
        "refresh_time": refresh_time,
        "intermediate": dict(intermediate or {}),
    }


def check_objective_names(names: Sequence[str] | str | None) -> list[str] | None:
    """Validate objective names: distinct, non-empty strings (None: no names).

    Args:
        names: A list of names, or one comma-separated string.

    Raises:
        ValueError: A name is empty, repeated or not a string, or the list is empty.
    """
    if names is None:
        return None
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    names = list(names)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(
            f"`objectives` must be non-empty names, but got objectives={names!r}"
        )
    if len(set(names)) != len(names):
        raise ValueError(
            f"`objectives` must be distinct names, but got objectives={names!r}"
        )
    return names


class TrialsView:
    """Read-only analysis helpers over ``self.trials`` (a list of trial dicts)."""

    @property
    def trials(self) -> list[dict[str, Any]]:
        """The trial dicts, ordered by tid: new, running and done ones (as hyperopt,
        error and cancelled trials are left out; see ``_dynamic_trials``)."""
        raise NotImplementedError

    @property
    def _dynamic_trials(self) -> list[dict[str, Any]]:
        """Every trial dict, error and cancelled ones included (hyperopt's name)."""
        return self.trials

    def __len__(self) -> int:
        return len(self.trials)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.trials)

    def __getitem__(self, item: int) -> dict[str, Any]:
        return self.trials[item]

    @property
    def tids(self) -> list[int]:
        return [t["tid"] for t in self.trials]

    @property
    def miscs(self) -> list[dict[str, Any]]:
        return [t["misc"] for t in self.trials]

    @property
    def specs(self) -> list[Any]:
        return [t["spec"] for t in self.trials]

    @property
    def results(self) -> list[dict[str, Any]]:
        return [t["result"] for t in self.trials]

    @property
    def idxs(self) -> dict[str, list[int]]:
        return self._column("idxs")

    @property
    def vals(self) -> dict[str, list[Any]]:
        return self._column("vals")

    @property
    def idxs_vals(self) -> tuple[dict[str, list[int]], dict[str, list[Any]]]:
        return self.idxs, self.vals

    #: hyperopt's flag: whether trials are evaluated by other processes (workers).
    asynchronous = False

    def count_by_state_unsynced(self, arg: int | Sequence[int]) -> int:
        """How many of all trials (``_dynamic_trials``) are in ``JOB_STATE_*``
        states ``arg``: one state or several (hyperopt's names)."""
        return _count_states(self._dynamic_trials, arg)

    def count_by_state_synced(
        self,
        arg: int | Sequence[int],
        trials: Sequence[Mapping[str, Any]] | None = None,
    ) -> int:
        """How many of ``trials`` (default :attr:`trials`: new, running and done) are in
        ``JOB_STATE_*`` states ``arg`` (hyperopt's names)."""
        return _count_states(self.trials if trials is None else trials, arg)

    def losses(self, bandit: Any = None) -> list[float | list[float] | None]:
        """Each trial's loss, None where it has none.

        One shape per study: floats with one objective, lists of floats with
        several. A pruned trial's loss is the last value it reported with one
        objective, and None with several (the value stays in its
        ``intermediate`` entry).

        Args:
            bandit: Accepted for hyperopt's signature; not used.
        """
        return [r.get("loss") for r in self.results]

    def statuses(self, bandit: Any = None) -> list[str | None]:
        """Each trial's result status.

        Args:
            bandit: Accepted for hyperopt's signature; not used.
        """
        return [r.get("status") for r in self.results]

    def assert_valid_trial(self, trial: Any) -> Any:
        """Check that ``trial`` has the shape of a trial dict (hyperopt's name).

        Returns:
            ``trial`` itself, as hyperopt's does.

        Raises:
            InvalidTrial: A key is missing or the tids disagree.
        """
        check_trial_doc(trial)
        return trial

    def new_trial_docs(
        self,
        tids: Sequence[int],
        specs: Sequence[Any],
        results: Sequence[Mapping[str, Any]],
        miscs: Sequence[Mapping[str, Any]],
    ) -> list[dict[str, Any]]:
        """New trial dicts (state ``JOB_STATE_NEW``) to hand to ``insert_trial_docs``.

        hyperopt's way for an algorithm or a user to queue points by hand; each misc
        holds ``tid``, ``idxs`` and ``vals`` (``{label: [value]}`` or ``[]``).

        Args:
            tids: New trial ids, e.g. from ``new_trial_ids(n)``.
            specs: One spec per trial (usually None).
            results: One result per trial (usually ``{"status": "new"}``).
            miscs: One misc dict per trial.

        Returns:
            One trial dict per tid; nothing is inserted yet.

        Raises:
            ValueError: The four sequences differ in length.
            InvalidTrial: A misc lacks a key or names another tid.
        """
        _check_lengths(tids=tids, specs=specs, results=results, miscs=miscs)
        exp_key = getattr(self, "exp_key", None)
        docs = [
            _new_doc(tid, spec, dict(result), dict(misc), exp_key)
            for tid, spec, result, misc in zip(tids, specs, results, miscs, strict=True)
        ]
        for doc in docs:
            check_trial_doc(doc)
        return docs

    def source_trial_docs(
        self,
        tids: Sequence[int],
        specs: Sequence[Any],
        results: Sequence[Mapping[str, Any]],
        miscs: Sequence[Mapping[str, Any]],
        sources: Sequence[Mapping[str, Any]],
    ) -> list[dict[str, Any]]:
        """Trial dicts that copy ``sources`` (trial dicts, e.g. of another trials
        object) under new tids, to hand to ``insert_trial_docs`` (hyperopt's name).

        Each new doc takes its ``state``, ``exp_key``, ``owner``, ``book_time`` and
        ``refresh_time`` (and ``intermediate``, the values a pruned trial reported)
        from its source; its misc (a copy) gets ``tid``, ``cmd`` (None) and
        ``from_tid`` (the source's tid) where it lacks them. ``insert_trial_docs``
        of a :class:`Trials` then sets ``exp_key`` to its own.

        Args:
            tids: The new trial ids, e.g. from ``new_trial_ids(n)``.
            specs: One spec per trial (usually the source's).
            results: One result per trial (usually the source's).
            miscs: One misc dict per trial (``idxs`` and ``vals`` under the new tid).
            sources: The trial dicts copied from.

        Returns:
            One trial dict per tid; nothing is inserted yet.

        Raises:
            ValueError: The five sequences differ in length.
            InvalidTrial: A misc already holds another ``tid``, ``cmd`` or
                ``from_tid``, or a source lacks a key of hyperopt's trial dicts.
        """
        _check_lengths(
            tids=tids, specs=specs, results=results, miscs=miscs, sources=sources
        )
        docs = [
            _sourced_doc(*row)
            for row in zip(tids, specs, results, miscs, sources, strict=True)
        ]
        for doc in docs:
            check_trial_doc(doc)
        return docs

    @property
    def objective_names(self) -> list[str] | None:
        """Names of the study's objectives, if it was given any."""
        return None

    @property
    def n_objectives(self) -> int | None:
        """Number of objectives: of the names, else of the first successful result's
        losses; None while neither is known."""
        names = self.objective_names
        if names:
            return len(names)
        # a generator: read up to the first success, not a list of every result
        return objective_count(t["result"] for t in self.trials)

    @property
    def n_constraints(self) -> int | None:
        """Number of constraints every successful result must carry: that of the
        first successful result that carries any; None while none has."""
        return constraint_count(self.results)

    @property
    def best_trials(self) -> list[dict[str, Any]]:
        """The Pareto front: every successful trial with all constraints satisfied
        (``<= 0``) that no other such trial dominates, in tid order.

        Dominating means no worse in every loss and better in at least one (all
        losses are minimised); with one objective these are the trials with the
        lowest loss.
        """
        trials = self.trials
        return [trials[i] for i in pareto_front([t["result"] for t in trials])]

    @property
    def best_trial(self) -> dict[str, Any]:
        """The successful trial with the lowest loss, feasible trials first.

        With constraints (``result["constraints"]``, each satisfied when ``<= 0``),
        the best is the feasible trial with the lowest loss, as in the Pareto front
        of several objectives; only while no trial is feasible, it is the one with
        the least total violation (the sum of its positive constraint values), then
        the lowest loss. Check ``best_trial["result"].get("constraints")`` if that
        matters.

        Raises:
            AllTrialsFailed: No trial succeeded.
            MultiObjectiveError: The study has several objectives (use
                :attr:`best_trials`, the Pareto front).
        """
        count = self.n_objectives
        if count is not None and count > 1:
            raise MultiObjectiveError(
                f"the study has {count} objectives, so it has no single best trial; "
                "use best_trials (the Pareto front) instead"
            )
        trials = self.trials
        best = best_position([t["result"] for t in trials])
        if best is None:
            raise AllTrialsFailed("no trial has status 'ok' and a numeric loss")
        return trials[best]

    @property
    def argmin(self) -> dict[str, Any]:
        """The best trial's active params (choices as indices), as hyperopt returns."""
        vals = self.best_trial["misc"]["vals"]
        return {k: v[0] for k, v in vals.items() if v}

    def average_best_error(self, bandit: Any = None) -> float:
        """hyperopt's average best error: the best trial's ``true_loss`` (its
        ``loss`` when it has none).

        When results carry a ``loss_variance``, the ``true_loss`` of the successful
        feasible trials whose loss is within 3 standard deviations of the lowest,
        each weighted by the probability that its loss is the lowest; that
        probability is sampled as hyperopt samples it (1000 draws, a fixed seed), so
        the same results give hyperopt's number (reference: hyperopt's
        ``Trials.average_best_error``).

        Args:
            bandit: Accepted for hyperopt's signature; not used.

        Raises:
            AllTrialsFailed: No trial succeeded.
            MultiObjectiveError: The study has several objectives.
        """
        best = self.best_trial["result"]
        ok = [
            r for r in self.results if loss_of(r) is not None and violation_of(r) <= 0
        ]
        if not any(r.get("loss_variance") for r in ok):
            return float(best.get("true_loss", best["loss"]))
        return _likely_best_true_loss(ok)

    @staticmethod
    def aname(trial: Mapping[str, Any], name: str) -> str:
        """The key of attachment ``name`` of ``trial`` in :attr:`attachments`."""
        return f"ATTACH::{trial['tid']}::{name}"

    def trial_attachments(self, trial: Mapping[str, Any]) -> MutableMapping[str, Any]:
        """The attachments of one trial, by name: ``trials.trial_attachments(t)[k]``.

        In process they live in :attr:`attachments` under ``ATTACH::<tid>::<name>``,
        as hyperopt keeps them.
        """
        return _TrialAttachments(self.attachments, trial["tid"])

    def _column(self, key: str) -> dict[str, list[Any]]:
        column: dict[str, list[Any]] = {}
        for misc in self.miscs:
            for label, value in misc[key].items():
                column.setdefault(label, []).extend(value)
        return column


class Trials(TrialsView):
    """In-memory trials of ``fmin`` runs, as in hyperopt (and picklable as there).

    ``trials`` / ``len()`` show new, running and done trials; error trials are in
    ``_dynamic_trials`` too, and count towards ``max_evals``. ``attachments`` holds
    what objectives returned under ``result["attachments"]`` (see
    :meth:`trial_attachments`). As in hyperopt, several experiments can share one
    list of trials: :meth:`view` gives the trials of one ``exp_key``.

    Args:
        exp_key: hyperopt's experiment key (kept on every trial). With a key, the
            trials shown (``trials``, ``_dynamic_trials``, counts) are those of
            that experiment; with None, every trial.
        refresh: Accepted for hyperopt's signature.
        objectives: Names of the objectives of a multi-objective search, e.g.
            ``["error", "latency_ms"]``; every result must then have that many losses.
    """

    def __init__(
        self,
        exp_key: str | None = None,
        refresh: bool = True,
        *,
        objectives: Sequence[str] | str | None = None,
    ) -> None:
        self._exp_key = exp_key
        self._all: list[dict[str, Any]] = []  # every experiment's, shared by views
        self._trials: list[dict[str, Any]] = []
        self._ids: set[int] = set()  # tids new_trial_ids handed out (shared)
        self._removals = [0]  # how often trials left _all (shared)
        self._mine: _Mine | None = None  # this experiment's trials, as last listed
        self._ledger: _Ledger | None = None  # what refresh saw: only changes are read
        self._tid_index = _TidIndex()  # every experiment's tids (shared by views)
        self.attachments: dict[str, Any] = {}
        self._objective_names = check_objective_names(objectives)

    def view(self, exp_key: str | None = None, refresh: bool = True) -> Trials:
        """The trials of experiment ``exp_key`` (every trial when None), sharing
        this object's trial list, tids and attachments (hyperopt's ``view``).

        A trial that ``fmin`` or ``insert_trial_docs`` adds through the view gets its
        ``exp_key`` and is seen by this object too; tids stay distinct across views.

        Args:
            exp_key: The experiment to show; None shows every trial.
            refresh: Accepted for hyperopt's signature (the view is always current
                after its own inserts; call ``refresh()`` after another's).

        Returns:
            A new :class:`Trials` with the same objective names.
        """
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        view._exp_key, view._mine, view._ledger = exp_key, None, None
        view.refresh()
        return view

    @property
    def objective_names(self) -> list[str] | None:
        """Names of the objectives (``Trials(objectives=[...])``), or None."""
        return self._objective_names

    @property
    def exp_key(self) -> str | None:
        """The experiment key given to the constructor."""
        return self._exp_key

    @property
    def trials(self) -> list[dict[str, Any]]:
        return self._trials

    @property
    def n_objectives(self) -> int | None:
        """Number of objectives: of the names, else of the first successful result's
        losses; None while neither is known."""
        names = self._objective_names
        return len(names) if names else self._synced().n_objectives

    @property
    def n_constraints(self) -> int | None:
        """Number of constraints every successful result must carry: that of the
        first successful result that carries any; None while none has."""
        return self._synced().n_constraints

    def count_by_state_unsynced(self, arg: int | Sequence[int]) -> int:
        """How many of all trials (``_dynamic_trials``) are in ``JOB_STATE_*``
        states ``arg``: one state or several (hyperopt's names)."""
        return self._synced().count(arg)

    def open_trials(self) -> list[dict[str, Any]]:
        """The new and running trials of ``_dynamic_trials``, in its order."""
        return [doc for _, doc in self._synced().open]

    @property
    def _dynamic_trials(self) -> list[dict[str, Any]]:
        """Every trial of this experiment (of every one when ``exp_key`` is None).

        A keyed experiment's list is kept between calls and only the trials added
        since are looked at (fmin reads it several times per trial), unless trials
        were deleted meanwhile (:meth:`delete_all` of any view)."""
        if self._exp_key is None:
            return self._all
        cached, removals, total = self._mine, self._removals[0], len(self._all)
        if cached is None or cached.removals != removals or cached.seen > total:
            mine, seen = [], 0
        elif cached.seen == total:
            return cached.trials
        else:
            mine, seen = cached.trials, cached.seen
        key = self._exp_key
        mine = mine + [d for d in self._all[seen:] if d.get("exp_key") == key]
        self._mine = _Mine(mine, removals, total)
        return mine

    def append(self, doc: dict[str, Any]) -> None:
        """Add one trial dict (built with :func:`make_trial_doc`)."""
        self.insert_trial_docs([doc])

    def insert_trial_doc(self, doc: dict[str, Any]) -> int:
        """Add one trial dict after checking its shape; return its tid."""
        return self.insert_trial_docs([doc])[0]

    def insert_trial_docs(self, docs: Sequence[dict[str, Any]]) -> list[int]:
        """Add trial dicts after checking their shape; return their tids.

        Each doc gets this object's ``exp_key``.

        Raises:
            InvalidTrial: A doc lacks a key hyperopt's trials have, or reuses a tid.
        """
        taken, fresh = self._indexed().tids, set()
        for doc in docs:
            check_trial_doc(doc, _Either(taken, fresh))
            fresh.add(doc["tid"])
        for doc in docs:
            doc["exp_key"] = self._exp_key
        self._all.extend(docs)
        self._refresh_changed()
        return [doc["tid"] for doc in docs]

    #: hyperopt's unchecked insert; here the docs are checked all the same.
    _insert_trial_docs = insert_trial_docs

    def new_trial_ids(self, n: int) -> list[int]:
        """The next ``n`` unused tids, reserved: never handed out again (as in
        hyperopt), so docs built id by id can be inserted as one batch."""
        index = self._indexed()
        start = index.top + 1
        tids = list(range(start, start + n))
        self._ids.update(tids)
        index.top = max(index.top, start + n - 1)
        return tids

    def refresh(self) -> None:
        """Recompute :attr:`trials` (after a trial's state changed), as hyperopt's
        ``refresh`` does: a finished trial whose state was changed by hand (e.g. a
        done trial set to ``JOB_STATE_ERROR``) is seen, at the cost of one look at
        every finished trial's state. fmin's own loop uses the cheaper
        :meth:`_refresh_changed`. After changing a finished trial's *result* by
        hand (its loss count or constraints), call :meth:`refresh_all`.
        """
        ledger = self._synced()
        if ledger.changed_by_hand():
            self.refresh_all()
            return
        self._trials = list(ledger.valid)

    def _refresh_changed(self) -> None:
        """Recompute :attr:`trials` from the trials that can have changed since
        the last call (those added, and those that were new or running then), so
        a search of n trials costs O(n) in all, not O(n^2): for the search's own
        state changes, not for a finished trial changed by hand."""
        self._trials = list(self._synced().valid)

    def refresh_all(self) -> None:
        """Recompute :attr:`trials` from every trial, finished ones included."""
        self._ledger = None
        self.refresh()

    def _synced(self) -> _Ledger:
        """The ledger of ``_dynamic_trials``, brought up to date (anew after a
        deletion)."""
        docs, removals, ledger = self._dynamic_trials, self._removals[0], self._ledger
        if (
            ledger is None
            or ledger.removals != removals
            or not _still_read(docs, ledger.seen, ledger.last)
        ):
            ledger = self._ledger = _Ledger(removals)
        ledger.read(docs, self._objective_names)
        return ledger

    def _indexed(self) -> _TidIndex:
        """The index of every experiment's tids, brought up to date."""
        index = self._tid_index
        index.read(self._all, self._removals[0], self._ids)
        return index

    def fmin(
        self,
        fn: Any,
        space: Any,
        algo: Any = None,
        max_evals: int | None = None,
        timeout: float | None = None,
        loss_threshold: float | None = None,
        max_queue_len: int = 1,
        rstate: Any = None,
        verbose: bool = False,
        pass_expr_memo_ctrl: Any = None,
        catch_eval_exceptions: bool = False,
        return_argmin: bool = True,
        show_progressbar: Any = True,
        early_stop_fn: Any = None,
        trials_save_file: str = "",
        **kwargs: Any,
    ) -> Any:
        """``fmin(fn, space, algo, ..., trials=self)``: hyperopt's method spelling.

        The positional arguments come in the order of hyperopt's ``Trials.fmin``
        (``verbose`` is accepted and unused: progress is ``show_progressbar``);
        every other argument of :func:`hpo_service.fmin.fmin` but ``trials`` is
        taken by keyword.
        """
        from hpo_service.fmin import fmin

        return fmin(
            fn, space, algo, max_evals, timeout, loss_threshold,
            max_queue_len=max_queue_len, rstate=rstate, trials=self,
            allow_trials_fmin=False, pass_expr_memo_ctrl=pass_expr_memo_ctrl,
            catch_eval_exceptions=catch_eval_exceptions, return_argmin=return_argmin,
            show_progressbar=show_progressbar, early_stop_fn=early_stop_fn,
            trials_save_file=trials_save_file, **kwargs,
        )  # fmt: skip

    def delete_all(self) -> None:
        """Forget every trial of this experiment and their attachments (with
        ``exp_key`` None, every trial, and the reserved tids)."""
        self._removals[0] += 1  # the other views list their trials again
        if self._exp_key is None:
            self._all.clear()
            self.attachments.clear()
            self._ids.clear()
        else:
            gone = {d["tid"] for d in self._dynamic_trials}
            self._all[:] = [d for d in self._all if d["tid"] not in gone]
            for tid in gone:
                for name in list(self.trial_attachments({"tid": tid})):
                    del self.attachments[self.aname({"tid": tid}, name)]
        self.refresh()

    def __getstate__(self) -> dict[str, Any]:
        """What a pickle keeps: everything but what is kept for speed."""
        return {k: v for k, v in self.__dict__.items() if k not in _SPEED_KEYS}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle, also from a pickle written by an earlier version."""
        if "_all" not in state:  # trials were one list, error trials included
            state["_all"] = list(state.get("_trials", []))
        self.__dict__.update(state)
        self.__dict__.setdefault("_removals", [0])
        self._mine, self._ledger, self._tid_index = None, None, _TidIndex()
        self.__dict__.setdefault("_exp_key", state.get("exp_key"))
        self.__dict__.pop("exp_key", None)
        self.__dict__.setdefault("_objective_names", None)
        reserved = self.__dict__.pop("_next_tid", 0)  # before _ids: the tids below
        self.__dict__.setdefault("_ids", set(range(reserved - 1, reserved)))
        self.refresh()


class _Mine(NamedTuple):
    """A keyed experiment's trials as :attr:`Trials._dynamic_trials` last listed
    them: after ``removals`` deletions, from the first ``seen`` trials of all."""

    trials: list[dict[str, Any]]
    removals: int
    seen: int


#: What :class:`Trials` keeps only for speed, rebuilt after unpickling.
_SPEED_KEYS = frozenset({"_mine", "_ledger", "_tid_index"})
_OPEN_STATES = frozenset({JOB_STATE_NEW, JOB_STATE_RUNNING})


class _First(NamedTuple):
    """The first trial (by position) whose result fixes a count, and the count."""

    position: int
    count: int


def _first(a: _First | None, b: _First | None) -> _First | None:
    if a is None or b is None:
        return a or b
    return min(a, b)


class _Ledger:
    """What :meth:`Trials.refresh` knows of an experiment's trials, so that each
    call reads only the trials that can have changed: those added since the last
    call and those that were new or running then. A finished trial (done, error,
    cancelled) is read once; its state, result and counts are kept here.
    """

    def __init__(self, removals: int) -> None:
        self.removals = removals  # Trials._removals when built: anew after a deletion
        self.seen = 0  # the first `seen` trials were read
        self.last: dict[str, Any] | None = None  # the last of them (this very dict)
        self.open: list[tuple[int, dict[str, Any]]] = []  # (position, new/running doc)
        self.valid: list[dict[str, Any]] = []  # new, running and done, in order
        self.finished: Counter[int] = Counter()  # states of the finished trials
        self.closed: list[tuple[dict[str, Any], int]] = []  # (finished doc, state)
        self.states: Counter[int] = Counter()  # states of the open trials
        self.done_objectives: _First | None = None  # among finished trials
        self.done_constraints: _First | None = None
        self.n_objectives: int | None = None
        self.n_constraints: int | None = None
        self.shown: int | None = None  # the count pruned losses were shown for

    def read(self, docs: Sequence[dict[str, Any]], names: Sequence[str] | None) -> None:
        """Read the trials of ``docs`` that can have changed since the last call.

        Args:
            docs: Every trial of the experiment, in order; only appended to between
                calls (a deletion makes a new ledger).
            names: The objectives' names, if given (they fix the count).
        """
        was_open, self.open, self.states = self.open, [], Counter()
        added = list(enumerate(docs[self.seen :], self.seen))
        self.seen = len(docs)
        self.last = docs[-1] if docs else None
        gone = [doc for pos, doc in was_open if not self._take(pos, doc)]
        for doc in gone:  # open trials that ended as errors or cancelled
            _remove_last(self.valid, doc)
        for pos, doc in added:
            self._take(pos, doc)
            if doc["state"] in JOB_VALID_STATES:
                self.valid.append(doc)
        self._count(names)
        self._show_pruned(docs, was_open, added)

    def _take(self, pos: int, doc: dict[str, Any]) -> bool:
        """Note one trial's state (and its counts once finished); whether it is
        among the valid ones (new, running, done)."""
        state = doc["state"]
        if state in _OPEN_STATES:
            self.open.append((pos, doc))
            self.states[state] += 1
            return True
        self.finished[state] += 1
        self.closed.append((doc, state))
        if state not in JOB_VALID_STATES:
            return False
        self.done_objectives = _first(self.done_objectives, _objectives(pos, doc))
        self.done_constraints = _first(self.done_constraints, _constraints(pos, doc))
        return True

    def _count(self, names: Sequence[str] | None) -> None:
        """The counts fixed by the first successful results (of done trials: a new
        or running trial's result is not the objective's yet)."""
        objectives, constraints = self.done_objectives, self.done_constraints
        self.n_objectives = len(names) if names else objectives and objectives.count
        self.n_constraints = constraints and constraints.count

    def _show_pruned(
        self,
        docs: Sequence[dict[str, Any]],
        was_open: list[tuple[int, dict[str, Any]]],
        added: list[tuple[int, dict[str, Any]]],
    ) -> None:
        """Show pruned losses as the objective count wants: of the trials that
        changed, or of all once the count is first known (or changed)."""
        count = self.n_objectives
        if (count or 1) <= 1:
            return
        if self.shown != count:
            show_pruned_losses(docs, count)
            self.shown = count
            return
        show_pruned_losses([doc for _, doc in was_open + added], count)

    def changed_by_hand(self) -> bool:
        """Whether a finished trial's state differs from the one read (someone
        changed it by hand: the search never changes a finished trial)."""
        return any(doc["state"] != state for doc, state in self.closed)

    def count(self, states: int | Sequence[int]) -> int:
        """How many trials are in ``JOB_STATE_*`` states ``states``."""
        wanted = {states} if isinstance(states, int) else set(states)
        return sum(self.finished[s] + self.states[s] for s in wanted)


def _still_read(docs: Sequence[Any], seen: int, last: Any) -> bool:
    """Whether the first ``seen`` trials of ``docs`` are still those read, ``last``
    (this very dict) the last of them: the list was only appended to since. A trial
    removed by hand (``_dynamic_trials.pop()``, not ``delete_all``), even with
    another added since, makes the reader read anew."""
    return seen == 0 or (seen <= len(docs) and docs[seen - 1] is last)


def _remove_last(docs: list[dict[str, Any]], doc: dict[str, Any]) -> None:
    """Remove ``doc`` (this very dict) from ``docs``, looking from the end (where
    the open trials are)."""
    for i in range(len(docs) - 1, -1, -1):
        if docs[i] is doc:
            del docs[i]
            return


def _objectives(pos: int, doc: Mapping[str, Any]) -> _First | None:
    count = objective_count([doc["result"]])
    return None if count is None else _First(pos, count)


def _constraints(pos: int, doc: Mapping[str, Any]) -> _First | None:
    count = constraint_count([doc["result"]])
    return None if count is None else _First(pos, count)


class _TidIndex:
    """The tids of every experiment's trials (``Trials._all``) and the largest tid
    used or handed out, read from the trials added since the last call (anew
    after a deletion)."""

    def __init__(self) -> None:
        self.tids: set[Any] = set()
        self.seen = 0
        self.last: Mapping[str, Any] | None = None  # docs[seen - 1], this very dict
        self.removals = -1
        self.top = -1

    def read(
        self, docs: Sequence[Mapping[str, Any]], removals: int, ids: set[int]
    ) -> None:
        """Read the docs added to ``docs`` since the last call.

        Args:
            docs: Every trial (``Trials._all``), only appended to between calls.
            removals: How often trials were deleted (``Trials._removals[0]``).
            ids: The tids handed out by ``new_trial_ids`` (read when built).
        """
        if removals != self.removals or not _still_read(docs, self.seen, self.last):
            self.tids, self.seen, self.removals = set(), 0, removals
            self.top = max(ids, default=-1)
        for doc in docs[self.seen :]:
            tid = doc["tid"]
            self.tids.add(tid)
            if isinstance(tid, int) and tid > self.top:
                self.top = tid
        self.seen = len(docs)
        self.last = docs[-1] if docs else None


class _Either(NamedTuple):
    """Two collections of tids seen as one, for ``in``."""

    first: Container[Any]
    second: Container[Any]

    def __contains__(self, item: object) -> bool:
        return item in self.first or item in self.second


_TRIAL_KEYS = ("tid", "state", "result", "misc", "spec")
_MISC_KEYS = ("tid", "idxs", "vals")


def _likely_best_true_loss(results: Sequence[Mapping[str, Any]]) -> float:
    """The ``true_loss`` of the results near the lowest loss, weighted by the
    probability that each one's loss (a normal with its ``loss_variance``) is the
    lowest, estimated from 1000 draws with hyperopt's seed."""
    rows = sorted(
        (float(r["loss"]), float(r.get("loss_variance", 0)),
         float(r.get("true_loss", r["loss"])))
        for r in results
    )  # fmt: skip
    table = np.asarray(rows)
    bound = table[0, 0] + 3 * np.sqrt(table[0, 1])
    near = table[: max(1, int(np.sum(table[:, 0] < bound)))]
    draws = np.random.default_rng(232342).standard_normal((1000, len(near)))
    samples = draws * np.sqrt(near[:, 1]) + near[:, 0]
    wins = (samples == samples.min(axis=1, keepdims=True)).sum(axis=0)
    return float((wins / wins.sum() * near[:, 2]).sum())


def check_trial_doc(doc: Any, taken: Container[int] = ()) -> None:
    """Check that ``doc`` has the shape of a hyperopt trial dict.

    Raises:
        InvalidTrial: A key is missing, the tids disagree or ``tid`` is in ``taken``.
    """
    if not isinstance(doc, Mapping):
        raise InvalidTrial("a trial must be a dict", doc)
    missing = [k for k in _TRIAL_KEYS if k not in doc]
    missing += [f"misc.{k}" for k in _MISC_KEYS if k not in doc.get("misc", {})]
    if missing:
        raise InvalidTrial(f"a trial must hold {', '.join(missing)}", doc)
    if doc["tid"] != doc["misc"]["tid"]:
        raise InvalidTrial("trial['tid'] must equal trial['misc']['tid']", doc)
    if doc["tid"] in taken:
        raise InvalidTrial(f"tid {doc['tid']} must be unused in these trials", doc)


def show_pruned_losses(
    docs: Sequence[dict[str, Any]], n_objectives: int | None
) -> None:
    """Give the pruned trials of a multi-objective study the loss None, in place.

    A pruned trial's result holds the last value it reported as ``loss``; with
    several objectives that is no loss vector (see
    :func:`~hpo_service.objective._result.shown_result`), so ``losses()`` and
    ``results[i]["loss"]`` would mix floats with lists.

    Args:
        docs: Trial dicts; each pruned one gets a new result dict.
        n_objectives: The study's number of objectives (nothing changes unless > 1).
    """
    if (n_objectives or 1) <= 1:
        return
    for doc in docs:
        if isinstance(doc.get("result"), Mapping):
            doc["result"] = shown_result(doc["result"], n_objectives)


def _count_states(
    trials: Sequence[Mapping[str, Any]] | Iterator[Mapping[str, Any]],
    states: int | Sequence[int],
) -> int:
    wanted = {states} if isinstance(states, int) else set(states)
    return sum(1 for doc in trials if doc["state"] in wanted)


def _new_doc(
    tid: int, spec: Any, result: dict[str, Any], misc: dict[str, Any], exp_key: Any
) -> dict[str, Any]:
    return {
        "state": JOB_STATE_NEW,
        "tid": tid,
        "spec": spec,
        "result": result,
        "misc": misc,
        "exp_key": exp_key,
        "owner": None,
        "version": 0,
        "book_time": None,
        "refresh_time": None,
    }


def _check_lengths(**sequences: Sequence[Any]) -> None:
    """Raise ValueError unless every one of ``sequences`` has the same length."""
    if len({len(v) for v in sequences.values()}) > 1:
        names = ", ".join(f"`{name}`" for name in sequences)
        sizes = ", ".join(str(len(v)) for v in sequences.values())
        raise ValueError(f"{names} must have one length, but got {sizes}")


#: What a doc of ``source_trial_docs`` copies from its source.
_SOURCED_KEYS = ("state", "exp_key", "owner", "book_time", "refresh_time")


def _sourced_doc(
    tid: int, spec: Any, result: Any, misc: Mapping[str, Any], source: Any
) -> dict[str, Any]:
    """One doc of ``source_trial_docs``: ``source``'s state and times, a new tid."""
    missing = [k for k in ("tid", *_SOURCED_KEYS) if k not in source]
    if missing:
        raise InvalidTrial(f"a source trial must hold {', '.join(missing)}", source)
    misc = dict(misc)
    for key, value in (("tid", tid), ("cmd", None), ("from_tid", source["tid"])):
        if misc.setdefault(key, value) != value:
            raise InvalidTrial(
                f"misc[{key!r}] must be {value!r} (or absent) for the copy of trial "
                f"{source['tid']} as tid {tid}, but got {key}={misc[key]!r}",
                misc,
            )
    doc = {k: source[k] for k in _SOURCED_KEYS}
    doc.update(version=0, tid=tid, spec=spec, result=result, misc=misc)
    doc["intermediate"] = dict(source.get("intermediate") or {})
    return doc


class _TrialAttachments(MutableMapping[str, Any]):
    """One trial's slice of a trials object's ``attachments`` dict."""

    def __init__(self, store: dict[str, Any], tid: int) -> None:
        self._store = store
        self._prefix = f"ATTACH::{tid}::"

    def __getitem__(self, name: str) -> Any:
        return self._store[self._prefix + name]

    def __setitem__(self, name: str, value: Any) -> None:
        self._store[self._prefix + name] = value

    def __delitem__(self, name: str) -> None:
        del self._store[self._prefix + name]

    def __iter__(self) -> Iterator[str]:
        n = len(self._prefix)
        return iter([k[n:] for k in self._store if k.startswith(self._prefix)])

    def __len__(self) -> int:
        return sum(1 for _ in self)


def trials_from_docs(
    docs: Sequence[dict[str, Any]], validate: bool = True, **kwargs: Any
) -> Trials:
    """A :class:`Trials` holding ``docs`` (hyperopt's ``trials_from_docs``).

    hyperopt's recipe for merging searches works: ``trials_from_docs(list(t1) +
    list(t2))``. A doc whose tid an earlier doc already has is added as a copy
    renumbered after the largest tid (its ``misc`` too), so the merged trials have
    distinct tids (hyperopt keeps the duplicates); the given docs are not changed.

    Args:
        docs: Trial dicts, e.g. a filtered ``trials.trials``.
        validate: Check each doc's shape (hyperopt's argument; always checked here).
        **kwargs: Passed to :class:`Trials` (``exp_key``).

    Raises:
        InvalidTrial: A doc is malformed.
    """
    trials = Trials(**kwargs)
    trials.insert_trial_docs(_distinct_tids(list(docs)))
    return trials


def _distinct_tids(docs: list[Any]) -> list[Any]:
    """``docs``, each doc whose tid is taken by an earlier one renumbered (a copy)."""
    tids = [d.get("tid") if isinstance(d, Mapping) else None for d in docs]
    following = max((t for t in tids if isinstance(t, int)), default=-1) + 1
    taken: set[Any] = set()
    distinct = []
    for doc, tid in zip(docs, tids, strict=True):
        if tid in taken and isinstance(doc.get("misc"), Mapping):
            doc, tid = _renumbered(doc, following), following
            following += 1
        taken.add(tid)
        distinct.append(doc)
    return distinct


def _renumbered(doc: Mapping[str, Any], tid: int) -> dict[str, Any]:
    misc = dict(doc["misc"])
    misc["tid"] = tid
    if isinstance(misc.get("idxs"), Mapping):
        misc["idxs"] = {k: [tid] * len(v) for k, v in misc["idxs"].items()}
    return {**doc, "tid": tid, "misc": misc}
