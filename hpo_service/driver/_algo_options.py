"""The ``--algo`` options of ``hpo-driver start``, and turning them into settings."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from typing import Any

import click

from hpo_service.algorithms import ALGORITHMS, check
from hpo_service.store._cli_option import ChoiceFlag

_PYTHON_BOOLS = {"True": True, "False": False}


def algo_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--algo``, ``--algo-settings JSON`` and ``--algo-setting KEY=VALUE``."""
    command = click.option(
        "--algo-setting",
        "algo_setting",
        multiple=True,
        metavar="KEY=VALUE",
        help="One algorithm setting (repeatable; VALUE is read as JSON, True/False "
        "as true/false, else as text), e.g. --algo-setting gamma=0.25.",
    )(command)
    command = click.option(
        "--algo-settings",
        "algo_settings",
        metavar="JSON",
        help='Algorithm settings as a JSON object, e.g. \'{"n_startup_jobs": 20, '
        '"gamma": 0.25}\'; checked against what the algorithm accepts [the '
        "algorithm's defaults; a resumed study keeps its settings].",
    )(command)
    return click.option(
        "--algo",
        type=ChoiceFlag(list(ALGORITHMS)),
        help="Algorithm [tpe; a resumed study keeps its algorithm, and may switch "
        "to another: the history is kept].",
    )(command)


def take_algorithm(given: dict[str, Any], stored: str | None = None) -> None:
    """Replace the ``--algo`` options in ``given`` by ``algorithm`` and its settings.

    Without settings options, ``algorithm_settings`` is left unset (a resumed study
    keeps its settings; a changed algorithm starts from its defaults). Given settings
    are checked against the algorithm that will use them (``--algo``, else the
    study's ``stored`` one, else tpe).

    Raises:
        click.BadParameter: ``--algo-settings`` is not a JSON object, an
            ``--algo-setting`` is not ``KEY=VALUE``, or the algorithm does not
            accept the settings (the message names the options given).
    """
    given["algorithm"] = given.pop("algo", None)
    text, pairs = given.pop("algo_settings", None), given.pop("algo_setting", ())
    if text is None and not pairs:
        return
    settings = _json_object(text) if text is not None else {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise click.BadParameter(
                f"must look like KEY=VALUE, but got {pair!r}",
                param_hint="'--algo-setting'",
            )
        settings[key.strip()] = _value(value)
    given["algorithm_settings"] = settings
    flags = ["'--algo-settings'"] if text is not None else []
    flags += ["'--algo-setting'"] if pairs else []
    try:
        check(given["algorithm"] or stored or "tpe", settings)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint=" / ".join(flags)) from e


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise click.BadParameter(
            f"must be a JSON object, but got {text!r} ({e}){_pairs_hint(text)}",
            param_hint="'--algo-settings'",
        ) from e
    if not isinstance(value, dict):
        raise click.BadParameter(
            f"must be a JSON object, but got {type(value).__name__} {text!r}",
            param_hint="'--algo-settings'",
        )
    return value


def _pairs_hint(text: str) -> str:
    """For ``--algo-settings`` text written as KEY=VALUE (the form of
    ``--algo-setting``): ``"; one KEY=VALUE is --algo-setting gamma=0.2"``, or for
    several pairs (``gamma=0.2,n_ei_candidates=48``) one flag each; else ``""``."""
    if "=" not in text or text.lstrip().startswith("{"):
        return ""
    pairs = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    if len(pairs) > 1 and all("=" in p for p in pairs):
        flags = " ".join(f"--algo-setting {shlex.quote(p)}" for p in pairs)
        return f"; each KEY=VALUE is one --algo-setting: {flags}"
    return f"; one KEY=VALUE is --algo-setting {shlex.quote(text)}"


def _value(text: str) -> Any:
    """``text`` read as JSON, Python's ``True``/``False`` as booleans, else as text
    (``"False"`` as text would switch a setting on: a non-empty string is true)."""
    if text.strip() in _PYTHON_BOOLS:
        return _PYTHON_BOOLS[text.strip()]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
