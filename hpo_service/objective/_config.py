"""The config an objective receives on the store path, typed as in process.

A trial's config is stored as JSON, which has no tuples and only string keys, so a
space holding ``("svm", 1)`` or ``{1: "a"}`` gives the objective ``["svm", 1]`` or
``{"1": "a"}`` after a trip through the store, where in-process ``fmin`` passes the
tuple and the int key. :func:`restore_types` walks the study's stored space document
(see :mod:`hpo_service.space._serialise`) beside the config and the trial's params,
and turns those lists back into tuples and those keys back into their constants.

It only reads the document: no function of the space (``scope.define``) is imported
or called, so a worker runs no code but the objective it was allowed to run. The value
an operation returned is passed as stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["restore_types"]


def restore_types(document: Any, params: Mapping[str, Any], config: Any) -> Any:
    """``config`` with the tuples and non-string dict keys of its space restored.

    Args:
        document: The study's space document (``StudySettings.space``).
        params: The trial's params (``{label: value}``, a choice's option index).
        config: The trial's config as stored (JSON).

    Returns:
        The config as ``space_eval`` gives it in process; parts that do not match
        the document (a changed space, a point given outside it) are left as stored.
    """
    if not isinstance(document, Mapping) or "root" not in document:
        return config
    definitions = document.get("params")
    if not isinstance(definitions, Mapping):
        return config
    return _Restorer(definitions, params).node(document["root"], config)


class _Restorer:
    def __init__(self, definitions: Mapping[str, Any], params: Mapping[str, Any]):
        self._definitions = definitions
        self._params = params
        self._depth = 0

    def node(self, doc: Any, value: Any) -> Any:
        if isinstance(doc, list):
            return self._sequence(doc, value, list)
        if not isinstance(doc, Mapping):
            return value
        if "param" in doc:
            return self._param(doc["param"], value)
        if "tuple" in doc:
            return self._sequence(doc["tuple"], value, tuple)
        if "dict" in doc and isinstance(value, dict):
            items = doc["dict"]
            return {
                k: self.node(items[k], v) if k in items else v for k, v in value.items()
            }
        if "dict_items" in doc and isinstance(value, dict):
            return self._dict_items(doc["dict_items"], value)
        return value  # an operation's value, a non-finite float, or a mismatch

    def _sequence(self, docs: Any, value: Any, kind: type) -> Any:
        if not isinstance(value, list | tuple) or len(value) != len(docs):
            return value
        return kind(self.node(d, v) for d, v in zip(docs, value, strict=True))

    def _dict_items(self, pairs: Any, value: dict[str, Any]) -> dict[Any, Any]:
        keys: dict[str, tuple[Any, Any]] = {}
        for key_doc, item_doc in pairs:
            key = _constant(key_doc)
            keys[_json_key(key)] = (key, item_doc)
        out: dict[Any, Any] = {}
        for text, item in value.items():
            if text in keys:
                key, item_doc = keys[text]
                out[key] = self.node(item_doc, item)
            else:
                out[text] = item
        return out

    def _param(self, label: Any, value: Any) -> Any:
        definition = self._definitions.get(label)
        if not isinstance(definition, Mapping):
            return value
        if definition.get("hp") not in ("choice", "pchoice"):
            return value
        options, index = definition.get("options"), self._params.get(label)
        if not isinstance(index, int) or not isinstance(options, list):
            return value
        if not 0 <= index < len(options) or self._depth > 100:
            return value
        self._depth += 1
        try:
            return self.node(options[index], value)
        finally:
            self._depth -= 1


def _constant(doc: Any) -> Any:
    if isinstance(doc, Mapping) and "float" in doc:
        return float(doc["float"])
    return doc


def _json_key(key: Any) -> str:
    """The string JSON makes of a dict key: ``1`` -> ``"1"``, ``True`` -> ``"true"``."""
    return next(iter(json.loads(json.dumps({key: 0}))))
