"""The words `hpo-driver start` (and ``fmin`` on a store) use for a changed space:
each changed label as the space writes it (``hp.quniform('a', 1.0, 9.0, 2.0)``),
and where only its place in the space or a choice's weights changed, the compiled
parameter with its conditions and weights."""

from __future__ import annotations

import math

from hpo_service import hp
from hpo_service.driver._study import space_difference
from hpo_service.space import to_document


def difference(old: dict, new: dict) -> str:
    return space_difference(to_document(old), to_document(new))


def test_a_changed_parameter_is_named_as_the_space_writes_it():
    old = {"lr": hp.qloguniform("lr", math.log(1), math.log(100), 1),
           "units": hp.quniform("units", 16, 256, 16)}  # fmt: skip
    new = {"lr": hp.loguniform("lr", math.log(1), math.log(100)),
           "units": hp.quniform("units", 16, 512, 16)}  # fmt: skip
    said = difference(old, new)
    assert said == (
        "space: lr changed from hp.qloguniform('lr', 0.0, 4.605170185988092, 1.0) "
        "to hp.loguniform('lr', 0.0, 4.605170185988092); units changed from "
        "hp.quniform('units', 16.0, 256.0, 16.0) to hp.quniform('units', 16.0, "
        "512.0, 16.0)"
    )


def test_a_nested_parameter_and_a_choices_options_are_named_too():
    old = {"net": hp.choice("net", [{"depth": hp.quniform("depth", 1, 9, 2)}, "lin"])}
    new = {"net": hp.choice("net", [{"depth": hp.quniform("depth", 1, 11, 2)},
                                    "lin", "rf"])}  # fmt: skip
    said = difference(old, new)
    assert "depth changed from hp.quniform('depth', 1.0, 9.0, 2.0) to " in said
    assert "hp.quniform('depth', 1.0, 11.0, 2.0)" in said
    assert "net changed from hp.choice('net', <2 options>) to " in said
    assert "hp.choice('net', <3 options>)" in said


def test_a_moved_or_reweighted_parameter_shows_conditions_and_weights():
    """The same ``hp.*`` expression on both sides: its expression alone would read
    "changed from X to X"."""
    old = {"net": hp.choice("net", [{"b": hp.uniform("b", 0, 1)}, "lin"]),
           "p": hp.pchoice("p", [(0.5, "a"), (0.5, "b")])}  # fmt: skip
    new = {"net": hp.choice("net", ["lin", "rf"]), "b": hp.uniform("b", 0, 1),
           "p": hp.pchoice("p", [(0.2, "a"), (0.8, "b")])}  # fmt: skip
    said = difference(old, new)
    assert (
        "b changed from uniform(low=0.0, high=1.0, conditions=((('net', 0),),)) "
        "to uniform(low=0.0, high=1.0)"
    ) in said
    assert "p changed from choice(weights=(0.5, 0.5), " in said
    assert "to choice(weights=(0.2, 0.8), " in said
