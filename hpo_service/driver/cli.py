"""``hpo-driver``: start, inspect and cancel studies.

Only ``start`` drives a study: it imports the study loop, the suggestion algorithms,
numpy and the progress bar when it runs (as ``report`` and ``importance`` import
plotting), so that the read commands, ``--help`` and usage errors start quickly
(``tests/test_cli_imports.py``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import logging
import shlex
import signal
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import click

from hpo_service._common import standard_json as _json
from hpo_service._common import trial_rows
from hpo_service._common.closed_pipe import ending_quietly_on_closed_pipe
from hpo_service._common.foreign_options import raise_naming_ours
from hpo_service._common.logs import configure as configure_logging
from hpo_service._common.settings import (
    SEED_LIMIT,
    StudySettings,
    cancelled_error,
    counted_finished,
)
from hpo_service._common.stop_signals import (
    STOP_SIGNALS,
    exiting,
    handling,
    pause_point,
)
from hpo_service._common.words import counted
from hpo_service.driver import _listing, _output, _warm_cli
from hpo_service.driver._algo_options import algo_options, take_algorithm
from hpo_service.driver._lease import LeaseUntilDriving
from hpo_service.driver._pruner_options import pruner_options, take_pruner
from hpo_service.driver._signals import StopSignals
from hpo_service.exceptions import (
    HPOServiceError,
    MultiObjectiveError,
    ObjectiveImportError,
    SpaceCodeError,
    SpaceError,
    StudyNotFoundError,
    StudyWithoutSpaceError,
    TrialNotFoundError,
)
from hpo_service.insight import _cli as _insight_cli
from hpo_service.objective._reference import check_objective, import_reference
from hpo_service.store import BaseTrialStore, TrialState
from hpo_service.store._cli_option import (
    ChoiceFlag,
    MissingStoreError,
    NumberRange,
    StudyOption,
    db_option,
    masked_note,
    open_store_for_cli,
    reach_store,
    store_command,
    study_not_found,
    wait_for_store_option,
)
from hpo_service.store._faults import StoreFaults, ride_out

if TYPE_CHECKING:
    from hpo_service.driver._local_workers import LocalWorkers
    from hpo_service.driver._study_loop import Driver, DriverOptions, StudyOutcome

_logger = logging.getLogger(__name__)


_study_option = click.option(
    "--study", "study", required=True, help="Study name.", cls=StudyOption
)


def _store_command(
    *, create: bool | Callable[[dict[str, Any]], bool]
) -> Callable[..., Any]:
    """Add --db, open the store, pass it as ``store`` and close it afterwards.

    Only ``start`` creates a missing database (``create`` may decide from the
    command's arguments); every other command fails with the path it looked at, so
    a run from the wrong directory never leaves an empty database behind.
    """

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @db_option
        @functools.wraps(command)
        def wrapper(db_url: str, **kwargs: Any) -> Any:
            wait = kwargs.pop("wait_for_store")
            name, study = command.__name__, kwargs.get("study")
            with _ctrl_c_while_starting(name, study), _stops_while(name, study):
                store = _open_store(db_url, kwargs, create, wait)
            pause_point("store-opened")
            try:
                with _ctrl_c_while_starting(command.__name__, kwargs.get("study")):
                    return command(store=store, db_url=db_url, **kwargs)
            except StudyNotFoundError as e:
                raise click.ClickException(
                    study_not_found(store, db_url, kwargs.get("study"))
                ) from e
            except HPOServiceError as e:
                raise click.ClickException(str(e)) from e
            finally:
                store.close()

        return wrapper

    return decorate


@contextlib.contextmanager
def _stops_while(
    command: str, study: str | None, doing: str = "opening the store for"
) -> Iterator[None]:
    """SIGTERM or SIGHUP while ``start`` opens the store (up to --wait-for-store
    seconds for a MongoDB that does not answer yet) or reads its study (retrying a
    store failure that may pass): exit 128+signal saying so, as Ctrl-C does, not a
    silent death (a Kubernetes Job deleted while it waits) nor a signal noted until
    the store answers. A signal ignored at start (nohup) stays ignored; other
    commands keep the default. ``doing`` completes "while ... study NAME"."""
    if command != "start":
        yield
        return

    # SIGTERM and SIGHUP (none on Windows); SIGINT: see _ctrl_c_while_starting
    stops = tuple(signum for signum in STOP_SIGNALS if signum != signal.SIGINT)
    with exiting(stops, lambda name: (
        f"hpo-driver stopped by {name} while {doing} study {study!r}; run the same "
        "command again to start it"
    )):  # fmt: skip
        yield


@contextlib.contextmanager
def _ctrl_c_while_starting(command: str, study: str | None) -> Iterator[None]:
    """Ctrl-C before ``start`` drives its study (opening the store, importing a slow
    objective module): exit 130 saying so, not click's "Aborted!" with status 1;
    also one noted before the block (``hpo_service.driver._entry``: while the
    driver imported its modules, or between two such blocks). Inside, Ctrl-C is
    Python's KeyboardInterrupt. Once driving, ``start`` handles its signals itself
    (see ``StopSignals``)."""
    if command != "start":
        yield
        return
    try:
        with handling({signal.SIGINT: signal.default_int_handler}):
            yield
    except KeyboardInterrupt:
        click.echo(
            f"hpo-driver interrupted (Ctrl-C) while starting study {study!r}; run the "
            "same command again to start it",
            err=True,
        )
        sys.exit(128 + signal.SIGINT)


def _open_store(
    db_url: str,
    args: dict[str, Any],
    create: bool | Callable[[dict[str, Any]], bool],
    wait_for_store: float,
) -> BaseTrialStore:
    """Open the store, waiting up to ``wait_for_store`` seconds for a MongoDB server
    that does not answer yet; a missing database is created only when ``create``
    allows it and, for ``start``, once the new study's options have passed every
    check."""
    creating = create(args) if callable(create) else create
    try:
        return reach_store(db_url, wait_for_store, [], _logger)
    except MissingStoreError as e:
        if not callable(create):
            raise
        if not creating:  # start without --objective: nothing to resume
            raise click.UsageError(
                "give --objective to start a new study; there is no study "
                f"to resume: {e.message}"
            ) from e
    _check_new_study(dict(args))
    return open_store_for_cli(db_url, create=True)


def _check_new_study(given: dict[str, Any]) -> None:
    """Run ``start``'s option checks for a new study on ``given`` (a copy of the
    command's arguments), so that a bad option, or a missing --space or
    --max-evals, creates no database."""
    from hpo_service.driver._study import check_creatable

    needed = {"objective": given["objective"], "space": given.get("space_ref"),
              "max_evals": given.get("max_evals")}  # fmt: skip
    try:
        check_creatable(given["study"], needed)
    except ValueError as e:
        raise click.UsageError(str(e)) from e
    take_algorithm(given, None)
    take_pruner(given, None)
    given["objective_names"] = _objective_names(given["objective_names"])
    _check_loss_threshold(given, None)


def _with_store(command: Callable[..., Any]) -> Callable[..., Any]:
    """:func:`_store_command` of a command that reads or changes a study (never
    creates a database), with ``--wait-for-store`` (0 by default: one attempt)."""
    return wait_for_store_option(default=0.0)(_store_command(create=False)(command))


class _Group(click.Group):
    """The command group; an unknown option that is Optuna's names ours."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a reader that closed standard output ends it quietly
        (see :func:`ending_quietly_on_closed_pipe`), and Ctrl-C ends it with exit
        130 saying so, as ``start`` and ``dashboard`` do, not click's "Aborted!"
        with status 1 (which a script cannot tell from an error).

        Raises:
            SystemExit: 130 after Ctrl-C.
        """
        try:
            with ending_quietly_on_closed_pipe():
                return super().invoke(ctx)
        except click.NoSuchOption as e:
            raise_naming_ours(e, self)
        except KeyboardInterrupt:
            click.echo(
                f"hpo-driver {ctx.invoked_subcommand} interrupted (Ctrl-C)", err=True
            )
            sys.exit(128 + signal.SIGINT)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Log debug lines too (info and above without it).",
)
@click.version_option(package_name="hpo-service")
def main(verbose: int) -> None:
    """Run hyperparameter studies: a driver fills a trials store with TPE
    suggestions; any number of `hpo-worker` processes run the objective."""
    level = logging.WARNING - 10 * min(verbose + 1, 2)
    configure_logging(level)


def _creates_study(args: dict[str, Any]) -> bool:
    """Whether ``start`` may create the database: only to create a study, whose
    name is then checked before anything is written."""
    if not args.get("objective"):
        return False
    from hpo_service.driver._study import check_study_name

    try:
        check_study_name(args["study"])
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="'--study'") from e
    # bad references and spaces are refused before the database file is created
    _checked_reference("--objective", args["objective"], check_objective)
    if args.get("space_ref"):
        _space_settings(args["space_ref"])
    return True


@main.command()
@_study_option
@click.option("--objective", help="Objective reference, package.module:function.")
@click.option(
    "--space", "space_ref", help="Search space reference, package.module:name."
)
@click.option("--max-evals", type=click.IntRange(min=1), help="Trials to finish.")
@algo_options
@click.option(
    "--seed",
    type=click.IntRange(0, SEED_LIMIT - 1),
    help="Seed of the suggestion sequence [random].",
)
@click.option(
    "--queue-depth",
    type=click.IntRange(min=1),
    help="Trials kept queued [automatic: what finishes before the next refill, >= 1].",
)
@click.option(
    "--lease-seconds",
    type=NumberRange(min=1.0),
    help="Worker lease, renewed by heartbeats [30].",
)
@click.option(
    "--trial-timeout",
    type=NumberRange(min=0.0, min_open=True),
    help="Seconds an objective may run before it is killed.",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(min=1),
    help="Attempts before a trial whose worker died is an error [3].",
)
@click.option(
    "--loss-threshold",
    type=NumberRange(infinite=True),
    help="Stop at a loss this low (of a trial that satisfies its constraints). "
    "Like --timeout and --no-improvement, it applies to this run only: a resume "
    "without it runs on.",
)
@click.option(
    "--timeout",
    type=NumberRange(min=0.0, min_open=True),
    help="Stop suggesting after this many seconds.",
)
@click.option(
    "--no-improvement",
    type=click.IntRange(min=1),
    help="Stop after this many finished trials without a better loss (with several "
    "objectives: none joining the Pareto front; an infeasible trial never improves).",
)
@click.option(
    "--objectives",
    "objective_names",
    help="Names of several objectives, comma-separated (e.g. error,latency_ms); "
    "each result must then return that many losses.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Also run this many local workers.",
)
@click.option(
    "--override",
    is_flag=True,
    help="Resume even if the objective, space or pruner changed (with a new space, "
    "queued trials the new space would not give are cancelled).",
)
@click.option(
    "--stop-grace",
    type=NumberRange(min=0.0),
    default=10.0,
    show_default=True,
    help="Seconds the local workers may take to finish their running trials when "
    "the driver is stopped (SIGTERM, SIGHUP, Ctrl-C); then the trials are handed "
    "back, to run again when the study resumes.",
)
@click.option(
    "--no-progress",
    is_flag=True,
    help="Show no progress: no bar on a terminal, no progress lines elsewhere.",
)
@click.option(
    "--objective-output/--no-objective-output",
    "show_output",
    default=True,
    show_default=True,
    help="Show what the objective prints in the local workers (--workers) on this "
    "terminal, each line prefixed [trial STUDY/TID], as hpo-worker's option of the "
    "same name. The last 10 kB are kept with each trial either way.",
)
@click.option(
    "--catch-space-errors",
    is_flag=True,
    help="A sampled point whose config the space's own code cannot make (a scope "
    "function raising) is recorded as an error trial (type SpaceCodeError) either "
    "way; with this flag the search goes on, without it the start stops with the "
    "error (fmin's catch_eval_exceptions, for the space: objective errors are "
    "always error trials).",
)
@pruner_options
@wait_for_store_option()
@_store_command(create=_creates_study)
def start(
    store: BaseTrialStore,
    db_url: str,
    study: str,
    space_ref: str | None,
    workers: int,
    override: bool,
    no_progress: bool,
    stop_grace: float,
    show_output: bool,
    catch_space_errors: bool,
    **given: Any,
) -> None:
    """Create the study named by --study, or resume it, and run it until it is complete.

    SIGTERM, SIGHUP or Ctrl-C stop it cleanly: the local workers finish or hand back
    their trials, the driver lease is released, and the same command resumes.

    \b
    Exit codes:
      0      the study ended (--max-evals, a stop rule, `hpo-driver cancel`) and
             at least one trial succeeded
      1      an error: no trial succeeded (every one failed, or none feasibly),
             the store unreachable (after --wait-for-store) or refusing this
             user, another live driver runs the study, or --objective or
             --space cannot be imported
      2      bad usage (an unknown option or a bad value)
      128+N  stopped by signal N (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP), also
             while starting; the same command resumes the study
    """
    faults = StoreFaults(f"study {study!r}", "open the study", _logger)
    stored = _stored_settings(store, study, faults)
    _complete_given(given, stored)
    space = _given_space(given, space_ref)
    options = _start_options(
        db_url, study, given, stored, workers=workers, progress=not no_progress
    )
    options = dataclasses.replace(options, catch_eval_exceptions=catch_space_errors)
    with LeaseUntilDriving(store, study, options.owner) as lease:
        settings, created = _open_for_start(
            store, db_url, study, given, override=override, options=options,
            faults=faults, on_lease=lease.taken,
        )  # fmt: skip
        try:
            _drive_opened(
                store, db_url, study, settings, created, space, options, lease,
                workers=workers, stop_grace=stop_grace, show_output=show_output,
            )  # fmt: skip
        except SpaceCodeError as e:  # recorded as an error trial; lease given back
            if space_ref is None:
                shown = _stored_space_raised(e, study, settings)
                raise click.ClickException(f"{shown}. {_SPACE_RAISED}") from e
            raise click.ClickException(
                f"{e.naming(space_ref)}{e.where()}. {_SPACE_RAISED}"
            ) from e


#: What ``start`` adds when a sampled point's config raised in the space's code
#: (the point is an error trial by then): that it was recorded, and the flag that
#: searches on past such points (without it, nothing said the flag exists).
_SPACE_RAISED = (
    "The point is recorded as an error trial; --catch-space-errors records such "
    "points and searches on"
)


def _stored_space_raised(
    error: SpaceCodeError, study: str, settings: StudySettings
) -> str:
    """What ``start`` without ``--space`` says when the space stored with the
    study raised: which code it imported for it (the stored ``scope``
    functions' ``module:qualname``), and that ``--space`` gives the space from
    the user's code instead."""
    from hpo_service.space._serialise import code_references

    refs = code_references(settings.space)
    code = (
        f" (its code imported from {', '.join(refs)})"
        if refs
        else " (it calls no scope function: the error is in its own arithmetic)"
    )
    named = error.naming(f"stored with study {study!r}{code}")
    return (
        f"{named}{error.where()}. Without --space a resumed start runs the space "
        "stored at the study's first start; fix that code, or pass --space "
        "module:attr to give the space from your code (with --override if it "
        "differs from the stored one)"
    )


def _stored_settings(
    store: BaseTrialStore, study: str, faults: StoreFaults
) -> StudySettings | None:
    """The settings of study ``study``, None if it is new: store failures that may
    pass are ridden out (SIGTERM or SIGHUP meanwhile ends the command)."""

    def read() -> StudySettings | None:
        try:
            return StudySettings.from_dict(store.get_study(study).settings)
        except StudyNotFoundError:
            return None

    with _stops_while("start", study, "reading the store for"):
        return ride_out(read, faults)


def _complete_given(given: dict[str, Any], stored: StudySettings | None) -> None:
    """Turn ``start``'s flags in ``given`` into study settings (the algorithm and
    pruner, kept from ``stored`` when not given; the objective names checked), and
    refuse --loss-threshold for several objectives before anything is written."""
    take_algorithm(given, None if stored is None else stored.algorithm)
    take_pruner(given, _stored_pruner(stored))
    given["objective_names"] = _objective_names(given["objective_names"])
    given["started_by"] = "hpo-driver"  # advice then names flags (started_in_python)
    _check_loss_threshold(given, stored)


def _start_options(
    db_url: str,
    study: str,
    given: dict[str, Any],
    stored: StudySettings | None,
    *,
    workers: int,
    progress: bool,
) -> DriverOptions:
    """``start``'s driver options: progress, local workers, and the hints it gives
    (how to start a worker for the given or stored objective; where errors are)."""
    from hpo_service.driver._study_loop import DriverOptions
    from hpo_service.driver._worker_hint import errors_hint

    objective = given.get("objective") or (stored.objective if stored else None)
    return DriverOptions(
        progress=progress,
        local_workers=workers,
        worker_hint=_worker_hint(db_url, study, objective),
        override_flag="--override",
        errors_hint=errors_hint(db_url, study),
    )


def _drive_opened(
    store: BaseTrialStore,
    db_url: str,
    study: str,
    settings: StudySettings,
    created: bool,
    space: Any,
    options: DriverOptions,
    lease: LeaseUntilDriving,
    *,
    workers: int,
    stop_grace: float,
    show_output: bool,
) -> None:
    """``start`` once its study is open and leased: start the local workers, drive
    the study (:func:`_drive`) and report how it ended."""
    from hpo_service.driver._local_workers import LocalWorkers
    from hpo_service.driver._study import study_space
    from hpo_service.driver._study_loop import Driver

    space = study_space(settings, study) if space is None else space
    click.echo(f"{'created' if created else 'resuming'} study {study!r}", err=True)
    if note := _output.pruner_objectives_note(settings):
        click.echo(note, err=True)
    # what a command to resume must repeat: the local workers, the run's stop rules
    # and --catch-space-errors (the store keeps none of them)
    resume_flags = _output.local_worker_flags(workers, show_output)
    resume_flags += _output.stop_rule_flags(settings)
    resume_flags += " --catch-space-errors" if options.catch_eval_exceptions else ""
    local_workers = LocalWorkers(
        0 if _spent(store, study, settings) else workers,
        db_url,
        study,
        objective=settings.objective,
        stop_grace=stop_grace,
        show_output=show_output,
    )

    def driver(local: LocalWorkers) -> Driver:
        stop = _failing_workers(local)
        lease.driver = Driver(
            store, study, settings, space, options=options, should_stop=stop
        )
        return lease.driver

    def hint(how: str) -> str:
        return _output.resume_hint(study, how, db_url, store, resume_flags)

    outcome = _drive(driver, local_workers, hint)
    _report_outcome(study, outcome, db_url, resume_flags)


def _spent(store: BaseTrialStore, study: str, settings: StudySettings) -> bool:
    """Whether ``study`` already finished its ``--max-evals`` trials: a resumed
    study with nothing more to run, for which ``start`` starts no local worker."""
    budget = settings.max_evals
    if budget is None:
        return False
    return counted_finished(store.count_by_state(study)) >= budget


def _open_for_start(
    store: BaseTrialStore,
    db_url: str,
    study: str,
    given: dict[str, Any],
    *,
    override: bool,
    options: DriverOptions,
    faults: StoreFaults,
    on_lease: Callable[[], object],
) -> tuple[StudySettings, bool]:
    """``start``'s :func:`~hpo_service.driver._study.open_driven_study`: store
    failures that may pass are ridden out (SIGTERM or SIGHUP meanwhile ends the
    command, saying so), and a refusal is a usage error saying what to give.
    ``on_lease`` is called once the driver lease is taken.

    Returns:
        The study's settings and whether it was created.

    Raises:
        click.UsageError: The study cannot be created or resumed with ``given``
            (a study made by an import: the flags and the command to type).
    """
    from hpo_service.driver._study import open_driven_study

    made: list[bool] = []  # a retried attempt resumes the study an earlier made
    try:
        with _stops_while("start", study, "reading the store for"):
            settings, created = ride_out(
                lambda: open_driven_study(
                    store, study, given, override=override, options=options,
                    on_create=lambda: made.append(True), on_lease=on_lease,
                ),
                faults,
            )  # fmt: skip
            pause_point("study-opened")  # a test's hook: a signal once it is leased
            return settings, created or bool(made)
    except StudyWithoutSpaceError as e:  # made by an import: say how to go on
        start = store_command("hpo-driver start", db_url, study)
        raise click.UsageError(e.text(start) + masked_note(db_url)) from e
    except ValueError as e:
        raise click.UsageError(str(e)) from e


def _drive(
    make_driver: Callable[[LocalWorkers], Driver],
    local_workers: LocalWorkers,
    resume_hint: Callable[[str], str],
) -> StudyOutcome:
    """Run the driver ``make_driver`` makes for the running ``local_workers``,
    stopping cleanly on SIGTERM, SIGHUP or Ctrl-C: then print ``resume_hint(how it
    stopped)`` and exit 128+signal (a second signal stops it at once).

    Returns:
        How the study ended, when no signal stopped it.
    """
    signals = StopSignals()
    try:
        with signals, local_workers as local:
            driver = make_driver(local)
            driver.attach_local_workers(local)
            signals.on_stop(driver.interrupt)
            outcome = driver.run()
    except KeyboardInterrupt:
        second = signals.second
        how = f"stopped at once by a second {second.name}" if second else "interrupted"
        click.echo(resume_hint(how), err=True)
        sys.exit(128 + (second or signal.SIGINT))
    if signals.received is not None:
        click.echo(resume_hint(f"stopped by {signals.name}"), err=True)
        sys.exit(128 + signals.received)
    return outcome


def _worker_hint(db_url: str, study: str, objective: str | None) -> str:
    """How to start a worker for the study, said while its trials wait for one:
    ``"`hpo-worker --db URL --study S --objective MOD:FUNC`, or pass --workers K"``
    (the URL's password masked; ``--objective`` as the README asks of cluster
    workers, when the study's objective is known)."""
    command = store_command("hpo-worker", db_url, study)
    if objective:
        command += " --objective " + shlex.quote(objective)
    return f"`{command}`, or pass --workers K{masked_note(db_url)}"


def _objective_names(text: str | None) -> list[str] | None:
    """The names ``--objectives`` gives, checked (see ``check_objective_names``)."""
    from hpo_service.trials import check_objective_names

    try:
        return check_objective_names(text)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="'--objectives'") from e


def _check_loss_threshold(given: dict[str, Any], stored: StudySettings | None) -> None:
    """Refuse --loss-threshold for several objectives before the study is written
    (from --objectives, else the stored count; a count first known from a result is
    refused by the driver)."""
    from hpo_service.driver._serial import check_loss_threshold

    names = given.get("objective_names")
    count = len(names) if names else (stored.n_objectives if stored else None)
    try:
        check_loss_threshold(given.get("loss_threshold"), count, cli=True)
    except MultiObjectiveError as e:
        raise click.UsageError(str(e)) from e


def _stored_pruner(settings: StudySettings | None) -> tuple[str, dict[str, Any]] | None:
    """The pruner name and settings of a stored study, or None for a new one."""
    return None if settings is None else (settings.pruner, settings.pruner_settings)


def _report_outcome(study: str, outcome: Any, db_url: str, resume_flags: str) -> None:
    """Print how the study ended; exit 1 if no trial succeeded (``resume_flags``: the
    local-worker options and stop rules a command to resume it repeats)."""
    click.echo(_output.outcome_text(study, outcome, db_url))
    if outcome.best is None:
        text = _output.no_success_text(study, outcome, db_url, resume_flags)
        raise click.ClickException(text)


def _given_space(given: dict[str, Any], space_ref: str | None) -> Any:
    """Import the space and check the objective's module exists; fill ``given``."""
    if given.get("objective"):
        unchecked = _checked_reference(
            "--objective", given["objective"], check_objective
        )
        if unchecked:
            _logger.warning(
                "could not check --objective %s here (%s); workers will import it",
                given["objective"], unchecked,
            )  # fmt: skip
    if space_ref is None:
        return None
    space, settings = _space_settings(space_ref)
    _warn_if_constant(space_ref, space)
    given.update(settings)
    return space


def _space_settings(space_ref: str) -> tuple[Any, dict[str, Any]]:
    """Import the space ``--space`` names and serialise it (a study setting)."""
    from hpo_service.driver._study import space_settings

    space = _checked_reference(
        "--space", space_ref, functools.partial(import_reference, kind="space")
    )
    if inspect.isroutine(space) or inspect.isclass(space):  # the objective, say
        kind = "a class" if inspect.isclass(space) else "a function"
        raise click.ClickException(
            f"space {space_ref!r} must be a search space (hp expressions in a dict, "
            f"list or tuple), but got {kind}"
        )
    try:
        settings = space_settings(space)
    except SpaceError as e:
        raise click.ClickException(f"invalid space {space_ref!r}: {e}") from e
    return space, settings


def _warn_if_constant(space_ref: str, space: Any) -> None:
    """Warn when ``space`` holds no ``hp`` expression (``--space`` naming a dict of
    defaults, say): hyperopt takes such a space too, but every trial then gets the
    same config, which nothing else would tell the user."""
    from hpo_service.space._compile import compile_space

    if not list(compile_space(space)):
        _logger.warning(
            "space %r holds no hp expression: every trial gets the same config, "
            "%.60r; name a space of hp.* parameters to search",
            space_ref, space,
        )  # fmt: skip


def _checked_reference(option: str, reference: str, load: Callable[[str], Any]) -> Any:
    """``load(reference)``; a malformed reference is a usage error of ``option``."""
    try:
        return load(reference)
    except ObjectiveImportError as e:
        raise click.ClickException(str(e)) from e
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint=f"'{option}'") from e


