"""TPE and MOTPE suggest exactly what they suggested when the traces were recorded.

The sampler's speed-ups must not change a single suggestion (the search's quality was
tuned on benchmarks/). The recorded traces (tests/helpers/tpe_traces.json) cover the
mixed 10-D space of the latency benchmark, the 100-parameter wide space, conditional
spaces, pending points with and without liar weights, batches, the startup phase,
other settings, failed trials and two objectives. A change meant to alter suggestions
records them again: ``python -m tests.helpers.tpe_traces --write``.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.helpers import tpe_traces


@pytest.fixture(scope="module")
def recorded():
    return json.loads(tpe_traces.RECORDED.read_text())


@pytest.mark.parametrize("case", tpe_traces.CASES, ids=lambda c: c.name)
def test_suggestions_are_the_recorded_ones_bit_for_bit(case, recorded):
    want = recorded[case.name]
    got = tpe_traces.replay(case)
    assert len(got) == len(want)
    for i, (point, expected) in enumerate(zip(got, want, strict=True)):
        # JSON text compares floats exactly and tells 1 from 1.0.
        assert json.dumps(point) == json.dumps(expected), (
            f"{case.name}: suggestion {i} differs; if that is intended, record "
            "again with `python -m tests.helpers.tpe_traces --write`"
        )


def test_the_comparison_notices_another_seed(recorded):
    case = tpe_traces.CASES[0]
    other = tpe_traces.replay(dataclasses.replace(case, seed=case.seed + 100))
    assert json.dumps(other) != json.dumps(recorded[case.name])
