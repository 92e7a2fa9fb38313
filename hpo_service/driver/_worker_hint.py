"""The ``hpo-worker`` command a driven study names when its trials wait for workers.

The command is one the user can paste: the store URL is in it (with its password
masked, as everywhere a URL is shown), and a ``MongoTrials`` study gets
``hyperopt-mongo-worker``'s form (``--mongo=HOST:PORT/DB --exp-key=KEY``).
"""

from __future__ import annotations

import shlex

from hpo_service.objective._reference import is_standard_library
from hpo_service.store._cli_option import ERRORS_LISTED, store_command
from hpo_service.store._url import mask_url, mongodb_url_of_hyperopt, split_scheme

_MONGODB_PREFIX = "mongodb://"


def store_trials_worker_hint(
    db_url: str, study: str, *, hyperopt: bool, objective: str | None = None
) -> str:
    """How to start a worker for a study that ``StoreTrials.fmin`` drives.

    Args:
        db_url: The store URL the trials object was given.
        study: The study name (hyperopt's ``exp_key``).
        hyperopt: Name hyperopt-mongo-worker's options (``MongoTrials``) instead of
            ``--db``/``--study``.
        objective: The study's objective, ``package.module:function``; one of the
            standard library (hyperopt's tutorial runs ``math.sin``) is named with
            ``--objective``, since a worker runs such a function only when told to.

    Returns:
        Text with the command in backticks, e.g. ``"`hpo-worker
        --mongo=localhost:1234/foo_db --exp-key=exp1`, or pass MongoTrials(...,
        workers=K)"``.
    """
    store = _store_argument(db_url, hyperopt=hyperopt)
    key = "--exp-key=" if hyperopt else "--study "
    command = f"hpo-worker {store} {key}{shlex.quote(study)}"
    if objective and is_standard_library(objective.partition(":")[0]):
        command += " --objective=" + shlex.quote(objective)
    owner = "MongoTrials" if hyperopt else "StoreTrials"
    text = f"`{command}`, or pass {owner}(..., workers=K)"
    if mask_url(db_url) != db_url:
        text += " (the command shows *** in place of the password)"
    return text


def _store_argument(db_url: str, *, hyperopt: bool) -> str:
    """``--mongo=HOST:PORT/DB`` for hyperopt's ``mongo://`` URL in hyperopt's form,
    else ``--db URL``; masked and shell-quoted."""
    try:
        is_hyperopt_url = split_scheme(db_url)[0] == "mongo"
    except ValueError:
        is_hyperopt_url = False
    if hyperopt and is_hyperopt_url:
        masked = mask_url(mongodb_url_of_hyperopt(db_url))
        return "--mongo=" + shlex.quote(masked.removeprefix(_MONGODB_PREFIX))
    return "--db " + shlex.quote(mask_url(db_url))


def errors_hint(db_url: str, study: str) -> str:
    """The command that lists a study's error trials with their tracebacks, in
    backticks: ``"`hpo-driver trials --db URL --study S --state error --format
    json`"`` (the URL masked; no ``--db`` for the default store)."""
    return f"`{store_command('hpo-driver trials', db_url, study)} {ERRORS_LISTED}`"