def _failing_workers(local: LocalWorkers) -> Callable[[], str | None]:
    def check() -> str | None:
        local.check()
        return None

    return check


@main.command()
@_study_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_with_store
def status(store: BaseTrialStore, db_url: str, study: str, as_json: bool) -> None:
    """Counts by state, the pruner and what it did (per rung, with how many passed),
    the driver, the workers running trials (lease ages) and the best trial."""
    summary = _output.status_summary(store, study, db_url)
    shown = _output.status_text(summary, db_url)
    click.echo(_json.dumps(summary, indent=2) if as_json else shown)


@main.command()
@_study_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_with_store
def best(store: BaseTrialStore, db_url: str, study: str, as_json: bool) -> None:
    """The best trial: loss, params and config; with several objectives, every
    trial on the Pareto front (non-dominated, constraints satisfied)."""
    names = trial_rows.objective_names(store, study)
    if names is not None:
        front = _output.pareto_trials(store, study)
        records = [trial_rows.trial_record(t) for t in front]
        if not records:
            what = "feasible" if _output.has_success(store, study) else "successful"
            raise click.ClickException(_output.no_best_text(store, study, db_url, what))
        text = _output.front_text(records, names)
        click.echo(_json.dumps(records, indent=2) if as_json else text)
        return
    trial = _output.best_trial(store, study)
    if trial is None:
        raise click.ClickException(_output.no_best_text(store, study, db_url))
    record = trial_rows.trial_record(trial)
    old = _output.old_space_of(store, study, trial)
    if as_json:
        record["before_override"] = None if old is None else old.to_dict()
        click.echo(_json.dumps(record, indent=2))
        return
    shown = _output.best_text(record)
    click.echo(shown if old is None else f"{shown}\n{old.note()}")


