"""The trials-store contract that every backend implements.

See ``../shared/DESIGN.md`` ("Store interface") for the rules; the contract tests in
``tests/store/test_contract.py`` check them against every backend.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hpo_service.exceptions import StoreError

if TYPE_CHECKING:
    from hpo_service.store._summary import RunningTrial, StudySummary

#: Most bytes the attachments of one trial may hold together: 8 MiB. They are BLOBs
#: in SQLite and one document each in MongoDB (whose documents hold up to 16 MiB).
MAX_ATTACHMENT_BYTES = 8 * 2**20


class TrialState(str, enum.Enum):
    """A trial's life: ``new`` -> ``running`` -> a finished state.

    Finished states: ``done``, ``error``, ``cancelled`` and ``pruned``.
    A ``running`` trial whose lease expires goes back to ``new`` while attempts remain.
    ``pruned`` is a finished state like ``done``: the pruner stopped the trial early
    (it used budget, so it counts toward ``max_evals``).
    """

    NEW = "new"
    RUNNING = "running"
    DONE = "done"
    ERROR = "error"
    CANCELLED = "cancelled"
    PRUNED = "pruned"

    def is_finished(self) -> bool:
        """Whether the state is final (no further change is accepted)."""
        return self in _FINISHED


_FINISHED = frozenset(
    {TrialState.DONE, TrialState.ERROR, TrialState.CANCELLED, TrialState.PRUNED}
)


@dataclass
class Study:
    """A study record. ``settings`` is opaque to the store (the runtime defines it).

    ``next_tid`` counts the tids allocated so far (the next trial gets this tid or a
    higher one), so the study holds at most ``next_tid`` trials.
    """

    name: str
    settings: dict[str, Any]
    created_at: float
    updated_at: float
    driver_owner: str | None = None
    driver_lease_expires_at: float | None = None
    next_tid: int = 0


@dataclass
class NewTrial:
    """What a driver inserts: the active params and the objective's config."""

    params: dict[str, Any]
    config: Any


@dataclass
class FinishedTrial:
    """An already-evaluated trial to import (a warm start, or a study moved from
    another store): params, config and how it ended.

    Attributes:
        params: ``{label: value}`` of the active parameters.
        config: The value the objective received.
        result: A ``done`` trial's result (``status`` ``"ok"`` with a loss, or
            ``"fail"``), a ``pruned`` one's (``status`` ``"pruned"``, its last
            reported ``loss`` and ``step``); None for ``error`` and ``cancelled``.
        state: ``done``, ``pruned``, ``error`` or ``cancelled``.
        error: Why an ``error`` trial failed (``type``, ``message``, optional
            ``traceback``), as :meth:`BaseTrialStore.fail` takes it; optional for a
            ``cancelled`` one.
        intermediate: step -> value the objective reported (pruning), kept as the
            trial's last attempt's reports (pruners read them).
    """

    params: dict[str, Any]
    config: Any
    result: dict[str, Any] | None = None
    state: TrialState = TrialState.DONE
    error: dict[str, Any] | None = None
    intermediate: dict[int, float] = field(default_factory=dict)


@dataclass
class Trial:
    """A trial as the store holds it. Times are seconds since the epoch (store clock).

    ``version`` is the study's change cursor at this trial's last change (see
    :meth:`BaseTrialStore.changes_since`); on MongoDB it is ``-1`` ("pending") after a
    write until a reader's next ``changes_since`` numbers it (a write costs one round
    trip that way).

    ``intermediate`` maps step -> value reported by the objective during the current
    attempt (see :meth:`BaseTrialStore.report`); empty for a queued trial.

    ``started_at`` is when the attempt that holds the trial (its ``token``) began;
    None while no attempt holds it: queued (also once requeued, though the store
    keeps the expired attempt's start for a :meth:`BaseTrialStore.reclaim`), or
    cancelled while queued.

    ``code`` identifies the code that ran the finished attempt (the worker's
    ``{"module", "sha256", "version"}``: the objective module's name, a hash of its
    file and its distribution's version), or None.
    """

    study: str
    tid: int
    state: TrialState
    params: dict[str, Any]
    config: Any
    owner: str | None = None
    token: str | None = None
    attempts: int = 0
    lease_expires_at: float | None = None
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    version: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    intermediate: dict[int, float] = field(default_factory=dict)
    code: dict[str, Any] | None = None


