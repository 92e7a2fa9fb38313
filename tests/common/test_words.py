"""The "did you mean" hint every command gives for a mistyped name (a study, a
module, an attribute, an algorithm setting)."""

from __future__ import annotations

import pytest

from hpo_service._common.words import did_you_mean


@pytest.mark.parametrize(
    ("typed", "names", "hint"),
    [
        ("MNIST", ["mnist", "cifar"], "; did you mean 'mnist'?"),
        ("S1", ["s1", "s1copy", "other"], "; did you mean 's1'?"),
        ("Quadratic", ["quadratic"], "; did you mean 'quadratic'?"),
        ("svc", ["SVC", "Svc", "lasso"], "; did you mean 'SVC' or 'Svc'?"),
        ("nosy", ["noisy", "quadratic"], "; did you mean 'noisy'?"),
        ("zzz", ["noisy", "quadratic"], ""),
    ],
)
def test_a_typo_in_another_case_is_answered_with_the_name(typed, names, hint):
    """Before, the names were compared as typed: a study 'mnist' given as
    `--study MNIST` (or 's1' as 'S1') got no hint, only the list of studies."""
    assert did_you_mean(typed, names) == hint


def test_the_hint_shows_each_match_in_the_form_given():
    assert did_you_mean("Objective", ["objective", "space"], shown="m:{}") == (
        "; did you mean 'm:objective'?"
    )
