"""Flatten a space into a ``CompiledSpace``: a spec per label, with conditions."""

from __future__ import annotations

import dataclasses
from typing import Any

from hpo_service.exceptions import DuplicateLabel, SpaceError
from hpo_service.space._expr import Choice, Labelled, Op, Param
from hpo_service.space._spec import CompiledSpace, Condition, ParamSpec, plain_values

Path = tuple[str, ...]


def compile_space(space: Any) -> CompiledSpace:
    """Flatten ``space`` into its parameters, parents (choices) before children.

    Args:
        space: A nesting of dicts, lists, tuples, constants and ``hp`` expressions.

    Returns:
        The compiled space. A parameter inside option ``i`` of choice ``c`` gets the
        condition ``(("c", i),)``; nested choices add up; a parameter reached along
        several paths is active when any of them is taken.

    Raises:
        SpaceError: Two different expressions share a label (but for
            ``hp.randint(label, n)`` and the ``scope.switch`` calls over it,
            hyperopt's ``hp.choice``: one choice parameter), a label is another's
            followed by ``.value`` (their CSV columns would clash), or the space
            contains itself.
    """
    collector = _Collector()
    collector.visit(space, (), ())
    _check_value_columns(collector.nodes)
    specs = {
        label: dataclasses.replace(
            spec_of(node), conditions=_simplified(collector.conditions[label])
        )
        for label, node in collector.nodes.items()
    }
    return CompiledSpace(_parents_first(specs))


def _check_value_columns(nodes: dict[str, Labelled]) -> None:
    """Refuse labels ``x`` and ``x.value`` in one space: a choice ``x`` writes its
    chosen option in the CSV column ``param.x.value``, and ``import`` reads that
    column as the option, not as a parameter."""
    for label in nodes:
        if label.endswith(".value") and label[: -len(".value")] in nodes:
            raise SpaceError(
                f"label {label!r} must not be another label followed by '.value' "
                f"(the CSV export names the option chosen by {label[:-6]!r} "
                f"param.{label}), but the space has both; rename one"
            )


def labelled_nodes(space: Any) -> dict[str, Labelled]:
    """Every labelled expression of ``space`` by label, in first-seen order.

    Raises:
        SpaceError: As :func:`compile_space`.
    """
    collector = _Collector()
    collector.visit(space, (), ())
    return dict(collector.nodes)


def choice_switches(space: Any) -> dict[str, list[tuple[Choice, list[Condition]]]]:
    """Every choice of ``space`` by label, each with the conditions under which it
    is reached (any one of them taken reaches it; ``()`` is no condition), in
    first-seen order.

    A label names several choices when ``scope.switch`` calls over one
    ``hp.randint`` (hyperopt's ``hp.choice``) stand in several branches, or side
    by side: one parameter (the option's index), a chosen option per switch.

    Raises:
        SpaceError: As :func:`compile_space`.
    """
    collector = _Collector()
    collector.visit(space, (), ())
    return {label: list(found.values()) for label, found in collector.choices.items()}


def indexed_choices(space: Any) -> set[str]:
    """The labels of ``space`` that name both ``hp.randint(label, n)`` and a choice
    of ``n`` options (a ``scope.switch`` over that randint): one parameter, whose
    value is the option's index (see :func:`compile_space`).

    Raises:
        SpaceError: As :func:`compile_space`.
    """
    collector = _Collector()
    collector.visit(space, (), ())
    return collector.indexed


def format_path(path: Path) -> str:
    """``("['a']", "[0]")`` -> ``"space['a'][0]"``, for error messages."""
    return "space" + "".join(path)


def spec_of(node: Labelled) -> ParamSpec:
    """The unconditional :class:`ParamSpec` of one labelled expression."""
    if isinstance(node, Choice):
        n = len(node.options)
        probs = node.probs or (1.0,) * n
        total = sum(probs)
        weights = tuple(p / total for p in probs)
        return ParamSpec(
            node.label,
            "choice",
            weights=weights,
            categorical=node.probs is not None,
            values=plain_values(node.options),
        )
    args = node.named_args
    if node.dist == "randint":
        return ParamSpec(node.label, "randint", low=args["low"], high=args["high"])
    kind = "normal" if "normal" in node.dist else "uniform"
    q = args.pop("q", 1.0 if node.dist == "uniformint" else None)
    return ParamSpec(
        node.label,
        kind,
        **args,
        q=q,
        log="log" in node.dist,
        is_int=node.dist == "uniformint",
    )