@dataclass(frozen=True)
class TrialKeys:
    """The keys a study's trials hold, over every trial (see
    :meth:`BaseTrialStore.trial_keys`): what an export's header needs of the trials
    it does not show.

    Attributes:
        params: Every parameter label of any trial, sorted.
        result_keys: Every key of a result whose ``status`` is not ``"pruned"``,
            sorted.
        pruned_result_keys: Every key of a result whose ``status`` is
            ``"pruned"``, sorted.
        loss_lengths: The length of each list ``loss`` a result holds (several
            objectives), each once, in the order of the lowest tid holding it.
        constraints: The most constraints a result holds (a list's length, 1 for
            a single value), or None when no result holds any (None).
    """

    params: tuple[str, ...] = ()
    result_keys: tuple[str, ...] = ()
    pruned_result_keys: tuple[str, ...] = ()
    loss_lengths: tuple[int, ...] = ()
    constraints: int | None = None


@dataclass(frozen=True)
class TrialReports:
    """A finished trial as a pruner needs it (see :meth:`BaseTrialStore.reports_since`).

    Attributes:
        tid: The trial.
        state: Its finished state (``done``, ``error``, ``cancelled`` or ``pruned``).
        intermediate: step -> value of its last attempt (empty if it reported none).
    """

    tid: int
    state: TrialState
    intermediate: dict[int, float]


@dataclass
class RequeueReport:
    """Outcome of :meth:`BaseTrialStore.requeue_expired`: (study, tid) pairs, sorted."""

    requeued: list[tuple[str, int]] = field(default_factory=list)
    failed: list[tuple[str, int]] = field(default_factory=list)


