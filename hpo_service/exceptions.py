"""Errors raised by hpo-service. Every error derives from :class:`HPOServiceError`.

hyperopt's exception names (``BadSearchSpace``, ``DuplicateLabel``, ``InvalidTrial``,
``InvalidResultStatus``, ``InvalidLoss``, ``AllTrialsFailed``,
``InvalidAnnotatedParameter``) are here too, with the same base classes, so that
``except hyperopt.exceptions.X`` code keeps working after the import changes.
"""

from __future__ import annotations

import os
import sys
import sysconfig
import traceback
from types import FrameType

_LIBRARY_PATHS = ("stdlib", "platstdlib", "purelib", "platlib")
#: hpo-service's own folder (with a final separator), as code objects name files
_OWN = os.path.join(os.path.dirname(os.path.realpath(__file__)), "")
#: the standard library's top-level modules: never the space's own package
_STDLIB_PACKAGES = frozenset(sys.stdlib_module_names) | {"builtins"}
#: folders (with a final separator) whose code is not the user's: hpo-service's
#: own, the standard library's and the installed packages'
_NOT_USERS = tuple(
    os.path.join(os.path.realpath(p), "")
    for p in {os.path.dirname(__file__)}
    | {sysconfig.get_paths()[k] for k in _LIBRARY_PATHS}
)


def _is_users(filename: str) -> bool:
    """Whether ``filename`` (a code object's) is the user's own code: not
    hpo-service's, not an installed package's (site-packages, dist-packages),
    not the standard library's (nor its frozen modules, ``<frozen os>``)."""
    if filename.startswith("<frozen "):
        return False
    path = os.path.realpath(filename)
    parts = path.split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    return not path.startswith(_NOT_USERS)


def _package(frame: FrameType) -> str:
    """The top-level package of ``frame``'s module (``"mypkg"`` of
    ``mypkg.spaces``), or ``""``."""
    return str(frame.f_globals.get("__name__") or "").partition(".")[0]


def _called_package(frames: list[tuple[FrameType, int]]) -> str | None:
    """The top-level package of the first function that hpo-service's code called
    in ``frames`` (outermost first): the space's own function, whoever installed
    it; None when there is none (hpo-service's code raised)."""
    ours = False
    for frame, _ in frames:
        if os.path.realpath(frame.f_code.co_filename).startswith(_OWN):
            ours = True
        elif ours and _package(frame) not in _STDLIB_PACKAGES:
            return _package(frame) or None
    return None


class HPOServiceError(Exception):
    """Base class of every error that hpo-service raises on purpose."""


class SpaceError(HPOServiceError, ValueError):
    """A search space is malformed (bad bounds, duplicate labels, empty choice, ...)."""


class BadSearchSpace(SpaceError):
    """Something is wrong in the description of the search space (hyperopt's name)."""


class DuplicateLabel(BadSearchSpace):
    """Two different expressions of a search space share one label."""


class SpaceCodeError(SpaceError):
    """The user's own code in a search space (a ``scope``-decorated function, a
    callable of the space) raised while making the config of a point: e.g. a
    division by zero for some sampled values. The original error is the
    ``__cause__``.

    Attributes:
        params: The point (label -> value) whose config the space could not make.
        error: What the space's code raised.
        point: ``"sampled point"`` (the search algorithm's) or ``"point"`` (one
            given by the user).
    """

    def __init__(
        self,
        params: dict[str, object],
        error: BaseException,
        *,
        point: str = "sampled point",
        space: str | None = None,
    ) -> None:
        self.params, self.error, self.point = params, error, point
        name = "the space" if space is None else f"the space {space}"
        super().__init__(
            f"{name} raised {type(error).__name__} for the {point} {params!r:.300}: "
            f"{error!s:.300}"
        )

    def where(self) -> str:
        """Where the space's code raised, as ``" (in FUNCTION at FILE:LINE)"``, or
        ``""`` when unknown: the innermost frame of the original error that is in
        the user's code, so a library the space called (``math.log``, numpy) is not
        named; the innermost frame when no frame is the user's.

        The user's code is that of the package whose function hpo-service called
        (the ``scope`` function: its top-level package, wherever it is installed,
        site-packages included), and any file outside hpo-service, the standard
        library and the installed packages."""
        frames = list(traceback.walk_tb(self.error.__traceback__))
        if not frames:
            return ""
        package = _called_package(frames)
        users = [
            (f, line)
            for f, line in frames
            if _is_users(f.f_code.co_filename) or _package(f) == package
        ]
        frame, line = (users or frames)[-1]
        code = frame.f_code
        return f" (in {code.co_name} at {code.co_filename}:{line})"

    def naming(self, space: str) -> SpaceCodeError:
        """The same error, naming the space (its import path, ``--space``'s)."""
        named = SpaceCodeError(self.params, self.error, point=self.point, space=space)
        named.__cause__ = self.error
        return named


class StoreError(HPOServiceError):
    """The trials store failed or refused an operation."""


class StoreConnectionError(StoreError, ConnectionError):
    """The store could not be reached within the allowed time."""


class StoreTransientError(StoreError):
    """The store failed in a way that may pass if the call is retried later: a
    database locked by another process, a full disk, a disk I/O error (SQLite); a
    primary stepping down, a node shutting down, a write concern not met, a full
    disk (MongoDB). Drivers and workers retry these; any other :class:`StoreError`
    ends them with its message, as waiting cannot fix it."""


class StoreNotFoundError(StoreError):
    """The store's database does not exist, and the caller asked not to create it."""


