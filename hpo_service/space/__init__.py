"""Search spaces: hyperopt-style expressions, compilation, sampling and storage.

``from hpo_service.space import hp, space_eval`` replaces ``from hyperopt import hp,
space_eval``. A space is any nesting of dicts, lists, tuples, constants and ``hp``
expressions (arithmetic on expressions included).
"""

from __future__ import annotations

from hpo_service.space import hp
from hpo_service.space._compile import compile_space
from hpo_service.space._eval import space_eval, validate_params
from hpo_service.space._sample import sample, sample_params
from hpo_service.space._serialise import fingerprint, from_document, to_document
from hpo_service.space._spec import CompiledSpace, ParamSpec

__all__ = [
    "CompiledSpace",
    "ParamSpec",
    "compile_space",
    "fingerprint",
    "from_document",
    "hp",
    "sample",
    "sample_params",
    "space_eval",
    "to_document",
    "validate_params",
]
