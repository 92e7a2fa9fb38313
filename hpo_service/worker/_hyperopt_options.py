"""``hyperopt-mongo-worker``'s options on ``hpo-worker``, with the same meanings.

Scripts that start ``hyperopt-mongo-worker --mongo=host:port/db --exp-key=exp1
--poll-interval=0.1 --max-consecutive-failures=4 --reserve-timeout=120
--workdir=/scratch --max-jobs=50`` keep working with ``hpo-worker`` in its place.
Options that name an ``hpo-worker`` option under another name (``--mongo`` for
``--db``, ``--exp-key`` for ``--study``, ``--max-jobs`` for ``--max-trials``,
``--reserve-timeout`` for ``--idle-timeout``) are translated here; giving both names
with different values is a usage error (a value from ``HPO_DB`` yields to
``--mongo``).

A worker started in hyperopt's form, with ``--mongo`` or ``--exp-key``, keeps
hyperopt's defaults: it exits after ``--reserve-timeout`` seconds without a trial
(120 s) and after 4 trials in a row end in error (``--max-consecutive-failures``), as
the command of hyperopt's docs (``hyperopt-mongo-worker --mongo=host:port/db
--poll-interval=0.1``, no ``--exp-key``) did; with ``--exp-key`` it serves that
experiment as hyperopt's does: when the study finishes it keeps waiting for more of
its trials (a later ``fmin`` on the same ``MongoTrials`` exp_key queues them). As in
hyperopt, ``--reserve-timeout 0`` (or ``inf``) sets no limit, and without ``--mongo``
(and without ``--db`` or ``HPO_DB``) an ``--exp-key`` worker uses
``localhost/hyperopt``. ``--no-subprocesses`` is accepted and changes nothing: the
objective's process is reused across trials already, so what its module keeps in
memory (a loaded data set) stays loaded. ``--max-jobs-in-db`` is refused with what
to use instead. ``hpo-worker --db`` keeps its own rules: failures and idleness stop
it only when told to (``--max-consecutive-failures``, ``--idle-timeout``), and with
``--study`` it stops when that study finishes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import click
from click.core import ParameterSource

from hpo_service.store._cli_option import NumberRange
from hpo_service.store._url import make_scrubber, mongodb_url_of_hyperopt

#: hyperopt-mongo-worker's default --reserve-timeout, in seconds.
DEFAULT_RESERVE_TIMEOUT = 120.0
#: hyperopt-mongo-worker's default --max-consecutive-failures.
DEFAULT_MAX_CONSECUTIVE_FAILURES = 4
#: hyperopt-mongo-worker's default --mongo (MongoDB on localhost's default port).
DEFAULT_MONGO = "localhost/hyperopt"

_ALIASES = (  # hyperopt's option, hpo-worker's parameter, hpo-worker's flag
    ("mongo", "db_url", "--db"),
    ("exp_key", "study", "--study"),
    ("max_jobs", "max_trials", "--max-trials"),
    ("reserve_timeout", "idle_timeout", "--idle-timeout"),
)

_OPTIONS = (
    click.option(
        "--mongo",
        metavar="HOST[:PORT]/DB",
        help="hyperopt-mongo-worker's form of --db: the MongoDB at HOST:PORT, "
        "database DB (user:password@ allowed) [with --exp-key and neither --db nor "
        f"HPO_DB: {DEFAULT_MONGO}, hyperopt's default].",
    ),
    click.option(
        "--exp-key",
        help="hyperopt's name for --study, with hyperopt's worker behaviour: when "
        "the study finishes, wait for more of its trials until --reserve-timeout.",
    ),
    click.option(
        "--max-jobs",
        type=click.IntRange(min=1),
        help="hyperopt's name for --max-trials.",
    ),
    click.option(
        "--reserve-timeout",
        type=NumberRange(min=0, infinite=True),
        help="hyperopt's name for --idle-timeout: exit after this many seconds "
        "without a trial to reserve [with --mongo or --exp-key: 120, hyperopt's "
        "default; 0 or inf waits for ever, as in hyperopt, where --idle-timeout 0 "
        "exits at once].",
    ),
    click.option(
        "--max-consecutive-failures",
        type=click.IntRange(min=1),
        default=None,
        help="Exit (code 1) after this many trials in a row end in error [with "
        "--mongo or --exp-key: 4, hyperopt's default; else never].",
    ),
    click.option(
        "--last-job-timeout",
        type=NumberRange(min=0, infinite=True),
        default=None,
        help="Reserve no trial after this many seconds of running; finish the "
        "current one and exit [inf: no limit].",
    ),
    click.option(
        "--workdir",
        type=click.Path(file_okay=False, writable=True),
        default=None,
        help="Run each trial in its own directory WORKDIR/STUDY/TID (created; "
        "hyperopt's worker runs every trial in WORKDIR itself); a STUDY name that "
        "is not a plain file name (blanks, '..') gets its characters replaced and "
        "a short hash [default: the current directory].",
    ),
    click.option(
        "--no-subprocesses",
        is_flag=True,
        help="Accepted for hyperopt-mongo-worker's scripts; changes nothing: the "
        "objective's process is reused across trials already, so what its module "
        "keeps in memory (a loaded data set) stays loaded.",
    ),
    click.option(
        "--max-jobs-in-db",
        hidden=True,
        expose_value=False,
        callback=lambda context, param, value: _refuse_max_jobs_in_db(value),
    ),
)


def hyperopt_worker_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add hyperopt-mongo-worker's options to the ``hpo-worker`` click command.

    ``command`` receives hpo-worker's parameters with the aliases resolved, plus
    ``max_consecutive_failures``, ``last_job_timeout``, ``workdir`` and
    ``serve_finished`` (True with ``--exp-key``) and ``flags`` (the flag of each
    parameter given by its hyperopt alias: ``{"idle_timeout": "--reserve-timeout"}``).
    """

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        context = click.get_current_context()
        kwargs.pop("no_subprocesses")  # what it asks for is how workers run anyway
        kwargs["serve_finished"] = kwargs["exp_key"] is not None
        hyperopt_form = kwargs["serve_finished"] or kwargs["mongo"] is not None
        _reserve_timeout(kwargs, context, hyperopt_form)
        _default_mongo(kwargs, context)
        if kwargs["max_consecutive_failures"] is None and hyperopt_form:
            kwargs["max_consecutive_failures"] = DEFAULT_MAX_CONSECUTIVE_FAILURES
        flags: dict[str, str] = {}  # a limit given in hyperopt's form: its flag
        for alias, name, flag in _ALIASES:
            value = kwargs.pop(alias)
            if value is None:
                continue
            if alias == "mongo":
                value = _mongo_url(value)
            explicit = context.get_parameter_source(name) == ParameterSource.COMMANDLINE
            if explicit and kwargs[name] not in (None, value):
                raise click.UsageError(
                    f"`--{alias.replace('_', '-')}` and `{flag}` name the same "
                    "setting: give one of them"
                )
            kwargs[name] = value
            flags[name] = f"--{alias.replace('_', '-')}"
        return command(**kwargs, flags=flags)

    for option in reversed(_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


def _refuse_max_jobs_in_db(value: str | None) -> None:
    """hyperopt-mongo-worker's ``--max-jobs-in-db`` (stop once the database holds N
    jobs) has no counterpart: say what bounds trials here instead of click's "did
    you mean --max-jobs", which means something else."""
    if value is not None:
        raise click.UsageError(
            "`--max-jobs-in-db` (hyperopt-mongo-worker's) is not supported: a "
            "study's trials are bounded by its max_evals (fmin's, or hpo-driver "
            "start --max-evals), which its workers keep too; `--max-jobs` bounds "
            "the trials this worker runs"
        )


def _reserve_timeout(
    kwargs: dict[str, Any], context: click.Context, hyperopt_form: bool
) -> None:
    """hyperopt's --reserve-timeout: 120 s by default for a worker started in
    hyperopt's form, ``--mongo`` or ``--exp-key`` (unless --idle-timeout is given),
    and 0 or inf for no limit, as in hyperopt (so is an infinite
    --last-job-timeout)."""
    given = context.get_parameter_source("idle_timeout") == ParameterSource.COMMANDLINE
    if kwargs["reserve_timeout"] is None and hyperopt_form and not given:
        kwargs["reserve_timeout"] = DEFAULT_RESERVE_TIMEOUT
    if kwargs["reserve_timeout"] in (0, math.inf):
        kwargs["reserve_timeout"] = None  # no limit (an --idle-timeout still applies)
    if kwargs["last_job_timeout"] == math.inf:
        kwargs["last_job_timeout"] = None


def _default_mongo(kwargs: dict[str, Any], context: click.Context) -> None:
    """hyperopt's --mongo default for an --exp-key worker given no store at all
    (no --mongo, --db or HPO_DB): a hyperopt script that relied on it reaches the
    same database instead of a SQLite file in the working directory."""
    no_store = context.get_parameter_source("db_url") == ParameterSource.DEFAULT
    if kwargs["serve_finished"] and kwargs["mongo"] is None and no_store:
        kwargs["mongo"] = DEFAULT_MONGO


def _mongo_url(value: str) -> str:
    """The ``mongodb://`` URL of ``--mongo``, checked as pymongo reads it, so that
    a malformed one (an unescaped ``@`` in the password) names ``--mongo``, as
    typed, rather than the ``--db`` it becomes."""
    try:
        url = mongodb_url_of_hyperopt(value)
        _parsed(url)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="'--mongo'") from e
    return url


def _parsed(url: str) -> None:
    """Parse ``url`` as pymongo does (no network for ``mongodb://``).

    Raises:
        ValueError: pymongo refuses it (the message masks the password).
    """
    from pymongo import uri_parser
    from pymongo.errors import ConfigurationError, InvalidURI

    try:
        uri_parser.parse_uri(url)
    except (ConfigurationError, InvalidURI, ValueError) as e:
        text = make_scrubber(url)(str(e))
        raise ValueError(f"`--mongo` must be a valid MongoDB address: {text}") from None
