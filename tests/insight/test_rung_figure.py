"""The rungs' figure of a Hyperband study, from the counts ``hpo-driver status``
gives (hand-counted): one bar per bracket's rung, labelled with both."""

from __future__ import annotations

import pytest

from hpo_service.algorithms.pruners import HyperbandPruner
from hpo_service.algorithms.pruners._ladder import last_step, pruning_ladder
from hpo_service.insight._rungs import rung_figure

SETTINGS = {"min_resource": 1, "max_resource": 9, "reduction_factor": 3}


def steps(last: int) -> int | None:
    return last_step({s: 1.0 for s in range(last + 1)})


def test_a_hyperband_figure_has_a_bar_per_bracket_and_rung():
    """Bracket 0 (rungs 1, 3): a trial pruned at 1, one done past 3, one running
    at 1 (not judged); bracket 1 (rung 3): one pruned at 3; bracket 2 has none."""
    pruner = HyperbandPruner(**SETTINGS)
    tids = {b: [t for t in range(40) if pruner.bracket_of(t) == b] for b in range(3)}
    trials = [
        (tids[0][0], "pruned", steps(1)),
        (tids[0][1], "done", steps(8)),
        (tids[0][2], "running", steps(1)),
        (tids[1][0], "pruned", steps(3)),
    ]
    record = pruning_ladder("hyperband", SETTINGS, trials).as_dict()
    fig = rung_figure(record)
    # x: a step under its bracket (plotly's two-level, multicategory axis)
    labels = [["bracket 0", "bracket 0", "bracket 1"], ["step 1", "step 3", "step 3"]]
    bars = {t.name: ([list(level) for level in t.x], list(t.y)) for t in fig.data}
    assert bars["passed"] == (labels, [1, 1, 0])
    assert bars["pruned"] == (labels, [1, 0, 1])
    assert bars["not judged yet"] == (labels, [1, 0, 0])
    # judged at bracket 0's rung 1: the pruned trial, then the done one
    assert bars["first half"][1] == pytest.approx([0.0, None, None])
    assert bars["last half"][1] == pytest.approx([1.0, None, None])
    # a half without judged trials gets no "0/0" text (it has no bar either)
    texts = {t.name: list(t.text) for t in fig.data if t.text is not None}
    assert texts == {"first half": ["0/1", "", ""], "last half": ["1/1", "", ""]}
    # three rungs: the panels side by side
    assert fig.layout.xaxis2.domain[0] > fig.layout.xaxis.domain[1]


def test_no_figure_before_a_trial_reached_a_rung_or_without_rungs():
    assert (
        rung_figure(pruning_ladder("asha", {}, [(0, "running", None)]).as_dict())
        is None
    )
    median = pruning_ladder("median", {}, [(0, "pruned", steps(2))]).as_dict()
    assert rung_figure(median) is None
