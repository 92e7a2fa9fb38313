"""The ``--pruner`` options of ``hpo-driver start``, and turning them into settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from hpo_service.algorithms.pruners import (
    PRUNERS,
    describe_pruner,
    kept_settings,
    make_pruner,
    with_defaults,
)
from hpo_service.algorithms.pruners._asha import LARGEST_STEP, first_rung
from hpo_service.store._cli_option import ChoiceFlag, NumberRange

_RUNGS = ("asha", "hyperband")
_STOPPING = ("median", "percentile")

# option dest -> (flag, pruner setting, pruners it applies to, click type, help)
_OPTIONS: dict[str, tuple[str, str, tuple[str, ...], Any, str]] = {
    "min_resource": (
        "--min-resource",
        "min_resource",
        _RUNGS,
        click.IntRange(min=1),
        "steps of the first rung [1].",
    ),
    "max_resource": (
        "--max-resource",
        "max_resource",
        _RUNGS,
        click.IntRange(min=1),
        "steps of a complete trial (hyperband needs it) [asha: none].",
    ),
    "reduction_factor": (
        "--reduction-factor",
        "reduction_factor",
        _RUNGS,
        click.IntRange(min=2),
        "eta: rungs are eta times apart and 1/eta of a rung continues "
        "[asha: 2, hyperband: 3].",
    ),
    "early_stopping_rate": (
        "--early-stopping-rate",
        "min_early_stopping_rate",
        ("asha",),
        click.IntRange(min=0),
        "the first rung is at min-resource * eta**rate steps, at most "
        "--max-resource [0].",
    ),
    "startup_trials": (
        "--startup-trials",
        "n_startup_trials",
        _STOPPING,
        click.IntRange(min=0),
        "no pruning until this many trials completed [5].",
    ),
    "warmup_steps": (
        "--warmup-steps",
        "n_warmup_steps",
        _STOPPING,
        click.IntRange(min=0),
        "no pruning at steps below this [0].",
    ),
    "interval_steps": (
        "--interval-steps",
        "interval_steps",
        _STOPPING,
        click.IntRange(min=1),
        "judge trials only every this many steps [1].",
    ),
    "percentile": (
        "--percentile",
        "percentile",
        ("percentile",),
        NumberRange(0, 100),
        "keep trials within this percentile of completed ones [25].",
    ),
}


def pruner_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--pruner`` and its settings' options to ``command``."""
    for dest, (flag, _, applies, kind, text) in reversed(_OPTIONS.items()):
        command = click.option(
            flag, dest, type=kind, help=f"{'/'.join(applies)}: {text}"
        )(command)
    return click.option(
        "--pruner",
        type=ChoiceFlag(list(PRUNERS)),
        help="Stop unpromising trials early from the values they report "
        "(hpo_service.report) [none; a resumed study keeps its pruner].",
    )(command)


def take_pruner(
    given: dict[str, Any], stored: tuple[str, dict[str, Any]] | None = None
) -> None:
    """Replace the pruner options in ``given`` by ``pruner`` and ``pruner_settings``.

    Without ``--pruner`` nothing is set (a resumed study keeps its pruner). A
    resumed study given its own pruner again keeps each stored setting that no
    option gives (:func:`~hpo_service.algorithms.pruners.kept_settings`), so that
    the command that started it resumes it even after a default changed (ASHA's
    ``reduction_factor``, 3 until 20d7da98, is 2); another pruner takes its
    defaults.

    Args:
        given: The options of ``hpo-driver start``, changed in place.
        stored: The resumed study's pruner name and settings (None for a new study),
            named in the error for a setting given without ``--pruner``.

    Raises:
        click.UsageError: An option that the chosen pruner does not use, an option
            without ``--pruner``, or settings that do not fit together.
    """
    name = given.pop("pruner", None)
    chosen = {dest: given.pop(dest) for dest in _OPTIONS}
    chosen = {dest: value for dest, value in chosen.items() if value is not None}
    for dest in chosen:
        flag, _, applies, _, _ = _OPTIONS[dest]
        if name is None and stored is not None and stored[0] != "none":
            raise click.UsageError(_without_pruner(flag, chosen, *stored))
        if name not in applies:
            raise click.UsageError(
                f"`{flag}` applies to --pruner {'|'.join(applies)}, but got "
                f"--pruner {name or '(none given)'}"
            )
    if name is None:
        return
    settings = kept_settings(name, stored)
    settings.update({_OPTIONS[dest][1]: value for dest, value in chosen.items()})
    _check_resources(name, with_defaults(name, settings))
    try:
        pruner = make_pruner(name, settings)
    except ValueError as e:
        raise click.UsageError(str(e)) from e
    given["pruner"], given["pruner_settings"] = pruner.name, pruner.settings()


