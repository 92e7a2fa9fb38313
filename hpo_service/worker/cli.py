"""``hpo-worker``: claim and run trials from a store until told or timed out to stop."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import shlex
import signal
import sys
import time
from collections.abc import Iterator
from typing import IO, Any, NoReturn

import click
from click.core import ParameterSource

from hpo_service._common.foreign_options import raise_naming_ours
from hpo_service._common.logs import configure as configure_logging
from hpo_service._common.stop_signals import (
    StopRequested,
    handling,
    noted,
    pause_point,
    raised,
)
from hpo_service._common.words import counted
from hpo_service.exceptions import ObjectiveImportError, StoreError, WorkerError
from hpo_service.store import BaseTrialStore
from hpo_service.store._cli_option import (
    ERRORS_LISTED,
    MissingStoreError,
    NumberRange,
    UnreachableStoreError,
    db_flag,
    db_option,
    masked_note,
    reach_store,
    store_place,
    study_not_found,
    wait_for_store_option,
)
from hpo_service.store._url import mask_url
from hpo_service.worker._entry import WORKER_SIGNALS
from hpo_service.worker._hyperopt_options import hyperopt_worker_options
from hpo_service.worker._lifeline import stop_with_driver
from hpo_service.worker._loop import (
    DEFAULT_POLL_INTERVAL,
    WorkerSummary,
    run_worker,
    worker_owner,
)
from hpo_service.worker._policy import ObjectivePolicy

EXIT_CANNOT_RUN = 3
"""Exit code when the worker cannot run the objective at all (nothing was burnt)."""

_MISSING_NOTE_SECONDS = 60.0
_MISSING_POLL_SECONDS = 0.5

_logger = logging.getLogger(__name__)


class _Command(click.Command):
    """The worker's command; an unknown option that is Optuna's names ours, and
    every line of a named worker's click error carries its name (see
    :class:`_NamedError`), a usage error met while parsing its options too."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse ``args``; a usage error names the worker when ``args`` do."""
        given = list(args)  # click's parser consumes the list
        try:
            try:
                return super().parse_args(ctx, args)
            except click.NoSuchOption as e:
                raise_naming_ours(e, self)
        except click.ClickException as e:
            name = ctx.params.get("worker_id") or _worker_id_in(given)
            if not name:
                raise
            raise _NamedError(e, name) from e

    def invoke(self, ctx: click.Context) -> Any:
        """Run the worker; a click error shows the worker's name if it has one."""
        try:
            return super().invoke(ctx)
        except click.ClickException as e:
            name = ctx.params.get("worker_id")
            if not name:
                raise
            raise _NamedError(e, name) from e


def _worker_id_in(args: list[str]) -> str | None:
    """The ``--worker-id`` of a command line that click could not parse (its last
    one, as click keeps), or None: the option that failed may come before it."""
    name = None
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--worker-id" and i + 1 < len(args):
            name = args[i + 1]
        elif arg.startswith("--worker-id="):
            name = arg.partition("=")[2]
    return name or None


def _named(text: str, worker_id: str | None) -> str:
    """``text`` (an error, one or more lines) as a named worker prints it: each
    line that is not blank starts ``[NAME] ``, as its log lines do (``--workers K``
    names its workers ``w1``..``wK``); unchanged without a name."""
    if not worker_id:
        return text
    return re.sub(r"^(?=.)", f"[{worker_id}] ", text, flags=re.M)


class _NamedError(click.ClickException):
    """A click error whose every line names the worker, as its log lines do: the
    workers of one ``hpo-driver start --workers K`` share its terminal.

    Args:
        error: The error as raised (its exit code and output are kept).
        worker_id: The worker's name (``--worker-id``).
    """

    def __init__(self, error: click.ClickException, worker_id: str) -> None:
        super().__init__(error.message)
        self.exit_code = error.exit_code
        self._error = error
        self._worker_id = worker_id

    def show(self, file: IO[Any] | None = None) -> None:
        """What ``error.show`` writes (a usage error's ``Usage:`` and hint lines
        too), each line starting ``[NAME] ``."""
        shown = io.StringIO()
        self._error.show(shown)
        text = _named(shown.getvalue(), self._worker_id)
        click.echo(text, file=file, err=file is None, nl=False)


