"""``StoreTrials``: hyperopt's MongoTrials done over any trials store.

``fmin(fn, space, trials=StoreTrials(url, study="name"))`` turns the calling process
into the study's driver: trials go to the store, ``hpo-worker`` processes (started
separately, or by ``workers=K``) run them, and the call returns the best params.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import numbers
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NoReturn, SupportsIndex

from hpo_service._common.settings import StudySettings
from hpo_service._common.stop_signals import pause_point
from hpo_service.algorithms import describe, resolve
from hpo_service.algorithms.pruners import (
    BasePruner,
    describe_pruner,
    kept_settings,
    make_pruner,
    resolve_pruner,
)
from hpo_service.driver._lease import LeaseUntilDriving
from hpo_service.driver._local_workers import LocalWorkers
from hpo_service.driver._output import pruner_objectives_note
from hpo_service.driver._progress import show_ladder
from hpo_service.driver._signals import StopSignals
from hpo_service.driver._space_errors import refused_point
from hpo_service.driver._study import open_driven_study, space_settings, study_space
from hpo_service.driver._study_loop import Driver, DriverOptions, StudyOutcome
from hpo_service.driver._suggest import Suggester, check_storable
from hpo_service.driver._worker_hint import errors_hint, store_trials_worker_hint
from hpo_service.exceptions import (
    SpaceCodeError,
    SpaceError,
    StudyNotFoundError,
    TrialNotFoundError,
)
from hpo_service.fmin import as_generator, best_of, check_stop_rules
from hpo_service.objective._reference import reference_of
from hpo_service.space import compile_space
from hpo_service.space._eval import misfit_point
from hpo_service.store import BaseTrialStore, NewTrial, Trial, TrialState, open_store
from hpo_service.store._url import is_process_local, mask_url
from hpo_service.trials import (
    JOB_STATE_CANCEL,
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
    JOB_VALID_STATES,
    STATUS_FAIL,
    TrialsView,
    check_objective_names,
    check_trial_doc,
    make_trial_doc,
    objective_count,
    show_pruned_losses,
)

_logger = logging.getLogger(__name__)

_JOB_STATE = {
    TrialState.NEW: JOB_STATE_NEW,
    TrialState.RUNNING: JOB_STATE_RUNNING,
    TrialState.DONE: JOB_STATE_DONE,
    TrialState.ERROR: JOB_STATE_ERROR,
    TrialState.CANCELLED: JOB_STATE_CANCEL,
    TrialState.PRUNED: JOB_STATE_DONE,  # finished, used budget; result status "pruned"
}


class StoreTrials(TrialsView):
    """The trials of one study in a store, viewed as hyperopt's ``Trials``.

    Args:
        db: Store URL (``sqlite:///path``, ``mongodb://...``, ``mongomock://name``).
        study: The study name (hyperopt's ``exp_key``).
        workers: Local ``hpo-worker`` processes that ``fmin`` starts for the study.
        objective: Objective reference ``package.module:function`` for the workers;
            by default the reference of the function given to ``fmin``.
        override: Resume even if the objective, space, algorithm or pruner changed.
        objectives: Names of several objectives (like ``hpo-driver start
            --objectives``); every result must then have that many losses.
        pruner: The study's pruner (see :func:`~hpo_service.fmin`'s ``pruner``);
            None keeps the stored one (none for a new study); a name
            (``"asha"``) resuming a study of that pruner keeps its stored
            settings (a name gives none), a pruner object gives all of its.
        trial_timeout: Seconds (> 0, finite) an objective may run before its worker
            kills it and records an error trial, as ``hpo-driver start
            --trial-timeout``; counted from the objective's call. Stored with the
            study: None keeps the stored one (none for a new study), another value
            replaces it (no ``override`` needed). In-process ``Trials()`` have no
            trial timeout (hyperopt has none either): the objective runs in the
            calling process, which cannot kill it.

    Raises:
        ValueError: ``pruner`` names no pruner or has bad settings, ``trial_timeout``
            is not a finite number > 0, or ``workers`` is given with a store that
            lives in this process only (``mongomock://``, ``sqlite:///:memory:``).
        TypeError: ``pruner`` is not None, a name or a pruner object.
    """

    def __init__(
        self,
        db: str,
        study: str,
        *,
        workers: int = 0,
        objective: str | None = None,
        override: bool = False,
        pruner: Any = None,
        objectives: Sequence[str] | str | None = None,
        trial_timeout: float | None = None,
    ) -> None:
        self.trial_timeout = _checked_trial_timeout(trial_timeout)
        if workers and is_process_local(db):
            raise ValueError(
                f"`workers` needs a store that other processes reach, but {db!r} "
                "lives inside one process: use a file (sqlite:///hpo.sqlite) or a "
                "MongoDB server, or workers=0"
            )
        self.db_url = db
        self.study = study
        self.workers = workers
        self.objective = objective
        self.override = override
        self.pruner = None if pruner is None else resolve_pruner(pruner)
        self._pruner_named = isinstance(pruner, str)  # a name gives no setting
        self._given_names = check_objective_names(objectives)
        self.store: BaseTrialStore = open_store(db)
        self._docs: dict[int, dict[str, Any]] = {}
        self._cursor = 0
        self._next_tid = 0  # new_trial_ids handed out the tids below it
        self._labels: list[str] | None = None  # the space's; [] none (yet), see fmin
        self._count: int | None = None  # the study's objectives, once known
        self._shown_for: int | None = None  # the count pruned losses were shown for

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        """Refuse to be pickled, saying what to do instead.

        The trials live in the store (an open client cannot be pickled, nor can
        hyperopt's ``MongoTrials``): reopen the study, or pickle a copy.

        Raises:
            TypeError: Always.
        """
        name = type(self).__name__
        raise TypeError(
            f"`{name}` must not be pickled: its trials live in the store "
            f"{mask_url(self.db_url)}, study {self.study!r}, where "
            f"{name}(url, ...) with the same study opens them again; to pickle a "
            "copy in memory, pickle hpo_service.trials_from_docs(trials."
            "_dynamic_trials) (a Trials)"
        )

    @property
    def trials(self) -> list[dict[str, Any]]:
        """New, running and done trials, as hyperopt shows them (error and
        cancelled ones are in ``_dynamic_trials``)."""
        return [d for d in self._dynamic_trials if d["state"] in JOB_VALID_STATES]

    @property
    def _dynamic_trials(self) -> list[dict[str, Any]]:
        self.refresh()
        return [self._docs[tid] for tid in sorted(self._docs)]

    def enqueue(self, points: Sequence[Mapping[str, Any]]) -> list[int]:
        """Queue given params (``[{label: value}, ...]``) to be evaluated next.

        The study must exist. Every point is checked against its space first; if one
        does not fit (unknown label, value outside the space, inactive branch),
        nothing is queued. Into a study that already finished ``max_evals`` trials
        the points are queued with a warning: a worker cancels them instead of
        running them, unless ``fmin`` with a larger ``max_evals`` runs first.

        Returns:
            The new trials' tids.

        Raises:
            StudyNotFoundError: The study does not exist yet.
            ValueError: A point does not fit the space.
        """
        return self._queue(points)

    def _queue(self, points: Sequence[Mapping[str, Any]]) -> list[int]:
        """:meth:`enqueue`, its warning pointing at the caller's caller (the user's
        call of ``enqueue`` or ``insert_trial_docs``)."""
        from hpo_service.driver._warm_start import enqueue, spent_budget

        tids = enqueue(self.store, self.study, points)
        spent = spent_budget(self.store, self.study)
        if spent is not None:
            n = len(tids)
            queued, them = ("the queued point", "it") if n == 1 else (
                f"the {n} queued points", "them")  # fmt: skip
            warnings.warn(
                f"study {self.study!r} has already finished its budget ({spent[0]} "
                f"of max_evals={spent[1]}): a worker cancels {queued} instead of "
                f"running {them}, unless fmin(..., max_evals=N) with a larger N runs "
                f"first (its driver runs {them} before its own suggestions)",
                UserWarning,
                stacklevel=3,
            )
        return tids

    #: Trials run in ``hpo-worker`` processes, not in ``fmin``'s (hyperopt's flag).
    asynchronous = True
    #: Name hyperopt-mongo-worker's options in the "start a worker" hint.
    _hyperopt_worker = False

    @property
    def exp_key(self) -> str | None:
        """The study name, hyperopt's experiment key (also on every trial dict)."""
        return self.study

    def new_trial_ids(self, n: int) -> list[int]:
        """``n`` tids after the study's last one and those handed out before; the
        store assigns the real tids when the trials are inserted (see
        :meth:`insert_trial_docs`)."""
        self.refresh()
        start = max(self._next_tid, max(self._docs, default=-1) + 1)
        self._next_tid = start + n
        return list(range(start, start + n))

    def insert_trial_docs(self, docs: Sequence[Mapping[str, Any]]) -> list[int]:
        """Queue hand-made trial dicts (from ``new_trial_docs``) to be evaluated next.

        Each doc's ``misc.vals`` is the point (as :meth:`enqueue` takes it); its tid
        is a proposal: the store assigns tids, returned here. Results and specs of
        the docs are not stored (the trial is new).

        Raises:
            InvalidTrial: A doc lacks a key of hyperopt's trial dicts.
            ValueError: A doc is not new, or a point does not fit the space
                (nothing is queued then).
            StudyNotFoundError: The study does not exist yet.
        """
        return self._queue([_point_of(doc) for doc in docs])

    #: hyperopt's unchecked insert; here the docs are checked all the same.
    _insert_trial_docs = insert_trial_docs

    def insert_trial_doc(self, doc: Mapping[str, Any]) -> int:
        """Queue one hand-made trial dict; see :meth:`insert_trial_docs`."""
        return self._queue([_point_of(doc)])[0]

    def delete_all(self, cond: Mapping[str, Any] | None = None) -> None:
        """Not supported: a study's trials are its record.

        Args:
            cond: hyperopt's ``MongoTrials`` filter of the trials to delete.

        Raises:
            NotImplementedError: Always; use a new study name (``exp_key``) to start
                afresh.
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not delete the trials of study "
            f"{self.study!r}: use another study name (exp_key) to start afresh"
        )

    def import_results(self, *sources: Any, create: bool = False) -> list[int]:
        """Import already-evaluated results as finished trials the algorithm learns
        from: a ``Trials`` object in memory (hyperopt's, its ``MongoTrials``, or
        ours), or files: exports of another study (``hpo-driver trials --format
        json|csv``) or a pickled ``Trials`` (your own local files; see
        ``hpo-driver import``).

        hyperopt's warm start ``fmin(..., trials=old_trials)`` becomes
        ``trials.import_results(old_trials, create=True)`` then ``fmin(...,
        trials=trials)``: the imported trials count toward ``max_evals``, as they
        do in hyperopt.

        Args:
            sources: ``Trials`` objects and file paths.
            create: Create the study if it does not exist, without a space (the
                next ``fmin`` gives it one and checks every imported trial
                against it); see ``hpo-driver import --create``.

        Returns:
            The new trials' tids (a record whose params and outcome equal a
            finished trial's of the study is skipped).

        Raises:
            StudyNotFoundError: The study does not exist yet and ``create`` is
                False.
            ValueError: A source is malformed or a trial does not fit the space;
                nothing is imported then.
        """
        from hpo_service.driver._warm_sources import read_results, read_trials_object
        from hpo_service.driver._warm_start import import_results

        records = []
        for i, source in enumerate(sources):
            if isinstance(source, str | os.PathLike):
                records += read_results(os.fspath(source))
            else:
                records += read_trials_object(source, f"trials#{i}")
        report = import_results(self.store, self.study, records, create=create)
        return report.imported

    # Read-only, where in-memory Trials' are writable: a write raises TypeError
    # saying why (attachments come from the objective's result).
    def trial_attachments(  # type: ignore[override]
        self, trial: Mapping[str, Any]
    ) -> Mapping[str, bytes]:
        """The attachments the trial's objective returned, read from the store.

        ``trials.trial_attachments(trial)["name"]`` loads one blob (as bytes); the
        mapping is read-only (attachments come from the objective's result): a write
        raises ``TypeError`` saying so.
        """
        return _StoredAttachments(self.store, self.study, int(trial["tid"]))

    @property
    def attachments(self) -> Mapping[str, bytes]:
        """hyperopt's flat view: ``trials.attachments["ATTACH::<tid>::<name>"]``."""
        return _AllAttachments(self)

    def refresh(self) -> None:
        """Read the trials written since the last refresh.

        A study that does not exist yet (no ``fmin`` has run on it) has no trials, as
        hyperopt's ``MongoTrials`` before its first ``fmin``.
        """
        try:
            changes, self._cursor = self.store.changes_since(self.study, self._cursor)
        except StudyNotFoundError:
            if self._cursor:  # it existed when it was read last: say it is gone
                raise
            return
        for trial in changes:
            self._docs[trial.tid] = self._doc(trial)
        if not changes:
            return
        count = self._stored_count()
        if count == self._shown_for:  # only the changed trials: a scan of all was
            changed = [self._docs[trial.tid] for trial in changes]  # O(n^2) in all
            show_pruned_losses(changed, count)
        else:  # the count is new: pruned trials read before it was known, too
            show_pruned_losses(list(self._docs.values()), count)
            self._shown_for = count

    def refresh_tids(self, tids: Sequence[int] | None) -> None:
        """hyperopt's ``MongoTrials.refresh_tids``: read the trials written since the
        last refresh (all of them, ``tids`` or not: it costs one read)."""
        self.refresh()

    def _stored_count(self) -> int | None:
        """The study's number of objectives (given names, else stored with the
        study by its first result), None while unknown; read until known."""
        if self._count is None:
            try:
                settings = self.store.get_study(self.study).settings
            except StudyNotFoundError:
                return None
            names = self._given_names or settings.get("objective_names")
            self._count = len(names) if names else settings.get("n_objectives")
        return self._count

    @property
    def n_objectives(self) -> int | None:
        """Number of objectives: of the names, else as stored with the study (its
        first result's), else of the first successful result's losses; None while
        none is known."""
        return self._stored_count() or objective_count(self.results)

    @property
    def objective_names(self) -> list[str] | None:
        """The study's objective names (given here, or stored with the study)."""
        if self._given_names:
            return self._given_names
        try:
            return self.store.get_study(self.study).settings.get("objective_names")
        except StudyNotFoundError:
            return None

    def close(self) -> None:
        """Close the store connection."""
        self.store.close()

    def fmin(
        self,
        fn: Callable[[Any], Any],
        space: Any,
        algo: Callable[..., Any] | None = None,
        max_evals: int | None = None,
        timeout: float | None = None,
        loss_threshold: float | None = None,
        max_queue_len: int = 1,
        rstate: Any = None,
        verbose: bool = False,
        pass_expr_memo_ctrl: Any = None,
        catch_eval_exceptions: bool = False,
        return_argmin: bool = True,
        show_progressbar: bool | Callable[..., Any] = True,
        early_stop_fn: Callable[..., Any] | None = None,
        trials_save_file: str = "",
        *,
        points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
        pruner: Any = None,
        **_ignored: Any,
    ) -> Any:
        """Drive the study to ``max_evals`` finished trials; see :func:`fmin`.

        The arguments come in the order of hyperopt's ``Trials.fmin``
        (``max_queue_len`` and ``verbose`` are accepted: the driver sizes its queue
        itself, and progress is ``show_progressbar``). Objective errors always become
        ``error`` trials here (workers catch them), whatever
        ``catch_eval_exceptions`` says. A sampled point whose config the space's
        own code cannot make (a ``scope`` function dividing by zero) becomes an
        ``error`` trial too (type ``SpaceCodeError``), as in-process ``fmin``
        records it: with ``catch_eval_exceptions=True`` the search goes on, without
        it :class:`~hpo_service.exceptions.SpaceCodeError` is raised once the trial
        is recorded (a resume goes on to the next point). ``trials_save_file`` is
        not written (with a warning): the store keeps every trial. ``pruner`` may
        repeat the one given to the constructor, not contradict it.

        Raises:
            ValueError: No stop rule, a bad ``timeout``/``loss_threshold``, a
                ``pruner`` other than the constructor's, ``pass_expr_memo_ctrl``, or
                a store that lives inside this process (``mongomock://``), which no
                worker can reach.
            TypeError: ``trial_timeout`` is given here instead of to the
                constructor (hyperopt's ``Trials.fmin`` would silently drop it).
        """
        if pass_expr_memo_ctrl:
            raise ValueError("`pass_expr_memo_ctrl` is not supported by hpo-service")
        warn_unsaved(self, trials_save_file)  # from here: it names fmin's caller
        self._check_workers_can_run(_ignored)
        rules = check_stop_rules(max_evals, timeout, loss_threshold, early_stop_fn)
        given = self._given_settings(
            fn, space, algo, rstate, rules.max_evals,
            loss_threshold=loss_threshold, timeout=timeout, pruner=pruner,
        )  # fmt: skip
        options = self._driver_options(
            show_progressbar, given["objective"], catch_eval_exceptions
        )
        with LeaseUntilDriving(self.store, self.study, options.owner) as lease:
            settings = self._open_study(
                space, points_to_evaluate or [], given, options, on_lease=lease.taken
            )
            pause_point("study-opened")  # a test's hook: a signal once it is leased
            if note := pruner_objectives_note(settings):  # as hpo-driver start says
                _logger.warning("%s", note)
            early = _early_stopper(self, early_stop_fn) if early_stop_fn else None
            outcome = self._drive(settings, space, options, early, lease)
        show_ladder(lambda: outcome.pruning, show_progressbar)
        return best_of(self, space, return_argmin=return_argmin, stopped=outcome.said)

    def _check_workers_can_run(self, ignored: dict[str, Any]) -> None:
        """Refuse a store no worker process reaches, and a trial timeout given to
        ``fmin`` (among its ``ignored`` arguments) instead of to this object.

        Raises:
            ValueError: The store lives inside this process.
            TypeError: ``trial_timeout`` is among ``ignored``.
        """
        if is_process_local(self.db_url):
            raise ValueError(
                f"`fmin` on StoreTrials({self.db_url!r}) needs worker processes, but "
                "that store lives inside this process, where none can reach it: use "
                "Trials() to search in this process, or a file (sqlite:///hpo.sqlite)"
                " or a MongoDB server for workers"
            )
        if "trial_timeout" in ignored:
            raise TypeError(
                "a trial timeout is a setting of the study's trials: pass "
                f"StoreTrials(..., trial_timeout={ignored['trial_timeout']!r}), not "
                "fmin(trial_timeout=...)"
            )

    def _given_settings(
        self,
        fn: Callable[[Any], Any],
        space: Any,
        algo: Callable[..., Any] | None,
        rstate: Any,
        max_evals: int | None,
        *,
        loss_threshold: float | None,
        timeout: float | None,
        pruner: Any,
    ) -> dict[str, Any]:
        """The study settings ``fmin``'s arguments and this object's give (see
        :func:`~hpo_service.driver._study.open_driven_study`).

        Raises:
            ValueError: ``pruner`` is not the constructor's.
        """
        # algo=None: a new study uses tpe, a resumed one keeps its algorithm.
        name, algo_settings = (None, None) if algo is None else describe(algo)
        chosen = _one_pruner(self.pruner, pruner)
        given = {
            "objective": self.objective or reference_of(fn),
            **space_settings(space),
            "max_evals": max_evals,
            "algorithm": name,
            "algorithm_settings": algo_settings,
            "seed": _seed(rstate),
            "loss_threshold": loss_threshold,
            "timeout": timeout,
            "objective_names": self._given_names,
            "trial_timeout": self.trial_timeout,
            "started_by": "fmin",  # advice then names keyword arguments
        }
        if chosen is not None:
            named = self._pruner_named or self.pruner is None
            named = named and (pruner is None or isinstance(pruner, str))
            settings = self._kept_pruner_settings(chosen.name) if named else None
            given.update(
                pruner=chosen.name,
                pruner_settings=chosen.settings() if settings is None else settings,
            )
        return given

    def _kept_pruner_settings(self, name: str) -> dict[str, Any] | None:
        """The settings of pruner ``name`` (given as a name only, which gives no
        setting) on the study: its stored ones when the study's pruner is ``name``
        (also after a default changed, as ASHA's ``reduction_factor`` did), those
        its class takes (:func:`~hpo_service.algorithms.pruners.kept_settings`,
        as ``hpo-driver start --pruner NAME``), with the class's defaults for the
        rest; None for a new study or another pruner.

        Raises:
            ValueError: A kept setting is out of the pruner's range.
        """
        try:
            study = self.store.get_study(self.study)
        except StudyNotFoundError:
            return None
        stored = study.settings.get("pruner")
        if stored != name:
            return None
        held = study.settings.get("pruner_settings") or {}
        return make_pruner(name, kept_settings(name, (stored, held))).settings()

    def _driver_options(
        self,
        show_progressbar: bool | Callable[..., Any],
        objective: str,
        catch_eval_exceptions: bool = False,
    ) -> DriverOptions:
        """The driver's options for ``fmin``: progress, local workers, hints
        naming this object's keyword arguments, and whether a sampled point the
        space raises for stops the search (see :class:`DriverOptions`)."""
        return DriverOptions(
            catch_eval_exceptions=catch_eval_exceptions,
            progress=show_progressbar,
            local_workers=self.workers,
            worker_hint=store_trials_worker_hint(
                self.db_url,
                self.study,
                hyperopt=self._hyperopt_worker,
                objective=objective,
            ),
            errors_hint=errors_hint(self.db_url, self.study),
            pruning_counts=show_progressbar is True,  # what show_ladder shows
            in_python=True,
        )

    def _open_study(
        self,
        space: Any,
        points: Sequence[Mapping[str, Any]],
        given: dict[str, Any],
        options: DriverOptions,
        *,
        on_lease: Callable[[], object],
    ) -> StudySettings:
        """Create or resume the study, queue ``points`` into it if it has no trial
        yet (as ``Trials()``), and read its trials again with the space's labels if
        they were read without a space. ``on_lease`` is called once the driver
        lease is taken.

        Raises:
            SpaceError: A point does not fit the space (nothing is written then).
        """
        point_trials = self._point_trials(space, points)  # before writes
        settings, _ = open_driven_study(
            self.store, self.study, given, override=self.override, options=options,
            on_lease=on_lease,
        )  # fmt: skip
        if point_trials and not any(self.store.count_by_state(self.study).values()):
            self.store.insert_trials(self.study, point_trials)
        if self._labels == []:  # read without a space: read again with its labels
            self._docs, self._cursor = {}, 0
        self._labels = None
        return settings

    def _drive(
        self,
        settings: StudySettings,
        space: Any,
        options: DriverOptions,
        early: Callable[[], str | None] | None,
        lease: LeaseUntilDriving,
    ) -> StudyOutcome:
        """Run the study's driver beside the local workers until it ends (the
        driver made is noted in ``lease``: its run gives the lease back). A
        stopping signal stops both cleanly, then ends this process as the signal
        would have."""
        workers = LocalWorkers(
            self.workers, self.db_url, self.study, objective=settings.objective
        )
        with StopSignals() as signals, workers as local:
            driver = lease.driver = Driver(
                self.store,
                self.study,
                settings,
                space,
                options=options,
                should_stop=_stop_checks(local, early),
            )
            driver.attach_local_workers(local)
            signals.on_stop(driver.interrupt)
            outcome = driver.run()
        signals.redeliver()  # terminated: end as the signal would have, cleaned up
        return outcome

    def _point_trials(
        self, space: Any, points: Sequence[Mapping[str, Any]]
    ) -> list[NewTrial]:
        """The trials for ``points_to_evaluate``, each checked against the space.

        Raises:
            SpaceError: A point does not fit the space (named as ``hpo-driver
                enqueue`` names it: ``"point 0 does not fit the study's space:
                ..."``), or its config is not one every store can hold
                (:func:`~hpo_service.driver._suggest.check_storable`, the rule of
                ``hpo-driver enqueue`` and of the driver's suggestions).
            SpaceCodeError: The space's own code raised for a point (naming it
                and where the space raised: :func:`refused_point`); nothing is
                queued.
        """
        suggester = Suggester(space, resolve("rand"))
        trials = []
        for i, point in enumerate(points):
            try:
                trials.append(suggester.trial_for(point))
            except SpaceCodeError as e:
                raise refused_point(e, f"point {i}") from e.error
            except SpaceError as e:
                raise SpaceError(misfit_point(f"point {i}", e)) from None
        check_storable(trials)
        return trials

    def _doc(self, trial: Trial) -> dict[str, Any]:
        error = None
        result = trial.result
        if trial.state == TrialState.ERROR:
            info = trial.error or {}
            error = (str(info.get("type")), str(info.get("message")))
        if result is None:
            status = {TrialState.NEW: "new", TrialState.RUNNING: "running"}
            result = {"status": status.get(trial.state, STATUS_FAIL)}
        return make_trial_doc(
            trial.tid,
            state=_JOB_STATE[trial.state],
            params=trial.params,
            labels=self._doc_labels(trial.params),
            result=result,
            error=error,
            book_time=_datetime(trial.started_at),
            refresh_time=_datetime(trial.finished_at),
            owner=trial.owner,
            intermediate=trial.intermediate,
            exp_key=self.exp_key,
        )

    def _doc_labels(self, params: Mapping[str, Any]) -> list[str]:
        """The labels of a trial's ``misc.vals``: the space's, then those of
        ``params`` it has not (a trial run before ``override=True`` changed the
        space keeps what it was run with, as hyperopt's dicts keep their keys)."""
        labels = self._space_labels()
        return labels + sorted(set(params) - set(labels))

    def _space_labels(self) -> list[str]:
        """Every label of the space, read once; [] for a study without a space
        (made by an import), until ``fmin`` gives it one."""
        if self._labels is None:
            settings = StudySettings.from_dict(
                self.store.get_study(self.study).settings
            )
            self._labels = (
                [spec.label for spec in compile_space(study_space(settings))]
                if settings.has_space()
                else []
            )
        return self._labels


def _point_of(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The params of a hand-made trial dict to queue (``{label: value}``).

    Raises:
        InvalidTrial: The doc lacks a key of hyperopt's trial dicts.
        ValueError: The doc is not new (finished ones are imported instead).
    """
    check_trial_doc(doc)
    if doc["state"] != JOB_STATE_NEW:
        raise ValueError(
            f"`state` must be JOB_STATE_NEW ({JOB_STATE_NEW}) for a trial to "
            f"queue, but got state={doc['state']!r} (tid {doc['tid']}); "
            "finished trials come in with import_results(path) (an export "
            "or a pickled Trials)"
        )
    vals = doc["misc"]["vals"]
    return {label: v[0] for label, v in vals.items() if len(v)}


def warn_unsaved(trials: StoreTrials, trials_save_file: str) -> None:
    """Warn the caller of ``fmin`` (two frames up) that ``trials_save_file`` is not
    written with a store: hyperopt would pickle the ``MongoTrials``."""
    if trials_save_file:
        warnings.warn(
            f"trials_save_file={trials_save_file!r} is not written with "
            f"{type(trials).__name__}: its store keeps every trial as it "
            "finishes, and fmin with the same study (exp_key) resumes it",
            UserWarning,
            stacklevel=3,
        )


def _seed(rstate: Any) -> int | None:
    if rstate is None:
        return None
    return int(as_generator(rstate).integers(2**31 - 1))


def _datetime(seconds: float | None) -> _dt.datetime | None:
    if seconds is None:
        return None
    return _dt.datetime.fromtimestamp(seconds, tz=_dt.timezone.utc)


def _stop_checks(
    local: LocalWorkers, early: Callable[[], str | None] | None
) -> Callable[[], str | None]:
    """A driver stop hook: fail if every local worker died, then ask ``early``."""

    def check() -> str | None:
        local.check()
        return None if early is None else early()

    return check


def _early_stopper(
    trials: StoreTrials, early_stop_fn: Callable[..., Any]
) -> Callable[[], str | None]:
    """A driver stop hook calling ``early_stop_fn`` once per newly finished trial.

    As in-process ``fmin`` does, each call sees the finished trials so far with the
    newest last, even when several trials finished between two driver polls.
    """
    state: list[Any] = []
    finished = _FinishedTrials()

    def check() -> str | None:
        seen = {doc["tid"] for doc in finished.trials}
        new = [
            d
            for d in trials._dynamic_trials
            if d["state"] in (JOB_STATE_DONE, JOB_STATE_ERROR) and d["tid"] not in seen
        ]
        for doc in sorted(new, key=_finish_order):
            finished.trials.append(doc)
            stop, state[:] = early_stop_fn(finished, *state)
            if stop:
                return "early_stop"
        return None

    return check


def _finish_order(doc: dict[str, Any]) -> tuple[float, int]:
    finished_at = doc["refresh_time"]
    return (0.0 if finished_at is None else finished_at.timestamp(), doc["tid"])


class _FinishedTrials(TrialsView):
    """The finished trials only, in the order they finished, for ``early_stop_fn``."""

    def __init__(self) -> None:
        self._docs: list[dict[str, Any]] = []

    @property
    def trials(self) -> list[dict[str, Any]]:
        return self._docs


class _StoredAttachments(Mapping[str, bytes]):
    """One trial's attachments in the store, loaded one at a time on access."""

    def __init__(self, store: BaseTrialStore, study: str, tid: int) -> None:
        self._store, self._study, self._tid = store, study, tid

    def __getitem__(self, name: str) -> bytes:
        found = self._store.get_attachments(self._study, self._tid, [name])
        if name not in found:
            raise KeyError(name)
        return found[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._store.attachment_sizes(self._study, self._tid))

    def __len__(self) -> int:
        return len(self._store.attachment_sizes(self._study, self._tid))

    def __setitem__(self, name: str, value: Any) -> None:
        raise TypeError(_read_only(f"trial {self._tid}'s", name))

    def __delitem__(self, name: str) -> None:
        raise TypeError(_read_only(f"trial {self._tid}'s", name))


class _AllAttachments(Mapping[str, bytes]):
    """Every trial's attachments under hyperopt's ``ATTACH::<tid>::<name>`` keys."""

    def __init__(self, trials: StoreTrials) -> None:
        self._trials = trials

    def __getitem__(self, key: str) -> bytes:
        prefix, _, rest = str(key).partition("::")
        tid, _, name = rest.partition("::")
        if prefix != "ATTACH" or not tid.isdigit() or not name:
            raise KeyError(key)
        try:
            return self._trials.trial_attachments({"tid": int(tid)})[name]
        except TrialNotFoundError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[str]:
        for doc in self._trials._dynamic_trials:
            for name in self._trials.trial_attachments(doc):
                yield self._trials.aname(doc, name)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __setitem__(self, key: str, value: Any) -> None:
        raise TypeError(_read_only("every trial's (ATTACH::<tid>::<name>)", key))

    def __delitem__(self, key: str) -> None:
        raise TypeError(_read_only("every trial's (ATTACH::<tid>::<name>)", key))


def _read_only(whose: str, key: str) -> str:
    """Why a store's attachments mapping refuses a write of ``key``. hyperopt's
    ``MongoTrials`` also keeps database-wide blobs in ``trials.attachments``, and its
    ``Domain.evaluate`` files a re-run's attachments through ``ctrl.attachments``."""
    return (
        f"attachments in a store are read-only: they hold {whose} attachments, what "
        f"the objective returned, but got a write of {key!r}; an objective attaches "
        "blobs to its trial with result['attachments'] = {name: bytes},"
        " Domain.evaluate(..., attach_attachments=False) leaves a re-run's "
        "attachments in its result, and blobs of the whole study belong in a file "
        "beside it"
    )


def _checked_trial_timeout(value: Any) -> float | None:
    """``StoreTrials(trial_timeout=...)`` as a float, checked as ``--trial-timeout``.

    Raises:
        ValueError: ``value`` is not None or a finite real number > 0.
    """
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or not float(value) > 0  # float(): typeshed's Real has no order with int
    ):
        raise ValueError(
            "`trial_timeout` must be a finite number of seconds > 0 (or None for no "
            f"timeout), but got trial_timeout={value!r}"
        )
    return float(value)


def _one_pruner(constructed: BasePruner | None, given: Any) -> BasePruner | None:
    """The pruner of ``StoreTrials(pruner=...)`` and ``fmin(pruner=...)``: either may
    be None, and if both are given they must be the same pruner with the same settings.

    Raises:
        ValueError: Two different pruners.
    """
    if given is None:
        return constructed
    chosen = resolve_pruner(given)
    if constructed is None or _same_pruner(constructed, chosen):
        return chosen
    raise ValueError(
        "`fmin(pruner=...)` must match `StoreTrials(pruner=...)` (or give the "
        "pruner once), but got StoreTrials(pruner="
        f"{describe_pruner(constructed.name, constructed.settings())}) and "
        f"fmin(pruner={describe_pruner(chosen.name, chosen.settings())})"
    )


def _same_pruner(a: BasePruner, b: BasePruner) -> bool:
    return (a.name, a.settings()) == (b.name, b.settings())
