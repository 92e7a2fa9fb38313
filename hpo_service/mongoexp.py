"""hyperopt's ``mongoexp`` module path: ``MongoTrials`` on the trials store.

``from hyperopt.mongoexp import MongoTrials`` becomes
``from hpo_service.mongoexp import MongoTrials`` (or ``from hpo_service import
MongoTrials``); the rest of the script stays::

    trials = MongoTrials("mongo://localhost:1234/foo_db/jobs", exp_key="exp1")
    best = fmin(math.sin, hp.uniform("x", -2, 2), trials=trials, algo=tpe.suggest,
                max_evals=10)

and ``hpo-worker --mongo=localhost:1234/foo_db --exp-key exp1`` processes run the
trials, as ``hyperopt-mongo-worker`` processes did. The objective must be importable
by reference (``module:function``); workers import it, never unpickle it.

The module also has the names hyperopt's ``mongoexp`` gives its users: the job states
``JOB_STATE_NEW``, ``JOB_STATE_RUNNING``, ``JOB_STATE_DONE``, ``JOB_STATE_ERROR`` and
``JOB_STATES`` (the values of ``trial["state"]``), ``Trials`` (the in-process trials,
``MongoTrials``' base class) and ``OperationFailure`` (what a failed database
operation raises).
"""

from __future__ import annotations

import warnings
from typing import Any

from hpo_service.driver._store_trials import StoreTrials
from hpo_service.exceptions import StoreError
from hpo_service.trials import (
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
    JOB_STATES,
    Trials,
)

__all__ = [
    "DEFAULT_EXP_KEY",
    "JOB_STATES",
    "JOB_STATE_DONE",
    "JOB_STATE_ERROR",
    "JOB_STATE_NEW",
    "JOB_STATE_RUNNING",
    "MongoTrials",
    "OperationFailure",
    "Trials",
]

#: hyperopt's ``OperationFailure``, raised when a database operation fails. Every
#: failure of the trials store (unreachable or missing database, refused write, ...)
#: is a ``StoreError``, so ``except OperationFailure`` catches what it did in hyperopt.
OperationFailure = StoreError

#: The study used when ``exp_key`` is None (hyperopt then mixes every experiment of
#: the database; a study here always has a name).
DEFAULT_EXP_KEY = "default"


def _warn_unused(cmd: Any, workdir: str | None) -> None:
    """Say that hyperopt's ``cmd`` and ``workdir`` arguments change nothing here."""
    if cmd is not None and tuple(cmd) != ("domain_attachment", "FMinIter_Domain"):
        warnings.warn(
            f"MongoTrials(cmd={cmd!r}) is not used: workers import the objective by "
            "reference (module:function), never from the database",
            UserWarning,
            stacklevel=3,
        )
    if workdir is not None:
        warnings.warn(
            f"MongoTrials(workdir={workdir!r}) is not used: the workers choose where "
            f"trials run; start them with `hpo-worker --workdir {workdir}` (each "
            "trial then runs in WORKDIR/STUDY/TID)",
            UserWarning,
            stacklevel=3,
        )


class MongoTrials(StoreTrials):
    """hyperopt's ``MongoTrials``: the trials of experiment ``exp_key`` in a database.

    Args:
        arg: ``mongo://[user:password@]host[:port]/database/jobs`` (hyperopt's form);
            any store URL works too (``mongodb://...``, ``sqlite:///path``).
        exp_key: The experiment (study) name; ``"default"`` when None (hyperopt then
            reads every experiment of the database: a warning names them when the
            database holds other studies but no ``"default"``).
        cmd: hyperopt's way for workers to find the objective; accepted and
            unused (workers import it by reference), with a warning unless None or
            hyperopt's default ``("domain_attachment", "FMinIter_Domain")``.
        workdir: hyperopt's directory for the workers to run trials in; unused
            here, with a warning: start the workers with ``hpo-worker --workdir``.
        refresh: Accepted for hyperopt's signature (trials are read on access).
        **options: ``StoreTrials`` options: ``workers``, ``objective``,
            ``override``, ``pruner``.

    Raises:
        ValueError: The URL is malformed.
        StoreConnectionError: The database cannot be reached.
    """

    _hyperopt_worker = True  # its users start workers with --mongo and --exp-key

    def __init__(
        self,
        arg: str,
        exp_key: str | None = None,
        cmd: Any = None,
        workdir: str | None = None,
        refresh: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(arg, exp_key or DEFAULT_EXP_KEY, **options)
        self._exp_key = exp_key
        _warn_unused(cmd, workdir)
        if exp_key is None:
            self._warn_unread_experiments()

    def _warn_unread_experiments(self) -> None:
        """Warn when ``exp_key=None`` meets a database of other studies only: hyperopt
        would read them all, this reads the (missing) study ``"default"``."""
        names = sorted(study.name for study in self.store.list_studies())
        if not names or DEFAULT_EXP_KEY in names:
            return
        shown = ", ".join(map(repr, names[:5])) + (", ..." if len(names) > 5 else "")
        warnings.warn(
            f"MongoTrials without exp_key reads study {DEFAULT_EXP_KEY!r}, which this "
            f"database does not hold (hyperopt's reads every experiment); its studies "
            f"are {shown}: pass one, e.g. exp_key={names[0]!r}",
            UserWarning,
            stacklevel=3,
        )

    @property
    def exp_key(self) -> str | None:
        """The experiment key given to the constructor."""
        return self._exp_key

    def new_trial_ids(self, last_id: int) -> list[int]:
        """The next ``last_id`` tids (hyperopt's ``MongoTrials`` names the count
        so); see :meth:`StoreTrials.new_trial_ids`."""
        return super().new_trial_ids(last_id)

    def view(
        self,
        exp_key: str | None = None,
        cmd: Any = None,
        workdir: Any = None,
        refresh: bool = True,
    ) -> MongoTrials:
        """hyperopt's ``MongoTrials.view``: the trials of experiment ``exp_key`` (this
        one's when None) in the same database.

        Args:
            exp_key: The experiment (study) to read.
            cmd: Accepted for hyperopt's signature (workers import the objective).
            workdir: Accepted for hyperopt's signature (``hpo-worker --workdir``).
            refresh: Accepted for hyperopt's signature (trials are read on access).

        Returns:
            A new ``MongoTrials`` on the same store URL.
        """
        return MongoTrials(self.db_url, self._exp_key if exp_key is None else exp_key)

    def __getattr__(self, name: str) -> Any:
        """Say what replaces hyperopt's ``handle`` (only attributes not found)."""
        if name == "handle":
            raise AttributeError(
                "MongoTrials has no `handle` (hyperopt's MongoJobs, its pymongo "
                "collections): this store keeps trials in its own layout; read "
                "them with `trials.trials` or `hpo-driver trials --format json`, or "
                "open the store with hpo_service.store.open_store(url)"
            )
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {name!r}"
        )
