"""The flat view of a search space that samplers work on.

A space written with ``hp.*`` is a tree of expressions. Samplers never walk that tree:
they see a :class:`CompiledSpace`, an ordered list of :class:`ParamSpec`, one per label,
parents (choices) before the parameters they enable.

Every parameter is described by its *base* distribution and a few transforms:

- ``kind="uniform"``: uniform on ``[low, high]``;
- ``kind="normal"``: normal with ``mu`` and ``sigma``;
- ``kind="randint"``: integers ``low, low+1, ..., high-1`` with equal probability,
  no order assumed (hyperopt's ``randint`` semantics);
- ``kind="choice"``: an index ``0..len(weights)-1`` drawn with ``weights``;
  ``categorical`` marks an ``hp.pchoice``, drawn as hyperopt draws it (a one-trial
  multinomial, even with equal weights, where ``hp.choice`` draws an integer).

For ``uniform`` and ``normal``, ``log=True`` means the base draw ``x`` becomes
``exp(x)`` (``low``/``high``/``mu``/``sigma`` are in log space, as in hyperopt), and
``q`` means the value is then rounded to a multiple of ``q`` (``round(v / q) * q``).
``is_int`` marks parameters whose value is handed to the objective as an ``int``
(``uniformint``).

A parameter is *active* when any one of its ``conditions`` holds; a condition is a tuple
of ``(choice_label, option_index)`` pairs that must all hold. A parameter with no
conditions is always active. ``params`` documents (what the store keeps) hold values of
active parameters only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

ParamKind = Literal["uniform", "normal", "randint", "choice"]
Condition = tuple[tuple[str, int], ...]


def plain_values(options: Sequence[Any]) -> tuple[Any, ...] | None:
    """A choice's ``options`` if each is a plain value (str, number, bool, None),
    else None."""
    plain = all(isinstance(o, str | int | float | None) for o in options)
    return tuple(options) if plain else None


@dataclass(frozen=True)
class ParamSpec:
    """One labelled hyperparameter of a compiled space (see the module docstring)."""

    label: str
    kind: ParamKind
    low: float | None = None
    high: float | None = None
    mu: float | None = None
    sigma: float | None = None
    q: float | None = None
    log: bool = False
    is_int: bool = False
    weights: tuple[float, ...] | None = None
    conditions: tuple[Condition, ...] = ()
    categorical: bool = False
    #: A choice's options when each is a plain value (str, number, bool, None),
    #: to name the index of one a user gives instead; None otherwise.
    values: tuple[Any, ...] | None = field(default=None, compare=False)

    @property
    def n_options(self) -> int:
        """Number of categories of a ``choice`` or ``randint`` parameter."""
        if self.kind == "choice":
            assert self.weights is not None
            return len(self.weights)
        if self.kind == "randint":
            assert self.low is not None and self.high is not None
            return int(self.high - self.low)
        raise TypeError(
            f"parameter {self.label!r} of kind {self.kind!r} has no options"
        )

    def is_active(self, values: Mapping[str, Any]) -> bool:
        """Whether this parameter is active given the (choice) values drawn so far."""
        if not self.conditions:
            return True
        return any(
            all(values.get(label) == index for label, index in condition)
            for condition in self.conditions
        )


@dataclass(frozen=True)
class CompiledSpace:
    """All parameters of a space, parents before children."""

    params: tuple[ParamSpec, ...]
    by_label: dict[str, ParamSpec] = field(init=False, repr=False, compare=False)
    draw_order: tuple[ParamSpec, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_label", {p.label: p for p in self.params})
        object.__setattr__(self, "draw_order", self._hyperopt_draw_order())

    def _hyperopt_draw_order(self) -> tuple[ParamSpec, ...]:
        """The order in which hyperopt's samplers draw the parameters of one point.

        Labels in reverse sorted order, each preceded by the choices it depends on
        (recursively, the same way). Drawing in this order (and with the same numpy
        calls) gives hyperopt's values for the same seed, on flat spaces and on the
        conditional ones tried; parents still come before their children.
        """
        ordered: dict[str, ParamSpec] = {}

        def emit(spec: ParamSpec) -> None:
            if spec.label in ordered:
                return
            parents = {label for c in spec.conditions for label, _ in c}
            for label in sorted(parents, reverse=True):
                emit(self.by_label[label])
            ordered[spec.label] = spec

        for label in sorted(self.by_label, reverse=True):
            emit(self.by_label[label])
        return tuple(ordered.values())

    def __iter__(self) -> Iterator[ParamSpec]:
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def __getitem__(self, label: str) -> ParamSpec:
        return self.by_label[label]

    def active_labels(self, values: Mapping[str, Any]) -> list[str]:
        """Labels active under ``values`` (which must hold every active choice)."""
        return [p.label for p in self.params if p.is_active(values)]
