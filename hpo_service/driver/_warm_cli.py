"""``hpo-driver enqueue`` and ``hpo-driver import``: warm starts on the command line."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hpo_service._common.outcomes import outcome_counts, outcome_words
from hpo_service._common.stop_signals import STOP_SIGNALS, exiting
from hpo_service._common.words import counted, tids_text
from hpo_service.exceptions import (
    HPOServiceError,
    StudyNotFoundError,
    StudyWithoutSpaceError,
)
from hpo_service.store import BaseTrialStore, open_store
from hpo_service.store._cli_option import (
    MissingStoreError,
    StudyOption,
    db_option,
    masked_note,
    open_store_for_cli,
    reach_store,
    store_command,
    study_not_found,
    wait_for_store_option,
)

if TYPE_CHECKING:
    from hpo_service.driver._warm_start import ImportReport

_logger = logging.getLogger(__name__)


@contextlib.contextmanager
def _store(
    db_url: str,
    study: str,
    fill: str,
    *,
    wait_for_store: float,
    create: Callable[[], None] | None = None,
) -> Iterator[BaseTrialStore]:
    """The store, with our errors and bad input shown as click errors (exit 1);
    ``fill`` says what the command does to a study (``"import into"``). A server
    that does not answer is tried for ``wait_for_store`` seconds
    (:func:`reach_store`). A missing database is created only given ``create``
    (``import --create``), which is called first to check the input: an error it
    raises creates nothing."""
    try:
        store = reach_store(db_url, wait_for_store, [], _logger)
    except MissingStoreError:
        if create is None:
            raise
        create()
        store = open_store_for_cli(db_url, create=True)
    try:
        yield store
    except StudyNotFoundError as e:
        start = store_command("hpo-driver start", db_url, study)
        how = (
            "pass --create: it creates the study without a search space (a later "
            "`hpo-driver start --space REF` gives it one)"
            if fill == "import into"
            else f"create it first: `{start} --objective REF --space REF --max-evals "
            "N` without --workers queues its first trial and waits for workers"
        )
        raise click.ClickException(
            f"{study_not_found(store, db_url, study)}. To {fill} a new study, {how}"
            + masked_note(db_url)
        ) from e
    except StudyWithoutSpaceError as e:
        start = store_command("hpo-driver start", db_url, study)
        raise click.ClickException(e.text(start) + masked_note(db_url)) from e
    except (HPOServiceError, ValueError, OSError) as e:
        raise click.ClickException(str(e)) from e
    finally:
        store.close()


@click.command("enqueue")
@db_option
@click.option(
    "--study", required=True, help="Study name (it must exist).", cls=StudyOption
)
@click.option(
    "--params",
    "params",
    multiple=True,
    metavar="JSON",
    help='One point, e.g. \'{"x": 0.5, "kernel": 1}\' (a choice takes the option '
    "index); repeatable.",
)
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Points in a file: a JSON list of dicts, or one dict per line (- for "
    "standard input).",
)
@wait_for_store_option(default=0.0)
def enqueue(
    db_url: str,
    study: str,
    params: tuple[str, ...],
    path: str | None,
    wait_for_store: float,
) -> None:
    """Queue given configurations of STUDY to be evaluated next.

    Every point is checked against the study's space first (unknown label, value
    outside the space, parameter of an inactive branch): if one is wrong, nothing
    is queued. Workers run them like any queued trial; they count toward
    --max-evals, and the study's driver cancels the queued trials beyond it (its own
    suggestions first, then the points queued last). Into a study that already
    finished --max-evals trials, the points are queued but a worker cancels them
    instead of running them (with or without a driver; the command says so): resume
    the study with a larger --max-evals to run them.
    """
    from hpo_service.driver._warm_sources import read_points
    from hpo_service.driver._warm_start import enqueue as queue_points

    points: list[dict[str, Any]] = []
    for i, text in enumerate(params):
        try:
            points += read_points(text, f"--params #{i + 1}")
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="'--params'") from e
    if path is not None:
        points += _points_file(path)
    if not points:
        raise click.UsageError("give --params JSON (repeatable) or --file PATH")
    with _store(
        db_url, study, "enqueue points into", wait_for_store=wait_for_store
    ) as store:
        tids = queue_points(store, study, points)
        note = _spent_budget_note(store, db_url, study, len(tids))
    click.echo(
        f"queued {counted(len(tids), 'trial')} of study {study!r}: {tids_text(tids)}"
    )
    if note:
        click.echo(note, err=True)


def _spent_budget_note(
    store: BaseTrialStore, db_url: str, study: str, count: int
) -> str | None:
    """What happens to ``count`` points queued into a study that finished its budget
    (None if it has room): a worker cancels them (see ``hpo_service.worker._budget``)
    unless a resume with a larger budget runs them first."""
    from hpo_service.driver._warm_start import spent_budget

    spent = spent_budget(store, study)
    if spent is None:
        return None
    finished, budget = spent
    them = "it" if count == 1 else "them"
    points = "this point" if count == 1 else f"these {count} points"
    return (
        f"note: study {study!r} has already finished its budget ({finished} of "
        f"--max-evals {budget}): a worker cancels {points} instead of running "
        f"{them} (`{store_command('hpo-driver trials', db_url, study)}` shows why). "
        f"To run {them}, resume the study with a larger budget before a worker "
        f"claims {them} (`{store_command('hpo-driver start', db_url, study)} "
        f"--max-evals {finished + count} ...`): its driver runs queued points "
        f"before its own suggestions.{masked_note(db_url)}"
    )


@click.command("import")
@db_option
@click.option(
    "--study",
    required=True,
    help="Study name (it must exist, unless --create is given).",
    cls=StudyOption,
)
@click.option(
    "--create",
    is_flag=True,
    help="Create the study if it does not exist, without a search space: status, "
    "best, trials, report and dashboard show it; `hpo-driver start --space` gives "
    "it a space later (and checks every imported trial against it).",
)
@click.option(
    "--exp-key",
    help="The experiment to read from a mongo:// source (hyperopt's exp_key); "
    "needed when its jobs collection holds several.",
)
@click.argument("sources", nargs=-1, required=True, metavar="SOURCES...")
@wait_for_store_option(default=0.0)
def import_results(
    db_url: str,
    study: str,
    create: bool,
    exp_key: str | None,
    sources: tuple[str, ...],
    wait_for_store: float,
) -> None:
    """Import already-evaluated results into STUDY, so its algorithm learns from
    them without running them again.

    SOURCES are exports of another study (`hpo-driver trials --format json` or
    `--format csv`), a pickled Trials, hyperopt's or ours (from fmin(...,
    trials_save_file=...); read from your local file only, with any object other
    than the trials' data left unloaded), or hyperopt's MongoTrials database,
    mongo://host:port/db/jobs (its trials of --exp-key; only read).

    An export's finished trials come in as they ended: done (every key of the
    result, a CSV's result.KEY and constraint.I columns included), pruned (with
    their intermediate values and last step, which pruners then count), error (type
    and message; a JSON export also keeps the traceback) and cancelled. Queued and
    running trials have no outcome yet: they are left out and counted in the
    summary (the study's driver suggests its own; `hpo-driver enqueue` queues
    given params). A CSV's objective.NAME columns (a JSON record's "objectives")
    name the study's objectives if it has no names yet; a study with names takes
    the losses by name. hyperopt's trials (pickled or in MongoDB) come the same
    way (error trials with their exception's type and message).

    Every trial is checked against the study's space first: if one does not fit,
    nothing is imported. A study made by --create has no space yet: its trials'
    params need only be numbers by label, and the first `hpo-driver start` that
    gives --space, --objective and --max-evals checks them all. A trial whose
    params and outcome equal those of a finished trial of the study is skipped,
    so importing a file twice, or a study's own export, adds nothing. Imported
    trials count toward --max-evals.
    """
    left_out: Counter[str] = Counter()
    records = _read_sources(sources, exp_key, left_out)
    if create:  # before a missing database is created
        _check_new_name(study)
    with _stops_import(study):
        report = _insert_records(
            db_url, study, records, create=create, wait_for_store=wait_for_store
        )
    click.echo(_import_summary(study, report, left_out))
    if report.created:
        click.echo(_no_space_note(db_url, study), err=True)


@contextlib.contextmanager
def _stops_import(study: str) -> Iterator[None]:
    """SIGTERM, SIGHUP or Ctrl-C while an import opens its store and imports: the
    import unwinds, giving back the driver lease it holds on a study without a
    space (300 s, which a start on another host would wait out), then exits
    128+signal saying so."""
    with exiting(STOP_SIGNALS, lambda name: (
        f"hpo-driver import stopped by {name} while importing into study {study!r}; "
        "run the same command again (an import adds only the trials the study does "
        "not hold yet)"
    )):  # fmt: skip
        yield


def _insert_records(
    db_url: str,
    study: str,
    records: list[Any],
    *,
    create: bool,
    wait_for_store: float,
) -> ImportReport:
    """Import ``records`` into ``study`` of the store at ``db_url``. With ``create``
    a missing database is made only once the same import into a scratch store
    passed, so that bad records create nothing.

    Raises:
        click.ClickException: The study is missing (without ``create``), or the
            records do not fit it (nothing is imported then).
    """
    from hpo_service.driver._warm_start import import_results as insert_results

    def rehearse() -> None:  # the same import into a scratch store
        with open_store("sqlite:///:memory:") as scratch, _click_errors():
            insert_results(scratch, study, records, create=True)

    with _store(
        db_url,
        study,
        "import into",
        wait_for_store=wait_for_store,
        create=rehearse if create else None,
    ) as store:
        return insert_results(store, study, records, create=create)


def _import_summary(study: str, report: ImportReport, left_out: Counter[str]) -> str:
    """The line an import prints: the study created, the trials imported (by state,
    with their tids), skipped as already held, and left out."""
    return (
        (f"created study {study!r} and " if report.created else "")
        + f"imported {counted(len(report.imported), 'finished trial')} "
        + _states_text(report.states, report.failed)
        + f"into study {study!r}"
        + (f" ({tids_text(report.imported)})" if report.imported else "")
        + (
            f"; skipped {report.already} the study already holds (same params and "
            "outcome)"
            if report.already
            else ""
        )
        + _left_out_text(left_out)
    )


def _no_space_note(db_url: str, study: str) -> str:
    """How to run more trials of a study an import created (it has no space)."""
    start = store_command("hpo-driver start", db_url, study)
    return (
        f"study {study!r} has no search space yet: to run more trials, "
        f"`{start} --space module:attr --objective module:function --max-evals "
        "N` (every imported trial is checked against the space)" + masked_note(db_url)
    )


def _read_sources(
    sources: tuple[str, ...], exp_key: str | None, left_out: Counter[str]
) -> list[Any]:
    """The evaluated records of every source, read before the store is opened (a
    bad source creates nothing).

    Raises:
        click.BadParameter: A file does not exist, or --exp-key is given without a
            mongo:// source.
        click.ClickException: A source is malformed or cannot be read.
    """
    from hpo_service.driver._warm_mongo import is_jobs_url, read_jobs
    from hpo_service.driver._warm_sources import read_results

    if exp_key is not None and not any(map(is_jobs_url, sources)):
        raise click.BadParameter(
            "`--exp-key` must name an experiment of a mongo:// source, but got "
            f"--exp-key={exp_key!r} and no mongo:// source",
            param_hint="'--exp-key'",
        )
    records = []
    for source in sources:
        if not is_jobs_url(source) and not Path(source).is_file():
            raise click.BadParameter(
                f"{source!r} must be a file or a mongo://host:port/db/jobs URL, but "
                "no such file exists",
                param_hint="'SOURCES...'",
            )
        try:
            if is_jobs_url(source):
                records += read_jobs(source, exp_key, left_out)
            else:
                records += read_results(source, left_out)
        except (HPOServiceError, ValueError, OSError) as e:
            raise click.ClickException(str(e)) from e
    return records


@contextlib.contextmanager
def _click_errors() -> Iterator[None]:
    """Our errors and bad input as click errors (exit 1)."""
    try:
        yield
    except (HPOServiceError, ValueError, OSError) as e:
        raise click.ClickException(str(e)) from e


def _check_new_name(study: str) -> None:
    from hpo_service.driver._study import check_study_name

    try:
        check_study_name(study)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="'--study'") from e


def _states_text(states: dict[str, int], failed: int = 0) -> str:
    """``(5 done, 1 failed (status fail), 2 pruned) `` of the imported trials, by
    state, ``done`` split as ``hpo-driver start`` and ``status`` split it
    (:func:`~hpo_service._common.outcomes.outcome_counts`), or "" if none."""
    if not states:
        return ""
    shown = outcome_counts(dict(sorted(states.items())), failed)
    return f"({outcome_words(shown, zeros=False)}) "


def _left_out_text(left_out: Counter[str]) -> str:
    """The trials an import left out (queued and running ones), by state."""
    if not left_out:
        return ""
    states = ", ".join(f"{n} {state}" for state, n in sorted(left_out.items()))
    return (
        f"; left out {counted(left_out.total(), 'trial')} ({states}): an import "
        "takes finished trials only"
    )


def _points_file(path: str) -> list[dict[str, Any]]:
    from hpo_service.driver._warm_sources import read_points

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        return read_points(text, path)
    except (OSError, ValueError) as e:
        raise click.BadParameter(str(e), param_hint="'--file'") from e