class StoreAuthorizationError(StoreError):
    """The store refused an operation to this user: no right to write (a MongoDB
    user without ``readWrite``, a read-only SQLite file or filesystem), or no user
    on a server that needs one. Waiting cannot fix it, so nothing retries it.

    Attributes:
        user: Who was refused: the URL's MongoDB user (None without one), or the
            operating-system user for SQLite.
        database: The database (MongoDB) or file (SQLite) refused.
        operation: The store operation refused (``claim``, ``complete``, ...).
    """

    def __init__(
        self, message: str, *, user: str | None, database: str, operation: str
    ) -> None:
        super().__init__(message)
        self.user, self.database, self.operation = user, database, operation


class StoreLostError(StoreError):
    """The store's database vanished or was replaced while this process used it."""


class UnstorableError(StoreError, ValueError):
    """The store cannot hold a value: too large for one record (MongoDB: 16 MiB a
    document), or of a kind its format lacks (MongoDB: integers beyond 64 bits).
    Nothing was written; a worker records the trial as an error with this reason."""


class StudyNotFoundError(StoreError, KeyError):
    """No study of that name exists in the store."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class StudyExistsError(StoreError, ValueError):
    """A study of that name already exists."""


class TrialNotFoundError(StoreError, KeyError):
    """No trial with that id exists in the study."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class SettingRecordedError(HPOServiceError):
    """A conditional write was refused: the study's setting ``key`` holds ``value``
    (``complete(..., unless_setting=key)``; nothing was written, the attempt still
    runs). Not a store failure: the caller records the outcome another way.

    Attributes:
        key: The setting's name (``"n_constraints"``).
        value: The value it holds in the store.
    """

    def __init__(self, key: str, value: object) -> None:
        super().__init__(f"the study's setting {key!r} is recorded: {value!r}")
        self.key = key
        self.value = value


class StudyMismatchError(HPOServiceError, ValueError):
    """A resumed study was started with a different space, objective or algorithm."""


class StudyWithoutSpaceError(HPOServiceError, ValueError):
    """The study has no search space yet (``hpo-driver import --create`` made it
    from imported trials): suggesting or queueing points needs one, given by
    ``hpo-driver start --space`` or ``fmin(fn, space, trials=StoreTrials(...))``.

    Attributes:
        study: The study's name.
        missing: The flags still to give (``["--space", "--objective"]``).
    """

    def __init__(self, study: str, missing: list[str]) -> None:
        self.study = study
        self.missing = missing
        super().__init__(self.text("hpo-driver start --study " + repr(study)))

    def text(self, start: str) -> str:
        """The message, naming ``start`` (the command that starts the study, as
        the user types it) as the way to give what is missing."""
        return (
            f"study {self.study!r} has no search space yet (`hpo-driver import "
            "--create` made it from imported trials): to run or queue trials give "
            f"{', '.join(self.missing)}: `{start} --space module:attr --objective "
            "module:function --max-evals N` (from Python: fmin(fn, space, "
            f"max_evals=N, trials=StoreTrials(URL, study={self.study!r}))); every "
            "imported trial is checked against the space"
        )


class DriverLeaseError(HPOServiceError):
    """Another live driver holds the study's driver lease.

    Attributes:
        holder: The id of the driver that holds it, as the store named it when the
            lease was refused; None when the store did not name one yet.
    """

    def __init__(self, message: str, holder: str | None = None) -> None:
        super().__init__(message)
        self.holder = holder


class ObjectiveImportError(HPOServiceError, ImportError):
    """The objective reference ``package.module:function`` could not be imported."""


class AllTrialsFailed(HPOServiceError):
    """Every trial of a study failed, so there is no best trial."""


class MultiObjectiveError(HPOServiceError, ValueError):
    """A single-loss answer (best trial, loss threshold) was asked of a study with
    several objectives, or the reverse."""


class InvalidResultError(HPOServiceError, ValueError):
    """An objective returned something that is not a loss or a valid result dict."""


class InvalidResultStatus(InvalidResultError):
    """A result's ``status`` is not one of ``STATUS_STRINGS`` (hyperopt's name).

    Attributes:
        result: The offending result, when known.
    """

    def __init__(self, message: str, result: object = None) -> None:
        super().__init__(message)
        self.result = result


class InvalidLoss(InvalidResultError):
    """A result's ``loss`` is missing, not a number, or NaN (hyperopt's name).

    Attributes:
        result: The offending result, when known.
    """

    def __init__(self, message: str, result: object = None) -> None:
        super().__init__(message)
        self.result = result


class InvalidTrial(HPOServiceError, ValueError):
    """An object used as a trial document is not one (hyperopt's name)."""

    def __init__(self, message: str, obj: object = None) -> None:
        super().__init__(message if obj is None else f"{message} {obj!r:.200}")
        self.obj = obj


class InvalidAnnotatedParameter(HPOServiceError, ValueError):
    """``fmin(fn, space="annotated")``: a parameter of ``fn`` is not annotated with
    an ``hp`` expression (hyperopt's name)."""


class WorkerError(HPOServiceError, RuntimeError):
    """A worker cannot run trials at all (its objective process does not start)."""


class TrialPruned(HPOServiceError):
    """Raised by an objective to stop its trial early: the trial ends as ``pruned``.

    Raise it when :func:`hpo_service.should_prune` returns True; the trial keeps its
    last reported value (:func:`hpo_service.report`) and counts toward ``max_evals``.
    """


class NoActiveTrialError(HPOServiceError, RuntimeError):
    """``report`` or ``should_prune`` was called outside an objective being run."""


class ObjectiveRefusedError(WorkerError):
    """A worker refused to run a study's objective (see ``hpo-worker --objective``)."""


class SearchExhausted(HPOServiceError):
    """The algorithm has no new point left (a grid search tried every point).

    The study then ends once its running trials finish (reason ``"exhausted"``).
    """