@main.command()
@_study_option
@click.option(
    "--format",
    "fmt",
    type=ChoiceFlag(["csv", "json"]),
    default="csv",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--state",
    "states",
    multiple=True,
    type=ChoiceFlag([s.value for s in TrialState]),
    help="Only trials in this state (repeatable).",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=ChoiceFlag(["ok", "fail"]),
    help="Only done trials whose objective returned this status (repeatable); "
    "`--status fail` lists the trials that reported a failure.",
)
@_with_store
def trials(
    store: BaseTrialStore,
    db_url: str,
    study: str,
    fmt: str,
    states: tuple[str, ...],
    statuses: tuple[str, ...],
) -> None:
    """Every trial of the study, as CSV or JSON on standard output.

    CSV times are ISO 8601 (UTC); a choice parameter has its option index in
    ``param.LABEL`` and the chosen option in ``param.LABEL.value``; each extra key
    of a result has a ``result.KEY`` column (a list or dict as JSON text), each
    constraint a ``constraint.I`` column, and ``feasible`` is True for a
    successful trial whose every constraint is <= 0, False for any other. With
    --state or --status the CSV keeps the columns of the whole study and shows
    only the trials asked for (SQLite reads only those and gathers the columns
    in the database; MongoDB reads the study once, in one query). JSON is
    standard JSON: a non-finite number is the string "Infinity", "-Infinity" or
    "NaN" (CSV keeps inf, -inf and nan). In a study whose objectives are named,
    each JSON record names them in the order of its losses ("objectives"), as the
    CSV's objective.NAME columns do. JSON also lists each trial's attachments
    as {name: size in bytes}, not their contents (from Python:
    StoreTrials(...).trial_attachments(trial); no command reads them yet).
    """
    wanted = [TrialState(s) for s in states] or None
    names = trial_rows.objective_names(store, study)
    count = len(names) if names else None
    if fmt == "csv":  # the header follows every trial, whichever rows are shown
        choices = trial_rows.study_choices(store, study)
        if states or statuses:  # the store's one pass (export_trials)
            rows = _listing.filtered_csv_rows(
                store, study, wanted, statuses, names, choices
            )
        else:
            found = trial_rows.each_trial(store, study)
            records = (trial_rows.trial_record(t, count) for t in found)
            rows = _listing.csv_rows(records, names, choices)
        _listing.write_csv(rows, names, sys.stdout)
        return
    found = trial_rows.each_trial(store, study, wanted, statuses=statuses)
    records = (trial_rows.trial_record(t, count) for t in found)
    sizes = store.study_attachment_sizes(study)  # JSON only, not CSV
    named = {"objectives": names} if names else {}  # the order of each loss
    _listing.write_json(
        ({**r, **named, "attachments": sizes.get(r["tid"], {})} for r in records),
        sys.stdout,
    )


