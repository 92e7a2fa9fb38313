"""restore_types: a stored (JSON) config gets its space's tuples and key types back,
reading the space document only."""

from __future__ import annotations

import json

from hpo_service import hp
from hpo_service.objective._config import restore_types
from hpo_service.pyll import scope
from hpo_service.space import space_eval
from hpo_service.space._serialise import to_document

SPACE = {
    "model": hp.choice(
        "model",
        [("svm", {"C": hp.uniform("C", 0, 1)}), ("rf", {True: (1, 2), 1.5: "x"})],
    ),
    "nested": [(0, (1, [2, (3,)]))],
    "rounded": scope.int(hp.quniform("q", 0, 10, 1)),
}


def _round_trip(params):
    config = space_eval(SPACE, params)
    stored = json.loads(json.dumps(config))
    return config, stored, restore_types(to_document(SPACE), params, stored)


def test_every_branch_comes_back_as_space_eval_gives_it():
    for params in ({"model": 0, "C": 0.5, "q": 3.0}, {"model": 1, "q": 7.0}):
        config, stored, restored = _round_trip(params)
        assert stored != config  # JSON lost the tuples (and the keys)
        assert restored == config
        assert repr(restored) == repr(config)


def test_what_does_not_match_the_space_is_left_as_stored():
    document = to_document(SPACE)
    odd = {"model": ["svm"], "nested": "text", "extra": [1, 2]}
    assert restore_types(document, {"model": 0}, odd) == odd
    assert restore_types(document, {"model": 9}, {"model": [1, 2]}) == {"model": [1, 2]}
    assert restore_types(None, {}, [1, 2]) == [1, 2]
    assert restore_types({"root": [1]}, {}, [1]) == [1]