_HELP = """Claim queued trials, run the study's objective on each in a child process
and record the results.

The objective (``package.module:function``, from the study's settings) is
imported with the working directory on the import path. SIGTERM, SIGHUP or
Ctrl-C finishes the current trial and exits (under nohup SIGHUP is ignored); a
second one kills the objective, hands the trial back and exits. SIGUSR1 (as for
hyperopt-mongo-worker) finishes the current trial and exits, however often sent.

\b
Exit codes:
  0  stopped by itself (--idle-timeout, its study finished, --max-trials,
     --last-job-timeout) or by a signal, with its store and study found
  1  an error: the store unreachable or refusing this user, the last
     --max-consecutive-failures trials in error, or its database or --study
     (without --study: any study) never found while it ran, however it
     stopped (a typo in --db or --study must not look like success)
  2  bad usage (an unknown option or a bad value)
  3  it cannot run the objective: it cannot be imported, its process cannot
     start, or this worker does not run it (--objective, --allow-module); the
     trial is handed back untouched
  128+N  stopped by signal N (130 Ctrl-C, 143 SIGTERM) before its store
     answered (a connect attempt is cut short)

Each trial runs with its study's settings as read right after its claim. The
study's budget holds without a driver too: a trial claimed into a study that
already finished --max-evals trials is cancelled, not run (`hpo-driver trials`
shows why), with the study's other queued trials.

hyperopt-mongo-worker's options (--mongo, --exp-key, --max-jobs,
--reserve-timeout, --max-consecutive-failures, --last-job-timeout, --workdir,
--no-subprocesses) are accepted with the same meanings, and given --mongo or
--exp-key its defaults too: exit after 120 s without a trial and after 4
trials in a row in error.
"""
"""``hpo-worker --help``: what the worker does, its signals and exit codes."""


