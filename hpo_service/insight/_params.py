"""What a plot needs to know about each parameter: scale, bounds, choice labels.

Built from the study's stored search space when there is one; otherwise (an in-memory
``Trials`` without its space) inferred from the values seen.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hpo_service.space import compile_space, from_document
from hpo_service.space._compile import choice_switches
from hpo_service.space._expr import Choice, Expr, Param

_logger = logging.getLogger(__name__)

ParamType = Literal["float", "int", "choice"]

_SHORT = 24  # characters of a choice option's text shown on an axis
_MAX_CATEGORIES = 32  # a wider randint is shown on a numeric axis


@dataclass(frozen=True)
class ParamInfo:
    """One parameter as plots show it.

    Attributes:
        label: The parameter's label.
        type: ``"float"``, ``"int"`` (a numeric axis) or ``"choice"`` (categories).
        log: Whether the value axis is logarithmic (``loguniform``, ``lognormal``...).
        low: Lowest value of the prior's support, or None (unbounded or unknown).
        high: Highest value of the prior's support, or None.
        choices: Display text of each option of a choice, by index.
        conditional: Whether the parameter is inactive in some trials.
        by_value: Whether trials store a choice's value (inferred choices) rather
            than its index (choices of a known space).
    """

    label: str
    type: ParamType
    log: bool = False
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    conditional: bool = False
    by_value: bool = False

    def code(self, value: Any) -> float:
        """A stored value as a number: a choice's index, NaN if it is not one."""
        if self.type == "choice" and self.by_value:
            text = str(value)
            return float(self.choices.index(text)) if text in self.choices else math.nan
        try:
            return float(value)
        except (TypeError, ValueError):
            return math.nan

    def display(self, value: Any) -> Any:
        """A stored value as shown: a choice index becomes its option's text."""
        if self.type == "choice" and isinstance(value, int) and not self.by_value:
            return self.choices[value] if 0 <= value < len(self.choices) else value
        return value


def params_from_space_document(document: Mapping[str, Any]) -> list[ParamInfo]:
    """The parameters of a serialised space (``StudySettings.space``), parents first.

    Args:
        document: The output of :func:`hpo_service.space.to_document`.

    Returns:
        One :class:`ParamInfo` per label.
    """
    space = from_document(document)
    options = _choice_options(space)
    infos = []
    for spec in compile_space(space):
        conditional = bool(spec.conditions)
        if spec.kind == "choice" or (
            spec.kind == "randint" and spec.n_options <= _MAX_CATEGORIES
        ):
            labels = options.get(spec.label) or tuple(
                str(int((spec.low or 0) + i)) for i in range(spec.n_options)
            )
            infos.append(
                ParamInfo(spec.label, "choice", choices=labels, conditional=conditional)
            )
            continue
        low, high = _bounds(spec.kind, spec.log, spec.low, spec.high)
        if spec.kind == "randint":
            low, high = spec.low, (spec.high or 1) - 1
        integral = spec.kind == "randint" or spec.is_int or spec.q == 1
        kind: ParamType = "int" if integral else "float"
        infos.append(
            ParamInfo(spec.label, kind, spec.log, low, high, conditional=conditional)
        )
    return infos


def _bounds(
    kind: str, log: bool, low: float | None, high: float | None
) -> tuple[float | None, float | None]:
    if kind != "uniform" or low is None or high is None:
        return None, None
    return (math.exp(low), math.exp(high)) if log else (low, high)


def _choice_options(space: Any) -> dict[str, tuple[str, ...]]:
    """``{label: option texts}`` of every choice in the space.

    A label that several ``scope.switch`` calls share (hyperopt's ``hp.choice``
    over one ``hp.randint``, in several branches) names one index with an option
    per switch: each index shows its switches' texts, ``sgd / relu``, in the
    space's order (before, one switch's texts stood for all)."""
    found: dict[str, tuple[str, ...]] = {}
    for label, switches in choice_switches(space).items():
        texts = [
            tuple(_option_text(i, o) for i, o in enumerate(node.options))
            for node, _ in switches
        ]
        found[label] = tuple(
            middle_cut(" / ".join(dict.fromkeys(each)), _SHORT)
            for each in zip(*texts, strict=True)
        )
    return found


def middle_cut(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters by an ellipsis, keeping its start and
    the last third or so (options often differ only at their end: ``layer_1``,
    ``layer_2``); cutting a cut text again to fewer characters keeps only
    characters of the original."""
    if len(text) <= width:
        return text
    tail = (width - 1) // 3
    return text[: width - 1 - tail] + "…" + (text[-tail:] if tail else "")


def _option_text(index: int, option: Any) -> str:
    """A constant option shows as its value; a nested space as ``#i`` and a summary."""
    if _constant(option):
        return middle_cut(str(option), _SHORT)
    if isinstance(option, dict):
        parts = [f"{k}={v}" if _constant(v) else str(k) for k, v in option.items()]
        text = ",".join(parts)
        return f"#{index} {middle_cut(text, _SHORT)}"
    if isinstance(option, (Param, Choice)):
        return f"#{index} {option.label}"
    if isinstance(option, Expr):
        return f"#{index} expr"
    return f"#{index} {type(option).__name__}"


def _constant(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def infer_params(rows: Iterable[Mapping[str, Any]]) -> list[ParamInfo]:
    """Parameters inferred from values alone: numbers are floats, the rest choices.

    Args:
        rows: Each trial's ``{label: value}`` of active parameters.

    Returns:
        One :class:`ParamInfo` per label, in first-seen order.
    """
    values: dict[str, list[Any]] = {}
    rows = list(rows)
    for row in rows:
        for label, value in row.items():
            values.setdefault(label, []).append(value)
    infos = []
    for label, seen in values.items():
        conditional = len(seen) < len(rows)
        numeric = all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in seen
        )
        if numeric:
            kind: ParamType = (
                "int" if all(isinstance(v, int) for v in seen) else "float"
            )
            infos.append(ParamInfo(label, kind, conditional=conditional))
        else:
            choices = tuple(sorted({str(v) for v in seen}))
            infos.append(
                ParamInfo(
                    label,
                    "choice",
                    choices=choices,
                    conditional=conditional,
                    by_value=True,
                )
            )
    return infos
