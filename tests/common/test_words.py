"""The "did you mean" hint every command gives for a mistyped name (a study, a
module, an attribute, an algorithm setting)."""

from __future__ import annotations

import pytest

from hpo_service._common.words import did_you_mean, did_you_mean_each


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


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        (["gama"], "; did you mean 'gamma'?"),
        (["gama", "zzz", "n_startup"],
         "; did you mean 'gamma' (for 'gama') or 'n_startup_jobs' (for 'n_startup')?"),
        (["zzz", "qqq"], ""),
    ],
)  # fmt: skip
def test_several_unknown_settings_each_get_the_closest_name(typed, hint):
    """Unknown algorithm settings: before, the message listed every one of TPE's
    34 settings and left the user to find 'gamma' for 'gama'."""
    names = ["gamma", "n_startup_jobs", "n_ei_candidates", "prior_weight"]
    assert did_you_mean_each(typed, names) == hint