@click.command(
    cls=_Command,
    help=_HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@db_option
@click.option(
    "--study", default=None, help="Run only this study's trials [default: any study]."
)
@click.option(
    "--max-trials",
    type=click.IntRange(min=1),
    default=None,
    help="Exit after running this many trials [default: no limit].",
)
@click.option(
    "--idle-timeout",
    type=NumberRange(min=0),
    default=None,
    help="Exit after this many seconds with nothing to run (0: as soon as nothing "
    "is queued, where hyperopt's --reserve-timeout 0 waits for ever); time the "
    "store fails (it cannot be asked) does not count [default: never].",
)
@wait_for_store_option(
    " Not for SQLite: a file that cannot be opened is a wrong path or permissions "
    "and fails at once, and a missing database is waited for until --idle-timeout, "
    "as a worker started before its driver needs."
)
@click.option(
    "--poll-interval",
    type=NumberRange(min=0, min_open=True),
    default=DEFAULT_POLL_INTERVAL,
    show_default=True,
    help="Pause (seconds) between the first polls of an empty queue; grows to 2 s. "
    "Right after a trial the worker polls sooner (1/16 of it, doubling).",
)
@click.option(
    "--worker-id",
    default=None,
    metavar="NAME",
    help="A name for this worker: its log lines show it, and the owner id of its "
    "trials starts with it (NAME/hostname:pid:uuid, and on Linux the process "
    "identity that proves its death) [default: no name].",
)
@click.option(
    "--objective",
    "objectives",
    multiple=True,
    envvar="HPO_WORKER_OBJECTIVES",
    metavar="REF",
    help="Run only studies whose objective is REF, package.module:function "
    "(repeatable; env HPO_WORKER_OBJECTIVES, space-separated). Recommended on "
    "clusters: whoever can write the store otherwise chooses the code this worker "
    "runs.",
)
@click.option(
    "--allow-module",
    "allow_modules",
    multiple=True,
    envvar="HPO_WORKER_ALLOW_MODULES",
    metavar="PREFIX",
    help="Run only objectives of module PREFIX or its submodules (repeatable; env "
    "HPO_WORKER_ALLOW_MODULES). Without --objective or --allow-module any objective "
    "runs except the standard library's.",
)
@click.option(
    "--objective-output/--no-objective-output",
    "show_output",
    default=True,
    show_default=True,
    help="Show what the objective prints (stdout and stderr) on this worker's "
    "standard error as it runs, each line prefixed [trial STUDY/TID]. The last "
    "10 kB are kept with each trial either way (`hpo-driver trials --format json`).",
)
@hyperopt_worker_options
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages too.")
@click.version_option(package_name="hpo-service")
@click.option("-q", "--quiet", is_flag=True, help="Log warnings and errors only.")
def main(
    db_url: str,
    study: str | None,
    max_trials: int | None,
    idle_timeout: float | None,
    wait_for_store: float,
    poll_interval: float,
    worker_id: str | None,
    objectives: tuple[str, ...],
    allow_modules: tuple[str, ...],
    show_output: bool,
    verbose: bool,
    quiet: bool,
    **hyperopt_options: Any,
) -> None:
    """``hpo-worker``: claim queued trials of the store at ``db_url`` and run them
    until told or timed out to stop (see :data:`_HELP`, its ``--help``, for the
    options, signals and exit codes).

    Raises:
        click.ClickException: See :func:`_opened_store` and :func:`_run_trials`;
            or ``--max-consecutive-failures`` trials in a row ended in error.
        SystemExit: :data:`EXIT_CANNOT_RUN` (see :func:`_run_trials`).
    """
    owner, label = worker_owner(worker_id)
    _log_to_stderr(label, verbose=verbose, quiet=quiet)
    stop_with_driver()
    store = _opened_store(db_url, study, idle_timeout, wait_for_store, worker_id)
    if store is None:  # stopped by a signal as it opened
        return
    summary = _run_trials(
        store,
        db_url,
        study,
        worker_id,
        max_trials=max_trials,
        idle_timeout=idle_timeout,
        poll_interval=poll_interval,
        owner=owner,
        policy=ObjectivePolicy(objectives, allow_modules),
        show_output=show_output,
        **hyperopt_options,
    )
    if summary.stop_reason == "max_consecutive_failures":
        limit = hyperopt_options["max_consecutive_failures"]
        raise click.ClickException(_failing_trials(summary, db_url, study, limit))


def _log_to_stderr(label: str, *, verbose: bool, quiet: bool) -> None:
    """Log to standard error, each line naming the worker (``label``): debug lines
    too with ``--verbose``, warnings and errors only with ``--quiet``."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    configure_logging(level, stream=sys.stderr, label=label)


def _opened_store(
    db_url: str,
    study: str | None,
    idle_timeout: float | None,
    wait_for_store: float,
    worker_id: str | None,
) -> BaseTrialStore | None:
    """The worker's store, open; None when a stop signal came as it opened (the
    worker then stops before claiming, see :func:`_stop_before_start`).

    Raises:
        SystemExit: 128+signal, when a stop signal came before the store answered
            (see :func:`_stopped_unreached`).
        click.ClickException: The database never appeared within
            ``idle_timeout`` seconds or before a stop signal (a wrong ``--db``
            must not look like success), or (see :func:`_stop_before_start`) the
            study was not found when the signal came.
        UnreachableStoreError: The store did not answer (see :func:`_open_store`).
    """
    with _stop_requests() as stopped:
        try:
            store = _open_store(db_url, idle_timeout, wait_for_store, stopped)
        except StopRequested as e:
            _stopped_unreached(signal.Signals(e.signum).name, db_url, worker_id)
        except UnreachableStoreError:
            if not stopped:
                raise
            _stopped_unreached(stopped[0], db_url, worker_id)
    pause_point("store-opened")  # signals from here on go to the loop (see _entry)
    if isinstance(store, MissingStoreError):
        what = "no study was ever" if study is None else f"study {study!r} was never"
        raise click.ClickException(f"{what} found: {store}")
    if stopped:  # the signal came as the store opened: stop before claiming
        _stop_before_start(store, db_url, study, stopped[0])
        return None
    return store


def _stopped_unreached(
    signal_name: str, db_url: str, worker_id: str | None
) -> NoReturn:
    """Exit 128+signal saying so: a stop signal came while the store did not answer
    (a connect attempt is cut short, as ``hpo-driver start``'s is), so the worker
    claimed nothing. ``signal_name``: ``"SIGTERM"``.

    Raises:
        SystemExit: With code 128+signal.
    """
    said = (
        f"hpo-worker stopped by {signal_name} while opening the store "
        f"{mask_url(db_url)}; it claimed no trial"
    )
    click.echo(_named(said, worker_id), err=True)
    sys.exit(128 + signal.Signals[signal_name])


def _run_trials(
    store: BaseTrialStore,
    db_url: str,
    study: str | None,
    worker_id: str | None,
    **options: Any,
) -> WorkerSummary:
    """Run the worker's loop on ``store`` (:func:`run_worker` with ``options``),
    then close the store.

    Raises:
        SystemExit: Exit code :data:`EXIT_CANNOT_RUN`: the objective cannot run
            (said on standard error, named as the worker's log lines are).
        click.ClickException: The study (any study, without ``study``) was never
            found while the worker ran, however it stopped; or the store failed in
            a way the loop does not ride out.
    """
    try:
        summary = run_worker(
            store, study=study, worker_id=worker_id, db_url=db_url, **options
        )
        if not summary.study_found:  # however it stopped: a signal, a timeout
            raise click.ClickException(_never_found(store, db_url, study))
    except (ObjectiveImportError, WorkerError) as e:
        click.echo(_named(f"Error: {e}", worker_id), err=True)
        sys.exit(EXIT_CANNOT_RUN)
    except StoreError as e:
        raise click.ClickException(str(e)) from e
    finally:
        store.close()
    return summary


def _failing_trials(
    summary: WorkerSummary, db_url: str, study: str | None, limit: int
) -> str:
    """Why a worker stopped after ``limit`` trials in a row ended in error
    (``--max-consecutive-failures``), with the command that lists them."""
    failing = sorted(summary.failing_studies)  # one study, most often
    named = study or (failing[0] if len(failing) == 1 else None)
    return (
        f"{counted(summary.failed, 'trial')} ended in error, the last {limit} in a "
        f"row (--max-consecutive-failures): see "
        f"{_error_trials_command(db_url, named)}"
    )


def _error_trials_command(db_url: str, study: str | None) -> str:
    """The ``hpo-driver trials`` command that lists the error trials: ``--db`` when
    not the default (masked), ``--study`` (``NAME`` for a worker of any study)."""
    name = shlex.quote(study) if study else "NAME"
    text = f"`hpo-driver trials{db_flag(db_url)} --study {name} {ERRORS_LISTED}`"
    if not study:
        text += " (NAME: the study)"
    return text + masked_note(db_url)


def _stop_before_start(
    store: BaseTrialStore, db_url: str, study: str | None, signal_name: str
) -> None:
    """Stop a worker that got a stop signal while its store opened: exit 0 if its
    study (any study, without ``--study``) exists (logged at INFO, as a stop by a
    signal in the loop is), else 1 with a warning (see :func:`_never_found`).
    """
    try:
        names = [s.name for s in store.list_studies()]
        missing = not names if study is None else study not in names
        error = _never_found(store, db_url, study) if missing else None
    except StoreError as e:
        error = str(e)
    finally:
        store.close()
    if error is not None:
        _logger.warning("stopped by %s before claiming a trial", signal_name)
        raise click.ClickException(error)
    # as a signal in the loop: a driver stops its local workers so at a normal end
    _logger.info("stopped by %s before claiming a trial", signal_name)


def _never_found(store: BaseTrialStore, db_url: str, study: str | None) -> str:
    """Why a worker whose study (any study, without ``--study``) never existed
    while it ran failed."""
    flag = _store_flag()
    if study is not None:
        return study_not_found(store, db_url, study, never=True, flag=flag)
    return (
        f"no study was ever found in {store_place(store, db_url)} while this worker "
        f"ran; start one there with `hpo-driver start`, or pass {flag} (or set "
        "HPO_DB) to use another store"
    )


def _store_flag() -> str:
    """The option that names this worker's store as its user gives it: --mongo
    when given, or for an --exp-key worker without --db (hyperopt's form)."""
    context = click.get_current_context(silent=True)
    if context is None:
        return "--db"
    db_given = context.get_parameter_source("db_url") == ParameterSource.COMMANDLINE
    hyperopt_form = context.params.get("exp_key") is not None and not db_given
    return "--mongo" if context.params.get("mongo") or hyperopt_form else "--db"


@contextlib.contextmanager
def _stop_requests() -> Iterator[list[str]]:
    """While the store is not ready yet, SIGTERM, SIGHUP, Ctrl-C and SIGUSR1 are
    noted (the yielded list gets the signal's name) instead of killing the worker,
    so that it can say why it stopped. Signals ignored at start stay ignored."""
    received: list[str] = []

    def note(signum: int, frame: object) -> None:
        received.append(signal.Signals(signum).name)

    with handling(dict.fromkeys(WORKER_SIGNALS, note)):
        yield received


def _open_store(
    db_url: str,
    idle_timeout: float | None,
    wait_for_store: float,
    stopped: list[str],
) -> BaseTrialStore | MissingStoreError:
    """Open the store; wait (saying so now and then) while its database is missing.

    A worker never creates a database: started before ``hpo-driver start`` it waits
    for the driver to create one, and started from the wrong directory it says
    which path it is looking at instead of serving an empty database of its own.

    Args:
        stopped: The stop signals received so far (see :func:`_stop_requests`).

    Returns:
        The store, or the last error if ``idle_timeout`` seconds passed, or a stop
        signal came, without a database.

    Raises:
        UnreachableStoreError: The store did not answer within ``wait_for_store``
            seconds, or before a stop signal (see :func:`reach_store`).
    """
    started = time.monotonic()
    next_note = started
    while True:
        try:
            with raised(WORKER_SIGNALS):  # a signal cuts a connect attempt short
                return reach_store(db_url, wait_for_store, stopped, _logger)
        except MissingStoreError as e:
            now = time.monotonic()
            if idle_timeout is not None and now - started >= idle_timeout:
                _logger.warning(
                    "stopped after --idle-timeout %s s: %s", idle_timeout, e
                )
                return e
            if stopped:
                _logger.warning("stopped by %s: %s", stopped[0], e)
                return e
            if now >= next_note:
                _logger.warning("%s; waiting for it to be created", e.message)
                next_note = now + _MISSING_NOTE_SECONDS
            time.sleep(_MISSING_POLL_SECONDS)


if __name__ == "__main__":  # pragma: no cover
    with noted(WORKER_SIGNALS):
        main()
