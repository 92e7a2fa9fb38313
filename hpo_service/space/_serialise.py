"""Spaces as JSON documents (what a study stores) and their fingerprints.

A document looks like::

    {"format": "hpo-service/space", "version": 1,
     "params": {"lr": {"hp": "loguniform", "low": -9.0, "high": 0.0},
                "clf": {"hp": "choice", "options": ["svm", {"param": "lr"}]}},
     "root": {"dict": {"classifier": {"param": "clf"}}}}

Every labelled expression is defined once under ``params`` and referred to as
``{"param": label}``; a choice that shares its label with the ``hp.randint``
indexing it (a ``scope.switch`` beside its index's own value) is stored as that
switch, ``{"op": "switch", "args": [{"param": label}, *options]}``, over the
randint. In ``root`` (and in options) JSON scalars and lists stand for themselves;
every object is tagged by its one key: ``param``, ``op`` (with ``args``),
``tuple``, ``dict``, ``dict_items`` (dicts with non-str keys) or ``float`` (nan, inf).
An ``op`` may carry ``kwargs`` (``{name: node}``) and, for a function that
``scope.define`` registered, ``ref``: its import reference ``module:qualname``, imported
when the document is read (never unpickled). NumPy constants are stored as the plain
values they hold.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from hpo_service.exceptions import SpaceError
from hpo_service.space import hp
from hpo_service.space._compile import (
    Path,
    compile_space,
    format_path,
    indexed_choices,
)
from hpo_service.space._expr import (
    BUILTIN_OPS,
    DIST_ARGS,
    OPS,
    Choice,
    Labelled,
    Op,
    Param,
)
from hpo_service.space._scope import stored_switch

FORMAT = "hpo-service/space"
VERSION = 1
_SCALARS = (type(None), bool, int, float, str)


def to_document(space: Any) -> dict[str, Any]:
    """Serialise ``space`` into a JSON-able document.

    Args:
        space: A search space whose constants are None, bools, numbers or strings.

    Returns:
        A dict of dicts, lists, str, int, float, bool and None only.

    Raises:
        SpaceError: The space is invalid, or holds a constant JSON cannot represent
            (such a space still works in-process, but cannot be stored).
    """
    compile_space(space)  # rejects duplicate labels and self-containing spaces
    writer = _Writer(indexed_choices(space))
    root = writer.node(space, ())
    return {"format": FORMAT, "version": VERSION, "params": writer.params, "root": root}


def from_document(document: Mapping[str, Any]) -> Any:
    """Rebuild the space that :func:`to_document` serialised.

    Raises:
        SpaceError: The document is malformed or of an unknown format or version.
    """
    if not isinstance(document, Mapping) or document.get("format") != FORMAT:
        raise SpaceError(f"`format == {FORMAT!r}` must hold for a space document")
    if document.get("version") != VERSION:
        raise SpaceError(
            f"`version == {VERSION}` must hold for a space document, "
            f"but got version={document.get('version')!r}"
        )
    try:
        return _Reader(document["params"]).node(document["root"])
    except SpaceError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise SpaceError(f"malformed space document: {type(e).__name__}: {e}") from e


def code_references(document: Any) -> list[str]:
    """The import references (``module:qualname``) of the ``scope.define``
    functions a space document calls, each once, in the order met: the user's
    own code that a stored space imports when it is read.

    Args:
        document: A document of :func:`to_document` (or any part of one).
    """
    found: dict[str, None] = {}
    if isinstance(document, Mapping):
        if isinstance(document.get("ref"), str):
            found[document["ref"]] = None
        for value in document.values():
            found.update(dict.fromkeys(code_references(value)))
    elif isinstance(document, list):
        for value in document:
            found.update(dict.fromkeys(code_references(value)))
    return list(found)


def fingerprint(space: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``to_document(space)``.

    Equal for equal spaces, in any process; different when any label, bound, option
    or structure differs.

    Raises:
        SpaceError: As :func:`to_document`.
    """
    text = json.dumps(
        to_document(space),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )
    return hashlib.sha256(text.encode("ascii")).hexdigest()


class _Writer:
    def __init__(self, indexed: set[str]) -> None:
        self.params: dict[str, Any] = {}
        self._indexed = indexed  # see indexed_choices

    def node(self, node: Any, path: Path) -> Any:
        if isinstance(node, Choice) and node.label in self._indexed:
            return self._switch(node, path)
        if isinstance(node, (Param, Choice)):
            if node.label not in self.params:
                self.params[node.label] = None  # keeps parents before children
                self.params[node.label] = self._definition(node, path)
            return {"param": node.label}
        if isinstance(node, Op):
            return self._op(node, path)
        if isinstance(node, np.ndarray):
            return self.node(node.tolist(), path)
        if isinstance(node, (list, tuple)):
            items = [self.node(v, (*path, f"[{i}]")) for i, v in enumerate(node)]
            return items if isinstance(node, list) else {"tuple": items}
        if isinstance(node, dict):
            return self._dict(node, path)
        return _constant(node, path)

    def _op(self, node: Op, path: Path) -> dict[str, Any]:
        step = f"<{node.name} arg "
        doc: dict[str, Any] = {
            "op": node.name,
            "args": [
                self.node(a, (*path, f"{step}{i}>")) for i, a in enumerate(node.args)
            ],
        }
        if node.kwargs:
            doc["kwargs"] = {
                k: self.node(v, (*path, f"{step}{k}>")) for k, v in node.kwargs
            }
        if node.name not in BUILTIN_OPS:
            doc["ref"] = _reference_of_op(node.name, path)
        return doc

    def _switch(self, node: Choice, path: Path) -> dict[str, Any]:
        """A choice whose label also names the randint that indexes it, as the
        ``scope.switch`` over that randint it came from."""
        index = self.node(hp.randint(node.label, len(node.options)), path)
        options = [
            self.node(o, (*path, f"<{node.label}={i}>"))
            for i, o in enumerate(node.options)
        ]
        return {"op": "switch", "args": [index, *options]}

    def _dict(self, node: dict[Any, Any], path: Path) -> dict[str, Any]:
        if all(type(k) is str for k in node):
            return {
                "dict": {k: self.node(v, (*path, f"[{k!r}]")) for k, v in node.items()}
            }
        items = [
            [_constant(k, (*path, f" key {k!r}")), self.node(v, (*path, f"[{k!r}]"))]
            for k, v in node.items()
        ]
        return {"dict_items": items}

    def _definition(self, node: Labelled, path: Path) -> dict[str, Any]:
        if isinstance(node, Param):
            return {"hp": node.dist, **node.named_args}
        options = [
            self.node(o, (*path, f"<{node.label}={i}>"))
            for i, o in enumerate(node.options)
        ]
        if node.probs is None:
            return {"hp": "choice", "options": options}
        return {"hp": "pchoice", "p": list(node.probs), "options": options}


