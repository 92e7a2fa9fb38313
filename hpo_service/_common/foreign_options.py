"""Command-line options that users of Optuna type, answered with ours.

Optuna's CLI (``optuna create-study --storage URL --study-name NAME --direction
maximize``, ``study optimize --n-trials N``) and its ``optimize(n_jobs=...)`` name
what ``hpo-driver``/``hpo-worker`` call otherwise; click's own guess for such an
unknown option is the nearest spelling (``--n-trials`` -> ``--startup-trials``),
which sends the user the wrong way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import click

if TYPE_CHECKING:
    from collections.abc import Collection

_OPTUNA: dict[str, tuple[str | None, str]] = {
    "--n-trials": ("--max-evals", "trials to finish"),
    "--storage": ("--db", "the trials store's URL, or env HPO_DB"),
    "--study-name": ("--study", "the study's name"),
    "--sampler": ("--algo", "the algorithm that suggests trials"),
    "--n-jobs": ("--workers", "local worker processes"),
    "--directions": ("--objectives", "their names; every objective is minimised"),
    "--direction": (
        None,
        "every loss is minimised: to maximise a value, return it negated",
    ),
    "--load-if-exists": (None, "`hpo-driver start` resumes a study that exists"),
}
"""Optuna's option -> (ours, or None when none is needed, what it is)."""

_WITHOUT_COUNTERPART = {
    "--n-jobs": "each hpo-worker runs one trial at a time: start one per trial to "
    "run at once (or `hpo-driver start --workers K`)",
}
"""Optuna's option -> what to do instead, for a command that lacks its counterpart
(``hpo-worker --n-jobs``: click's guess, '--max-jobs', is hyperopt's trial count)."""


def foreign_option_message(option: str, flags: Collection[str]) -> str | None:
    """The error for an unknown command-line option that is Optuna's, else None.

    Args:
        option: The option as typed, e.g. ``"--n-trials"`` or ``"--n-trials=5"``.
        flags: The options of the command it was given to, e.g. ``{"--max-evals"}``;
            an Optuna option whose counterpart the command lacks gets no message,
            unless it says what to do instead (``hpo-worker --n-jobs``).

    Returns:
        ``"No such option '--n-trials' (Optuna's): use '--max-evals' (trials to
        finish)."``, or None for any other option.
    """
    name = option.split("=", 1)[0]
    entry = _OPTUNA.get(name)
    if entry is None:
        return None
    if entry[0] is not None and entry[0] not in flags:
        instead = _WITHOUT_COUNTERPART.get(name)
        if instead is None:
            return None
        return f"No such option {name!r} (Optuna's): {instead}."
    ours, what = entry
    if ours is None:
        return f"No such option {name!r} (Optuna's): {what}."
    return f"No such option {name!r} (Optuna's): use {ours!r} ({what})."


def raise_naming_ours(error: click.NoSuchOption, command: click.Command) -> NoReturn:
    """Raise ``error`` again, with our counterpart named when its option is Optuna's.

    For a command's ``parse_args`` or a group's ``invoke``, in the ``except`` that
    caught click's error for an unknown option.

    Args:
        error: Click's error for the unknown option.
        command: The command it was given to, used when ``error`` carries no
            context (with one, the context's command holds the flags).

    Raises:
        click.NoSuchOption: ``error`` itself, or one whose message is
            :func:`foreign_option_message`'s.
    """
    if error.ctx is not None:
        command = error.ctx.command
    flags = {o for p in command.params for o in p.opts}
    message = foreign_option_message(error.option_name, flags)
    if message is None:
        raise error
    raise click.NoSuchOption(error.option_name, message, ctx=error.ctx) from None