@main.command()
@_study_option
@click.option(
    "--tid",
    "tids",
    type=int,
    multiple=True,
    help="Cancel only this trial (repeatable); a live driver replaces it.",
)
@_with_store
def cancel(
    store: BaseTrialStore, db_url: str, study: str, tids: tuple[int, ...]
) -> None:
    """Cancel the study (its driver stops), or only some of its trials."""
    if not tids:  # one atomic write: a driver recording settings cannot undo it
        store.patch_study_settings(study, {"cancelled": True})
        n = store.cancel(study, error=cancelled_error("hpo-driver cancel"))
        click.echo(f"cancelled study {study!r} and {n} of its queued or running trials")
        return
    finished = _finished_of(store, db_url, study, tids)
    n = store.cancel(
        study, list(tids), error=cancelled_error("hpo-driver cancel --tid")
    )
    click.echo(f"cancelled {counted(n, 'trial')} of study {study!r}")
    for tid, state in finished.items():
        click.echo(f"trial {tid} was already {state.value}: left as it is", err=True)


def _finished_of(
    store: BaseTrialStore, db_url: str, study: str, tids: tuple[int, ...]
) -> dict[int, TrialState]:
    """The states of those ``tids`` that already finished (cannot be cancelled).

    Raises:
        click.ClickException: A tid is not a trial of the study; nothing is cancelled.
    """
    store.get_study(study)  # StudyNotFoundError names the database
    finished: dict[int, TrialState] = {}
    unknown: list[int] = []
    for tid in dict.fromkeys(tids):
        try:
            state = store.get_trial(study, tid).state
        except TrialNotFoundError:
            unknown.append(tid)
            continue
        if state not in (TrialState.NEW, TrialState.RUNNING):
            finished[tid] = state
    if unknown:
        count = sum(store.count_by_state(study).values())
        trials = store_command("hpo-driver trials", db_url, study)
        raise click.ClickException(
            f"study {study!r} has no trial {', '.join(map(str, unknown))} (it has "
            f"{count}; see `{trials}`): nothing was cancelled{masked_note(db_url)}"
        )
    return finished


@main.command("studies")
@_with_store
def list_studies(store: BaseTrialStore, db_url: str) -> None:
    """List the studies in the store."""
    for study in store.list_studies():
        counts = store.count_by_state(study.name)
        finished = counted_finished(counts)
        budget = study.settings.get("max_evals")
        click.echo(f"{study.name}\t{_output.finished_text(finished, budget)}")


main.add_command(_insight_cli.report)
main.add_command(_insight_cli.importance)
main.add_command(_insight_cli.dashboard)
main.add_command(_warm_cli.enqueue)
main.add_command(_warm_cli.import_results)

if __name__ == "__main__":  # pragma: no cover
    from hpo_service.driver._entry import signals_noted

    with signals_noted(sys.argv[1:]):
        main()
