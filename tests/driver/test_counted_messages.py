"""Counts in the CLI's messages agree with their noun: 1 trial, 2 trials."""

from __future__ import annotations

from collections import Counter

import pytest

from hpo_service._common.words import counted
from hpo_service.driver import _output
from hpo_service.driver._warm_cli import _left_out_text
from hpo_service.exceptions import InvalidLoss
from hpo_service.objective._result import check_objective_count


def test_counted_is_singular_only_for_one():
    assert [counted(n, "trial") for n in (0, 1, 2)] == [
        "0 trials",
        "1 trial",
        "2 trials",
    ]


def test_messages_with_one_trial_say_trial():
    record = {"tid": 3, "result": {"loss": [0.5, 1.0]}, "params": {}, "config": {}}
    assert _output.front_text([record], None).startswith("Pareto front: 1 trial\n")
    assert _left_out_text(Counter(new=1)).startswith("; left out 1 trial (1 new): ")
    assert _left_out_text(Counter(pruned=1, error=2)).startswith("; left out 3 trials")


def test_the_front_shows_each_trials_constraint_values_when_it_has_some():
    """``hpo-driver best`` on a constrained study: the text gives what ``--json``
    gives (it showed the losses only)."""
    held = {"loss": [0.5, 1.0], "constraints": [-1.5, 0.0]}
    records = [
        {"tid": 3, "result": held, "params": {}, "config": {}},
        {"tid": 4, "result": {"loss": [1.0, 0.5]}, "params": {}, "config": {}},
    ]
    lines = _output.front_text(records, ["error", "cost"]).splitlines()
    assert lines[1:3] == [
        "  trial 3: error=0.5, cost=1",
        "    constraints: -1.5, 0 (<= 0 is satisfied)",
    ]
    assert lines[5] == "  trial 4: error=1, cost=0.5"
    assert not any("constraints" in line for line in lines[5:])


def test_a_loss_count_mismatch_counts_in_words():
    with pytest.raises(InvalidLoss) as info:
        check_objective_count({"status": "ok", "loss": [1.0, 2.0]}, 1)
    assert str(info.value).startswith(
        "the study has 1 objective, so a result must have 1 loss, but got 2"
    )
    with pytest.raises(InvalidLoss, match=r"has 3 objectives, .* must have 3 losses"):
        check_objective_count({"status": "ok", "loss": [1.0, 2.0]}, 3)