def _without_pruner(
    flag: str, chosen: dict[str, Any], name: str, settings: dict[str, Any]
) -> str:
    """Why ``flag`` needs ``--pruner`` on a resumed study with pruner ``name``, and
    the options that would change its settings (or switch to a pruner using it)."""
    target, kept = name, settings
    if any(name not in _OPTIONS[dest][2] for dest in chosen):
        target, kept = _OPTIONS[next(iter(chosen))][2][0], {}
    options = " ".join(_flags(target, chosen, kept))
    rest = "keep the stored ones" if target == name else "take their defaults"
    return (
        f"`{flag}` needs --pruner: the study keeps its pruner "
        f"{describe_pruner(name, settings)} unless --pruner and --override "
        f"are given; to {'change its settings' if target == name else 'switch'}, "
        f"pass --pruner {target} {options} --override (settings not given {rest})"
    )


def _flags(name: str, chosen: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    """The options of pruner ``name`` that give ``chosen``, and the ``settings`` that
    differ from the pruner's defaults."""
    defaults = with_defaults(name, None)
    flags = []
    for dest, (flag, setting, applies, _, _) in _OPTIONS.items():
        value = chosen.get(dest, settings.get(setting))
        if name not in applies or value is None:
            continue
        default = defaults.get(setting)
        if dest in chosen or value != default:
            flags.append(f"{flag} {value}")
    return flags


def _check_resources(name: str, settings: dict[str, Any]) -> None:
    """Refuse rung settings that do not fit together, naming the flags.

    Args:
        name: The pruner (a key of :data:`~hpo_service.algorithms.pruners.PRUNERS`).
        settings: All its settings, by setting name (given, kept or default).

    Raises:
        click.UsageError: Hyperband without ``--max-resource``, ``--min-resource``
            above ``--max-resource``, or a first rung past ``--max-resource`` (or
            the largest step).
    """
    low = settings.get("min_resource")
    high = settings.get("max_resource")
    if name == "hyperband" and high is None:
        raise click.UsageError(
            "`--max-resource` must be given with --pruner hyperband (the steps of a "
            "complete trial), but got none"
        )
    if high is not None and low > high:
        raise click.UsageError(
            "`--min-resource <= --max-resource` must hold, but got "
            f"--min-resource {low}, --max-resource {high}"
        )
    if low is not None:  # a pruner with rungs
        eta = settings["reduction_factor"]
        rate = settings.get("min_early_stopping_rate", 0)  # Hyperband's first is 0
        _check_first_rung(low, high, eta, rate)


def _check_first_rung(low: int, high: int | None, eta: int, rate: int) -> None:
    first = first_rung(low, eta, rate, LARGEST_STEP if high is None else high)
    if first is not None and high is None:
        raise click.UsageError(
            "`--min-resource * --reduction-factor ** --early-stopping-rate <= "
            "2**63 - 1` (the largest step) must hold, but got --early-stopping-rate "
            f"{rate} (first rung at {first} steps)"
        )
    if first is not None:
        raise click.UsageError(
            "`--min-resource * --reduction-factor ** --early-stopping-rate <= "
            f"--max-resource` must hold (the first rung), but got --min-resource "
            f"{low}, --reduction-factor {eta}, --early-stopping-rate {rate}, "
            f"--max-resource {high} (first rung at {first} steps): lower "
            "--early-stopping-rate or raise --max-resource"
        )