def _reference_of_op(name: str, path: Path) -> str:
    """``module:qualname`` of a ``scope.define`` function, if it can be imported."""
    function = OPS.get(name)
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", "")
    if function is None or module in (None, "__main__") or "<" in qualname:
        raise SpaceError(
            f"scope.{name} at {format_path(path)} must be a top-level function of an "
            "importable module (not __main__, a lambda or a nested function) to store "
            "the space (such a space works in-process only)"
        )
    return f"{module}:{qualname}"


def _constant(value: Any, path: Path) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if type(value) not in _SCALARS:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise SpaceError(
            f"constants must be None, bool, int, float or str to store a space, but "
            f"{format_path(path)} is {type(value).__name__} {shown} "
            "(such a space works in-process only)"
        )
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": repr(value)}
    return value


class _Reader:
    def __init__(self, definitions: Mapping[str, Any]) -> None:
        self._definitions = definitions
        self._built: dict[str, Labelled] = {}
        self._building: set[str] = set()
        self._switches: dict[str, Any] = {}  # one node per stored switch

    def node(self, doc: Any) -> Any:
        if isinstance(doc, list):
            return [self.node(d) for d in doc]
        if not isinstance(doc, Mapping):
            return doc
        if "param" in doc:
            return self._param(doc["param"])
        if "op" in doc:
            return self._op(doc)
        if "tuple" in doc:
            return tuple(self.node(d) for d in doc["tuple"])
        if "dict" in doc:
            return {k: self.node(v) for k, v in doc["dict"].items()}
        if "dict_items" in doc:
            return {self.node(k): self.node(v) for k, v in doc["dict_items"]}
        if "float" in doc:
            return float(doc["float"])
        raise SpaceError(f"unknown node {dict(doc)!r} in space document")

    def _op(self, doc: Mapping[str, Any]) -> Any:
        name = doc["op"]
        if name == "switch" and "kwargs" not in doc:  # a choice indexed by a randint
            return self._switch(doc)
        if name not in OPS and "ref" in doc:
            _define_from_reference(name, doc["ref"])
        if name not in OPS:
            raise SpaceError(f"unknown operation {name!r} in space document")
        kwargs = tuple((k, self.node(v)) for k, v in doc.get("kwargs", {}).items())
        return Op(name, tuple(self.node(a) for a in doc["args"]), kwargs)

    def _switch(self, doc: Mapping[str, Any]) -> Any:
        """``scope.switch`` of the stored arguments (a choice, over a randint of as
        many values as options); the same stored switch twice is one node."""
        key = json.dumps(doc["args"], sort_keys=True)
        if key not in self._switches:
            self._switches[key] = stored_switch(*self.node(doc["args"]))
        return self._switches[key]

    def _param(self, label: str) -> Labelled:
        if label in self._built:
            return self._built[label]
        if label in self._building or label not in self._definitions:
            raise SpaceError(f"param {label!r} is undefined or contains itself")
        self._building.add(label)
        with hp.stored_labels():  # as written then, even by older versions
            self._built[label] = self._define(label, dict(self._definitions[label]))
        return self._built[label]

    def _define(self, label: str, definition: dict[str, Any]) -> Labelled:
        dist = definition.pop("hp")
        if dist == "choice":
            return hp.choice(label, self.node(definition["options"]))
        if dist == "pchoice":
            options = self.node(definition["options"])
            return hp.pchoice(label, list(zip(definition["p"], options, strict=True)))
        if dist not in DIST_ARGS:
            raise SpaceError(f"unknown distribution {dist!r} of {label!r}")
        with warnings.catch_warnings():  # said once, where the space was written
            warnings.filterwarnings("ignore", r"hp\.q?loguniform\(", UserWarning)
            param: Param = getattr(hp, dist)(label, **definition)
        return param


def _define_from_reference(name: str, ref: str) -> None:
    """Import a ``scope.define`` function stored as ``module:qualname``."""
    from hpo_service.objective._reference import import_reference

    try:
        function = import_reference(ref)
    except (ImportError, ValueError) as e:
        raise SpaceError(
            f"the space uses scope.{name} from {ref!r}, which cannot be imported "
            f"here: {e}"
        ) from e
    OPS.setdefault(name, function)
