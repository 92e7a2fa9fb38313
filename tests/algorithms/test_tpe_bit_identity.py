"""TPE and MOTPE suggest what they suggested when the traces were recorded.

The sampler's speed-ups must not change a single suggestion (the search's quality was
tuned on benchmarks/). The recorded traces (tests/helpers/tpe_traces.json) cover the
mixed 10-D space of the latency benchmark, the 100-parameter wide space, conditional
spaces, pending points with and without liar weights, batches, the startup phase,
other settings, failed trials and two objectives. A change meant to alter suggestions
records them again: ``python -m tests.helpers.tpe_traces --write``.

They were recorded, and the speed-ups checked, bit for bit (numpy 2.4.6, scipy 1.17.1).
Here a float may differ from the recorded one in its last digits (relative 1e-9), so
that another numpy, scipy or BLAS build's rounding does not fail the suite; a changed
suggestion (another candidate chosen, another kernel) differs by far more.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest

from tests.helpers import tpe_traces


@pytest.fixture(scope="module")
def recorded():
    return json.loads(tpe_traces.RECORDED.read_text())


def _same(got: Any, want: Any) -> bool:
    """Equal values of equal types (1 is not 1.0); floats to relative 1e-9."""
    if type(got) is not type(want):
        return False
    if isinstance(got, dict):
        return got.keys() == want.keys() and all(_same(got[k], want[k]) for k in got)
    if isinstance(got, list):
        return len(got) == len(want) and all(map(_same, got, want))
    if isinstance(got, float):
        return math.isclose(got, want, rel_tol=1e-9)
    return got == want


@pytest.mark.parametrize("case", tpe_traces.CASES, ids=lambda c: c.name)
def test_suggestions_are_the_recorded_ones(case, recorded):
    want = recorded[case.name]
    got = json.loads(json.dumps(tpe_traces.replay(case)))  # as recorded: JSON types
    assert len(got) == len(want)
    for i, (point, expected) in enumerate(zip(got, want, strict=True)):
        assert _same(point, expected), (
            f"{case.name}: suggestion {i} differs; if that is intended, record "
            "again with `python -m tests.helpers.tpe_traces --write`"
        )


def test_the_comparison_tells_types_and_values_apart():
    assert _same({"x": 1.0, "c": 2}, {"x": 1.0 + 1e-12, "c": 2})
    assert not _same({"x": 1.0}, {"x": 1.0 + 1e-6})
    assert not _same({"c": 1}, {"c": 1.0})
    assert not _same({"x": 1.0}, {"y": 1.0})


def test_the_comparison_notices_another_seed(recorded):
    case = tpe_traces.CASES[0]
    other = tpe_traces.replay(dataclasses.replace(case, seed=case.seed + 100))
    assert json.dumps(other) != json.dumps(recorded[case.name])