class _Collector:
    """Walks a space once, recording each labelled node and the paths to it."""

    def __init__(self) -> None:
        self.nodes: dict[str, Labelled] = {}
        self.paths: dict[str, Path] = {}
        self.conditions: dict[str, list[Condition]] = {}
        self.indexed: set[str] = set()  # a randint and the choice it indexes
        #: label -> id(choice) -> (choice, conditions reaching it)
        self.choices: dict[str, dict[int, tuple[Choice, list[Condition]]]] = {}
        self._done: set[tuple[int, Condition]] = set()
        self._open: set[int] = set()

    def visit(self, node: Any, condition: Condition, path: Path) -> None:
        _refuse_foreign(node, path)
        if isinstance(node, (Param, Choice)):
            self._register(node, condition, path)
        children = list(_children(node, condition))
        if not children:
            return
        key = (id(node), condition)
        if id(node) in self._open:
            raise SpaceError(
                f"a space must not contain itself, but {format_path(path)} does"
            )
        if key in self._done:
            return
        self._done.add(key)
        self._open.add(id(node))
        for step, child, child_condition in children:
            self.visit(child, child_condition, (*path, step))
        self._open.discard(id(node))

    def _register(self, node: Labelled, condition: Condition, path: Path) -> None:
        first = self.nodes.setdefault(node.label, node)
        if first is not node and _one_choice(first, node):
            self.indexed.add(node.label)
            if isinstance(first, Param):  # a choice's options name the values
                self.nodes[node.label] = node
        elif first is not node:
            raise DuplicateLabel(
                f"label {node.label!r} must name one expression, but {first!r} at "
                f"{format_path(self.paths[node.label])} and {node!r} at "
                f"{format_path(path)} are different; reuse one object to share it"
            )
        self.paths.setdefault(node.label, path)
        conditions = self.conditions.setdefault(node.label, [])
        if condition not in conditions:
            conditions.append(condition)
        if isinstance(node, Choice):
            switches = self.choices.setdefault(node.label, {})
            reached = switches.setdefault(id(node), (node, []))[1]
            if condition not in reached:
                reached.append(condition)


def _one_choice(a: Labelled, b: Labelled) -> bool:
    """Whether ``a`` and ``b`` are one parameter: ``hp.randint(label, n)`` and an
    unweighted choice of ``n`` options, or two switches over one such randint.
    hyperopt's ``hp.choice(label, options)`` is ``scope.switch(hp.randint(label,
    len(options)), *options)`` (ours makes such a switch a choice:
    :meth:`~hpo_service.space._scope.Scope.switch`), and a ported space may use that
    randint's value beside the switch (the option's index), or index several
    switches with it."""
    if isinstance(a, Choice) and isinstance(b, Choice):
        switches = getattr(a, "switch", False) and getattr(b, "switch", False)
        return switches and len(a.options) == len(b.options)  # (older pickles: none)
    if isinstance(a, Choice):
        a, b = b, a
    return (
        isinstance(a, Param)
        and isinstance(b, Choice)
        and b.probs is None
        and a.dist == "randint"
        and tuple(a.args) == (0, len(b.options))
    )


def _refuse_foreign(node: Any, path: Path) -> None:
    """A hyperopt expression (built with ``hyperopt.hp``) is named, not taken as a
    constant: the usual slip when porting is one import left unchanged."""
    module = type(node).__module__ or ""
    if module == "hyperopt" or module.startswith("hyperopt."):
        raise SpaceError(
            f"{format_path(path)} is a hyperopt expression ({module}."
            f"{type(node).__name__}): use `hpo_service.hp` (`from hpo_service "
            "import hp`) to build the space, not `hyperopt.hp`"
        )


def _children(node: Any, condition: Condition) -> list[tuple[str, Any, Condition]]:
    if isinstance(node, dict):
        return [(f"[{k!r}]", v, condition) for k, v in node.items()]
    if isinstance(node, (list, tuple)):
        return [(f"[{i}]", v, condition) for i, v in enumerate(node)]
    if isinstance(node, Choice):
        return [
            (f"<{node.label}={i}>", option, (*condition, (node.label, i)))
            for i, option in enumerate(node.options)
        ]
    if isinstance(node, Op):
        return [
            (f"<{node.name} arg {i}>", a, condition) for i, a in enumerate(node.args)
        ] + [(f"<{node.name} arg {k}>", v, condition) for k, v in node.kwargs]
    return []


def _simplified(conditions: list[Condition]) -> tuple[Condition, ...]:
    """Drop conditions implied by another one; no conditions if one path is free."""
    if () in conditions:
        return ()
    sets = [frozenset(c) for c in conditions]
    return tuple(
        c for c, s in zip(conditions, sets, strict=True) if not any(o < s for o in sets)
    )


def _parents_first(specs: dict[str, ParamSpec]) -> tuple[ParamSpec, ...]:
    """Keep first-seen order but move every choice before the params it enables."""
    ordered: dict[str, ParamSpec] = {}

    def emit(spec: ParamSpec) -> None:
        if spec.label in ordered:
            return
        for condition in spec.conditions:
            for label, _ in condition:
                emit(specs[label])
        ordered[spec.label] = spec

    for spec in specs.values():
        emit(spec)
    return tuple(ordered.values())