class BaseTrialStore(abc.ABC):
    """A trials store shared by one driver per study and any number of workers.

    Guarantees every backend keeps, whatever the number of processes or machines:

    - every method is atomic on its own; a claim is one conditional write, never a read
      followed by a write, so two workers never run the same attempt;
    - tids are allocated by the store, unique per study, increasing, never reused;
    - ``complete``/``fail``/``prune`` are accepted only for the current attempt
      (matching token, state ``running``) and at most once; a finished trial never
      changes again; an attempt whose lease ran out and was requeued may take its
      trial back (:meth:`reclaim`) until another attempt claims it, so a late result
      still counts (once) unless another attempt claimed the trial, or it was
      cancelled or quarantined, meanwhile;
    - intermediate values (:meth:`report`) belong to one attempt: a report is accepted
      only from the current running attempt, and a trial that goes back to the queue
      starts its reports afresh with its next attempt;
    - leases are judged by the store's clock (:meth:`now`), never the caller's;
    - every change of a trial (insert, claim, reclaim, complete, fail, release,
      requeue, cancel) bumps a per-study change cursor, so :meth:`changes_since`
      returns the trials changed after a cursor without rescanning the study; a
      heartbeat only moves ``lease_expires_at`` and a report only adds an
      intermediate value: neither is a change;
    - transient connection errors are retried with backoff inside the backend;
      :class:`~hpo_service.exceptions.StoreConnectionError` is raised only when the
      store stays unreachable past the backend's bounded timeout;
    - nothing read from the store is ever unpickled.

    Values (settings, params, config, result, error) are stored as JSON: what comes
    back is what ``json.loads(json.dumps(value))`` gives (tuples become lists,
    non-string keys strings), except that NaN and +-inf floats round-trip exactly.
    A value JSON cannot hold is a ValueError. Any key is allowed (``.`` and ``$`` too).

    Errors: an unknown study is :class:`~hpo_service.exceptions.StudyNotFoundError`
    and an unknown trial :class:`~hpo_service.exceptions.TrialNotFoundError` (both
    KeyError), from every method that names one; malformed arguments (empty names,
    ``lease_seconds <= 0``, ``max_attempts < 1``, negative tids or cursors) are
    ValueError. After :meth:`close`, every operation on trials or studies raises
    :class:`~hpo_service.exceptions.StoreError`.
    """

    # ---- studies -----------------------------------------------------------------

    @abc.abstractmethod
    def create_study(self, name: str, settings: dict[str, Any]) -> Study:
        """Create a study.

        Raises:
            StudyExistsError: A study of that name already exists.
        """

    @abc.abstractmethod
    def get_study(self, name: str) -> Study:
        """Return the study.

        Raises:
            StudyNotFoundError: No such study.
        """

    @abc.abstractmethod
    def list_studies(self) -> list[Study]:
        """Return every study, oldest first."""

    @abc.abstractmethod
    def update_study_settings(self, name: str, settings: dict[str, Any]) -> Study:
        """Replace a study's settings as a whole.

        Read-modify-write through :meth:`get_study` and this method loses a concurrent
        writer's change (a cancel, a recorded objective count); change some settings
        with :meth:`patch_study_settings` instead.

        Raises:
            StudyNotFoundError: No such study.
        """

    @abc.abstractmethod
    def patch_study_settings(
        self, name: str, changes: dict[str, Any], *, only_unset: bool = False
    ) -> Study:
        """Set the settings named in ``changes`` in one atomic write; keep the others.

        Two writers patching different keys at the same time both keep their change.
        With ``only_unset`` a key is written only where the study has no value for it
        (missing or None): the first writer wins, and every writer learns the winner
        from the returned settings.

        Args:
            name: The study.
            changes: ``{setting: value}``, at least one; a value replaces the stored
                value whole (a dict is not merged into the stored dict).
            only_unset: Leave keys that already hold a value (not None) as they are.

        Returns:
            The study after the write.

        Raises:
            StudyNotFoundError: No such study.
            ValueError: ``changes`` is not a non-empty dict with non-empty string
                keys, or holds what JSON cannot.
        """

    @abc.abstractmethod
    def acquire_driver_lease(self, name: str, owner: str, seconds: float) -> bool:
        """Take or extend the study's driver lease.

        Returns:
            True if ``owner`` now holds the lease (it was free, expired or already
            ``owner``'s), False if another owner holds a live lease.
        """

    @abc.abstractmethod
    def release_driver_lease(self, name: str, owner: str) -> None:
        """Give the driver lease up if ``owner`` holds it; otherwise do nothing."""

    # ---- trials: writes ------------------------------------------------------------

    @abc.abstractmethod
    def insert_trials(self, study: str, trials: list[NewTrial]) -> list[int]:
        """Insert trials in state ``new`` and return their newly allocated tids.

        Tids are consecutive within one call and increase across calls; a retried
        allocation on MongoDB may leave a gap between two calls, never a reuse.

        Raises:
            StudyNotFoundError: No such study.
        """

    @abc.abstractmethod
    def insert_finished(self, study: str, trials: list[FinishedTrial]) -> list[int]:
        """Insert already-evaluated trials in their finished states (``done``,
        ``pruned``, ``error``, ``cancelled``) and return their tids.

        What a warm start imports (another study's results, a hyperopt ``Trials``):
        the trials are never claimed or run, and they are changes like any insert.
        Tids are allocated as :meth:`insert_trials` allocates them. A trial's
        ``intermediate`` values are its current attempt's reports, as if it had
        reported them (:meth:`reports_since` and reads show them); ``attempts`` is 0.

        Raises:
            StudyNotFoundError: No such study.
            ValueError: An item is not a FinishedTrial in a finished state with dict
                params, a dict result (done, pruned), a valid error (error) and
                valid reports.
        """

    @abc.abstractmethod
    def fill_configs(
        self,
        study: str,
        configs: Mapping[int, Any],
        *,
        params: Mapping[int, dict[str, Any]] | None = None,
    ) -> int:
        """Give finished trials that have no config their config, once.

        A trial imported into a study without a space keeps params only (hyperopt's
        ``misc.vals``, a CSV's columns): its config (the value an objective is
        called with) needs the space, which a later start gives. Each trial of
        ``configs`` is written only while it is finished and its config is None,
        in one conditional write per trial, so a retried or repeated call, or two
        callers racing, write each config at most once and never change a config
        that is set. Each write is a change (:meth:`changes_since` returns the
        trial again, now with its config); nothing else of the trial changes.

        Args:
            study: The study.
            configs: ``{tid: config}``; a config must be JSON-able and not None.
                Unknown tids, and trials not finished or already holding a
                config, are skipped.
            params: ``{tid: params}`` (a tid of ``configs``): written with that
                trial's config, in the same conditional write, in place of the
                params it holds: the same values in the types the space gives
                (an import without a space stored a CSV cell ``1.0`` of an
                ``hp.randint`` as a float; the start that gives the space makes
                it ``1``). Other tids are refused.

        Returns:
            How many trials this call gave a config.

        Raises:
            StudyNotFoundError: No such study.
            ValueError: A tid is not an int >= 0, a config is None or holds
                what JSON cannot, or ``params`` names a tid ``configs`` does not
                or holds a value that is not a dict.
        """

    @abc.abstractmethod
    def claim(
        self, owner: str, lease_seconds: float, *, study: str | None = None
    ) -> Trial | None:
        """Atomically move the oldest ``new`` trial (of ``study``, or any) to running.

        Sets ``owner``, a fresh ``token``, ``attempts += 1``, ``started_at`` and
        ``lease_expires_at = now() + lease_seconds``. Oldest means lowest tid within a
        study and insertion order across studies; a requeued trial keeps its place,
        so it runs again before newer ones.

        Returns:
            The claimed trial, or None when nothing is queued.

        Raises:
            StudyNotFoundError: ``study`` is given but does not exist.
        """

    def claim_with_study(
        self, owner: str, lease_seconds: float, *, study: str | None = None
    ) -> tuple[Trial, Study | None] | None:
        """:meth:`claim`, with the claimed trial's study as it is once the claim
        landed (settings, ``next_tid``): what a worker judges the trial by (its
        budget, a cancel) and runs it with, without a read of its own.

        This default claims, then reads the study (:meth:`get_study`); SQLite reads
        it in the claim's own transaction, in the statement that already marks the
        study changed. A read that fails after the claim landed gives the trial
        with no study (the caller reads it, with its own retries) rather than an
        error: the claimed trial would be lost to its caller, running under a
        lease no one renews, until the lease runs out. MongoDB claims and reads
        so too, and keeps what the read says for the attempt's :meth:`complete`
        (``unless_setting``).

        Returns:
            ``(trial, study)``; ``(trial, None)`` when the read after the claim
            failed (this default only); None when nothing is queued.

        Raises:
            StudyNotFoundError: ``study`` is given but does not exist.
        """
        trial = self.claim(owner, lease_seconds, study=study)
        if trial is None:
            return None
        try:
            return trial, self.get_study(trial.study)
        except (ConnectionError, StoreError):  # the trial is claimed: hand it over
            return trial, None

    @abc.abstractmethod
    def heartbeat(self, study: str, tid: int, token: str, lease_seconds: float) -> bool:
        """Extend the lease of the attempt ``token`` to ``now() + lease_seconds``.

        Returns:
            True if the attempt is still current and running, False if it was requeued,
            cancelled or finished meanwhile (the caller should stop working on it, or
            first try :meth:`reclaim`).
        """

    @abc.abstractmethod
    def reclaim(
        self, study: str, tid: int, token: str, owner: str, lease_seconds: float
    ) -> bool:
        """Take back the requeued trial of the expired attempt ``token``, if unclaimed.

        A worker whose lease expired (a store it could not reach, a paused machine)
        finds its attempt requeued by :meth:`requeue_expired`. While the trial is
        still ``new`` and no attempt claimed it since, running it again would only
        repeat the same work, so the same attempt takes it back: state ``running``,
        the same ``token``, ``attempts`` and ``started_at``, ``owner``, and
        ``lease_expires_at = now() + lease_seconds``; its reports and attachments
        count again. One conditional write, like a claim: of a reclaim and a claim
        racing, exactly one wins.

        Args:
            study: The trial's study.
            tid: The trial.
            token: The attempt's token, as its claim returned it.
            owner: The worker's id (as :meth:`claim`'s).
            lease_seconds: The new lease.

        Returns:
            True if taken back; False if the trial was claimed again, handed back,
            cancelled or finished since (also quarantined after ``max_attempts``), or
            was never requeued from ``token``: then the attempt is over.

        Raises:
            ValueError: An argument is malformed.
        """

    @abc.abstractmethod
    def complete(
        self,
        study: str,
        tid: int,
        token: str,
        result: dict[str, Any],
        *,
        code: dict[str, Any] | None = None,
        unless_setting: str | None = None,
    ) -> bool:
        """Record ``result`` and move the trial to ``done``.

        ``code`` (JSON-able) identifies the code that ran the attempt; it becomes
        the trial's ``code``, as with :meth:`fail` and :meth:`prune`.

        ``unless_setting`` makes the write conditional on the study's settings not
        holding that key (or holding None): a worker that does not know the study's
        constraint count yet records a result without constraints with
        ``unless_setting="n_constraints"``, so a count another worker recorded while
        the trial ran refuses it without a read of the study before each result.
        SQLite tests the setting as the write lands (the same transaction, no extra
        statement). MongoDB does too, with no read, for an attempt this store
        object claimed with :meth:`claim_with_study` while the key was unset and no
        settings write was open (settings writes first mark the running trials, see
        :mod:`._mongo_settings`); otherwise it reads the setting just before the
        write (one read: a trial write cannot test another collection), so a value
        recorded between that read and the write is not seen, as with a read of the
        study before the call.

        Returns:
            True if accepted; False if ``token`` is not the current running attempt.

        Raises:
            SettingRecordedError: The study's settings hold ``unless_setting``
                (its ``value`` attached); nothing was written and the attempt still
                runs (a current attempt only: a stale one gets False).
        """

    @abc.abstractmethod
    def fail(
        self,
        study: str,
        tid: int,
        token: str,
        error: dict[str, Any],
        *,
        code: dict[str, Any] | None = None,
    ) -> bool:
        """Record ``error`` and move the trial to ``error``.

        ``error`` needs string ``type`` and ``message``; ``traceback`` defaults to None.

        Returns:
            True if accepted; False if ``token`` is not the current running attempt.
        """

    @abc.abstractmethod
    def prune(
        self,
        study: str,
        tid: int,
        token: str,
        result: dict[str, Any],
        *,
        code: dict[str, Any] | None = None,
    ) -> bool:
        """Record ``result`` and move the trial to ``pruned`` (stopped early).

        The trial keeps its intermediate values; ``result`` normally holds the last
        reported value as ``loss`` and ``status`` ``"pruned"``.

        Returns:
            True if accepted; False if ``token`` is not the current running attempt.
        """

    def report(self, study: str, tid: int, token: str, step: int, value: float) -> bool:
        """Record the intermediate ``value`` at ``step`` of the attempt ``token``.

        A second report at the same step replaces the first (so a retried report is
        harmless). Reports are kept with the attempt: a trial requeued or released
        shows no intermediate values until its next attempt reports. A report is
        not a change of the trial (:meth:`changes_since` does not return it for one).

        Args:
            study: The study.
            tid: The trial.
            token: The attempt's token.
            step: Training step, epoch or budget units; an int >= 0.
            value: The intermediate loss (lower is better); a finite float.

        Returns:
            True if recorded; False if ``token`` is not the current running attempt.

        Raises:
            ValueError: ``step`` is not an int >= 0 or ``value`` is not a finite
                number.
        """
        return self.report_many(study, tid, token, [(step, value)])

    @abc.abstractmethod
    def report_many(
        self, study: str, tid: int, token: str, values: Sequence[tuple[int, float]]
    ) -> bool:
        """Record several ``(step, value)`` reports of attempt ``token`` in one write.

        As :meth:`report` for each pair, in order (a later pair of a step wins), all
        or none: what a worker uses to write the reports it gathered since its last
        write.

        Raises:
            ValueError: ``values`` is empty, or a step or value is invalid (see
                :meth:`report`).
        """

    @abc.abstractmethod
    def put_attachments(
        self, study: str, tid: int, token: str, attachments: dict[str, bytes]
    ) -> bool:
        """Store the attempt's attachments (hyperopt's: named blobs of a result).

        Replaces whatever attachments the trial had. A worker calls it before
        :meth:`complete`; like a report, it is not a change of the trial.

        Args:
            study: The study.
            tid: The trial.
            token: The attempt's token.
            attachments: ``{name: bytes}``, at most :data:`MAX_ATTACHMENT_BYTES`
                together.

        Returns:
            True if stored; False if ``token`` is not the current running attempt.

        Raises:
            ValueError: Not a dict of non-empty str names to bytes, or too large.
        """

    @abc.abstractmethod
    def get_attachments(
        self, study: str, tid: int, names: list[str] | None = None
    ) -> dict[str, bytes]:
        """The attachments of the trial's current (or last) attempt, by name.

        Attachments stored by an attempt that was later requeued, released or
        refused are not shown.

        Args:
            study: The study.
            tid: The trial.
            names: Only these (missing names are left out); None for all.

        Raises:
            TrialNotFoundError: No such trial.
        """

    @abc.abstractmethod
    def attachment_sizes(self, study: str, tid: int) -> dict[str, int]:
        """``{name: size in bytes}`` of what :meth:`get_attachments` returns, without
        reading the blobs.

        Raises:
            TrialNotFoundError: No such trial.
        """

    @abc.abstractmethod
    def study_attachment_sizes(self, study: str) -> dict[int, dict[str, int]]:
        """:meth:`attachment_sizes` of every trial of the study that has attachments,
        by tid, in one read (what an export of a whole study needs).

        Raises:
            StudyNotFoundError: No such study.
        """

    @abc.abstractmethod
    def running_trials(self, study: str) -> list[RunningTrial]:
        """The study's running trials, by tid: who runs each attempt and since when
        (:class:`~hpo_service.store._summary.RunningTrial`), without params, config
        or reports, whatever the width of the space (what a check for dead workers
        reads again and again).

        Raises:
            StudyNotFoundError: No such study.
        """

    @abc.abstractmethod
    def running_by_study(
        self,
        *,
        study: str | None = None,
        only_requeuable: bool = False,
        namespace: str | None = None,
    ) -> dict[str, list[RunningTrial]]:
        """Every study's running trials (as :meth:`running_trials` lists them, by
        tid), by study; a study without any is left out. One read, whatever the
        number of studies: what an idle worker reads at each housekeeping.

        Args:
            study: Only this study's (a missing study has none: no error).
            only_requeuable: Only the trials a worker of ``namespace`` may requeue
                now: its lease has expired (by the store's clock), or its owner id
                names a process of ``namespace`` (it ends ``/NAMESPACE-START``, see
                :mod:`hpo_service._common.processes`), which the worker may find
                dead. Not every running trial of every study: about 213 bytes each
                over the network, every 2 s, from every idle worker.
            namespace: The reader's namespace key
                (:func:`hpo_service._common.processes.namespace_key`); None: only
                expired leases count.
        """

    @abc.abstractmethod
    def running_intermediate(self, study: str) -> dict[int, dict[int, float]]:
        """The intermediate values of the study's running trials, by tid.

        What pruners read to compare a trial with the ones still running (ASHA's
        rungs); running trials that reported nothing yet are left out. Reads only
        running trials, whatever the size of the study.
        """

    @abc.abstractmethod
    def last_steps(self, study: str) -> list[tuple[int, TrialState, int | None]]:
        """Each running or finished trial's state and the highest step of its
        current attempt's reports: what the pruning counts need, without the values.

        One read of the study's trials (queued ones are left out), where
        :meth:`running_intermediate` plus :meth:`reports_since` took two and decoded
        every report's value (SQLite reads the steps out of the packed reports in C;
        MongoDB reads the last step each report keeps beside the reports, and the
        reports themselves only of trials an older version wrote).

        Args:
            study: The study.

        Returns:
            ``(tid, state, last step)`` by tid; the last step is None for a trial
            whose current attempt reported nothing (an old attempt's reports do not
            count).

        Raises:
            StudyNotFoundError: No such study.
        """

    @abc.abstractmethod
    def reports_since(
        self, study: str, cursor: int = 0
    ) -> tuple[list[TrialReports], int]:
        """The finished trials written after ``cursor``: tid, state and reports only.

        What a pruner learns from (every finished trial's intermediate values), read
        incrementally: the cursor is :meth:`changes_since`'s (same guarantees, same
        numbers), but only finished trials are returned and none of their params,
        config or result is read or decoded, so a fresh worker's first read of a
        large study costs the reports alone.

        Args:
            study: The study.
            cursor: 0 for every finished trial, else a cursor returned by this call
                or by :meth:`changes_since`.

        Returns:
            The trials in the order they were written, and the cursor to pass next.

        Raises:
            ValueError: ``cursor`` is negative.
            StudyNotFoundError: No such study.
        """

    @abc.abstractmethod
    def release(self, study: str, tid: int, token: str) -> bool:
        """Hand a running attempt back untouched: state ``new``, ``attempts -= 1``.

        Used by a worker that cannot run the objective at all (import error, shutdown).

        Returns:
            True if accepted; False if ``token`` is not the current running attempt.
        """

    @abc.abstractmethod
    def requeue_expired(
        self, *, max_attempts: int, study: str | None = None
    ) -> RequeueReport:
        """Move running trials whose lease expired (by :meth:`now`) back to ``new``.

        A trial that already used ``max_attempts`` attempts becomes ``error`` instead,
        with ``error = {"type": "LeaseExpired", "message": ..., "traceback": None}``.
        ``attempts`` counts claims (a :meth:`release` gives one back). A move is
        conditional on the lease being expired at write time: a heartbeat that lands
        first wins. A requeued trial's ``owner``, ``token`` and lease are cleared
        (and reads show no ``started_at``); the store keeps the expired attempt's
        token and start aside until the next claim, so that attempt can
        :meth:`reclaim` it.
        """

    @abc.abstractmethod
    def cancel(
        self,
        study: str,
        tids: list[int] | None = None,
        *,
        error: dict[str, Any] | None = None,
        queued_only: bool = False,
    ) -> int:
        """Cancel ``new`` and ``running`` trials (all of them when ``tids`` is None).

        A cancelled running attempt's heartbeat and result are refused afterwards.
        Tids that are unknown or already finished are skipped. With ``queued_only``
        only trials still ``new`` when the write lands are cancelled: one a worker
        claimed meanwhile runs on and its result counts (what a driver wants when it
        drops its queue after a stop rule, from a view of the queue read earlier).

        Args:
            study: The study.
            tids: The trials to cancel, or None for all.
            error: Why, as :meth:`fail`'s ``error`` (``type`` and ``message``); it
                becomes the cancelled trials' ``error``, which ``hpo-driver trials``
                shows. None leaves their ``error`` as it is (None).
            queued_only: Leave ``running`` trials alone.

        Returns:
            How many trials were cancelled.

        Raises:
            ValueError: ``error`` lacks a string ``type`` or ``message``.
        """

    # ---- trials: reads ---------------------------------------------------------------

    @abc.abstractmethod
    def get_trial(self, study: str, tid: int) -> Trial:
        """Return one trial.

        Raises:
            TrialNotFoundError: No such trial.
        """

    @abc.abstractmethod
    def get_trials(
        self,
        study: str,
        states: list[TrialState] | None = None,
        *,
        tids: Sequence[int] | None = None,
        statuses: Collection[str] | None = None,
    ) -> list[Trial]:
        """Return the study's trials (in those states, if given), ordered by tid.

        Args:
            study: The study.
            states: Only trials in these states; None for every state.
            tids: Only these trials (unknown tids are left out); None for all.
            statuses: Only trials whose result's ``status`` is one of these
                (``"ok"``, ``"fail"``...), chosen by the database (a trial left
                out is not sent); None or empty for any (also none).

        Raises:
            StudyNotFoundError: No such study.
            ValueError: ``statuses`` is not a collection of strings.
        """

    @abc.abstractmethod
    def trial_keys(self, study: str) -> TrialKeys:
        """The keys the study's trials hold (:class:`TrialKeys`), gathered by the
        database over every trial: the parameter labels, the result keys, the
        lengths of list losses and the most constraints. What a filtered export
        needs for the header of the whole study, without reading the trials it
        does not show.

        Raises:
            StudyNotFoundError: No such study.
        """

    @abc.abstractmethod
    def export_trials(
        self,
        study: str,
        states: list[TrialState] | None = None,
        *,
        statuses: Collection[str] | None = None,
    ) -> Iterator[Trial | TrialKeys]:
        """What a filtered export (``hpo-driver trials --state S --status S``,
        CSV) needs, in one pass: the trials it shows, by tid (as
        :meth:`get_trials` with the same filters chooses them), and once, before
        or after them, the :class:`TrialKeys` of every trial of the study (as
        :meth:`trial_keys` gathers them), the trials not shown included. Trials
        created after the call are left out; each is read in its state at the
        moment its part of the study was read.

        How a backend makes it cheapest: SQLite yields :meth:`trial_keys` first,
        then the shown trials read a window of tids at a time, filtered in the
        database (no trial it does not show is decoded). MongoDB reads the study
        through one cursor by tid, gathers the keys of every document as it
        passes and decodes only the trials shown: one query, where a filtered
        query and the keys' aggregate each cost about a scan of the collection
        on the MongoDB-wire server (benchmarks/README.md, "A filtered trials
        CSV").

        Args:
            study: The study.
            states: Only trials in these states; None for every state.
            statuses: Only trials whose result's ``status`` is one of these;
                None or empty for any.

        Raises:
            StudyNotFoundError: No such study (at the call, not at the first
                item).
            ValueError: ``states`` holds a non-state, or ``statuses`` is not a
                collection of strings (at the call).
        """

    @abc.abstractmethod
    def get_tids(self, study: str, states: list[TrialState]) -> list[int]:
        """Return the tids of the study's trials in ``states``, ascending: as
        :meth:`get_trials` but reading the tids only (each trial's params, config and
        result stay in the store).

        Args:
            study: The study.
            states: The states wanted (none: an empty list).

        Raises:
            StudyNotFoundError: No such study.
            ValueError: ``states`` holds a non-state.
        """

    @abc.abstractmethod
    def changes_since(self, study: str, cursor: int = 0) -> tuple[list[Trial], int]:
        """Return the trials written after ``cursor`` and the cursor to pass next time.

        ``cursor=0`` returns every trial. Each trial appears at most once per call, in
        its latest state. Every write acknowledged before the call (by any client) is
        in its answer, even when other readers polled meanwhile; a write whose
        acknowledgement was lost may show up only in a later call. A trial may appear
        again in a later call without a new change (on MongoDB, when a write raced the
        previous call, or when the reader may not write and so cannot number pending
        writes), so callers apply changes idempotently (by tid and state). The
        returned cursor never decreases.
        """

    @abc.abstractmethod
    def count_by_state(self, study: str) -> dict[TrialState, int]:
        """Return the number of trials in each state (every state a key, zeros too).

        One consistent read: a trial changing state meanwhile is counted once, in
        its old state or its new one (the worker's budget rule relies on it: see
        :mod:`hpo_service.worker._budget`).
        """

    # ---- light reads (see ._summary) -------------------------------------------------

    @abc.abstractmethod
    def summarise(self, study: str) -> StudySummary:
        """What ``hpo-driver status`` shows, in one consistent read, without reading
        any finished trial whole.

        Counts by state (an aggregate), the running trials of the lowest tids (at
        most :data:`~hpo_service.store._summary.RUNNING_SHOWN`), the done trials
        that failed (status ``fail``) or break a constraint, the first codes that ran
        trials with their counts (at most
        :data:`~hpo_service.store._summary.CODES_SHOWN`), and the best
        single-objective trial (as :meth:`best_trial`). Only the best one is read
        whole, the running ones as :class:`~hpo_service.store._summary.RunningTrial`
        (owner, token, attempts, times): what it reads and returns does not grow
        with the study or its space (MongoDB's 16 MB limit on one document bounds
        an aggregate's answer).

        Raises:
            StudyNotFoundError: No such study.
        """

    @abc.abstractmethod
    def best_trial(
        self, study: str, *, first_tid: int = 0, end_tid: int | None = None
    ) -> Trial | None:
        """The best done single-objective trial: successful, feasible first (the
        least total constraint violation), then the lowest loss, then the lowest
        tid; None when no done trial has a single numeric loss.

        One ordered, indexed read with a limit, whatever the study's size (the order
        of :func:`hpo_service.objective._result.best_key`).

        Args:
            study: The study.
            first_tid: Only trials of this tid or higher take part (the trials
                queued after ``--override`` gave the study a new space: see
                :mod:`hpo_service._common.space_mark`).
            end_tid: With it, only trials below this tid take part: the tids
                ``[first_tid, end_tid)`` queued with one space before another
                ``--override`` changed it again. None: no upper bound.

        Raises:
            StudyNotFoundError: No such study.
            ValueError: ``first_tid`` is negative, or ``end_tid`` is not None and
                not above ``first_tid``.
        """

    @abc.abstractmethod
    def done_results(self, study: str) -> list[tuple[int, dict[str, Any] | None]]:
        """``(tid, light result)`` of every done trial, by tid: each result holds only
        its ``status``, ``loss`` and ``constraints`` (the keys it has of them).

        Raises:
            StudyNotFoundError: No such study.
        """

    def pareto_trials(self, study: str) -> list[Trial]:
        """The done trials on the Pareto front (successful, feasible, non-dominated;
        see :func:`hpo_service.objective._result.pareto_front`), by tid.

        Reads the light results of the done trials, then the front's trials whole.

        Raises:
            StudyNotFoundError: No such study.
        """
        from hpo_service.objective._result import pareto_front

        rows = self.done_results(study)
        front = pareto_front([result for _, result in rows])
        if not front:
            return []
        return self.get_trials(
            study, [TrialState.DONE], tids=[rows[i][0] for i in front]
        )

    # ---- misc ------------------------------------------------------------------------

    @abc.abstractmethod
    def now(self) -> float:
        """The store's clock in seconds since the epoch (the database server's).

        Leases are judged by this clock only; MongoDB estimates the server's clock from
        the local one plus a measured offset, SQLite uses the local clock.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. The store must not be used afterwards."""

    def __enter__(self) -> BaseTrialStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
