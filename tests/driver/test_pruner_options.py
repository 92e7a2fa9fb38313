"""``hpo-driver start --pruner ...``: settings stored with the study, clear errors."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from hpo_service.driver._study_loop import Driver, StudyOutcome
from hpo_service.driver.cli import main
from hpo_service.store import TrialState, open_store

BASE = ["--study", "s", "--objective", "tests.e2e.objectives:curve",
        "--space", "tests.e2e.objectives:curve_space", "--max-evals", "1"]  # fmt: skip


def start(db_url, *args):
    return CliRunner().invoke(main, ["start", "--db", db_url, *BASE, *args])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pruner", "hyperband"],
         "`--max-resource` must be given with --pruner hyperband"),
        (["--pruner", "asha", "--min-resource", "10", "--max-resource", "5"],
         "`--min-resource <= --max-resource` must hold, but got --min-resource 10, "
         "--max-resource 5"),
        (["--pruner", "asha", "--early-stopping-rate", "4", "--max-resource", "27",
          "--reduction-factor", "3"],
         "but got --min-resource 1, --reduction-factor 3, --early-stopping-rate 4, "
         "--max-resource 27 (first rung at 81 steps)"),
        (["--pruner", "asha", "--early-stopping-rate", "10000", "--max-resource", "9",
          "--min-resource", "2", "--reduction-factor", "2"],
         "--early-stopping-rate 10000, --max-resource 9 (first rung at 16 steps)"),
        (["--pruner", "asha", "--early-stopping-rate", "1000000000",
          "--reduction-factor", "3"],
         "(the largest step) must hold, but got --early-stopping-rate 1000000000 "
         "(first rung at 12157665459056928801 steps)"),
        (["--pruner", "asha", "--percentile", "30"],
         "`--percentile` applies to --pruner percentile, but got --pruner asha"),
        (["--pruner", "median", "--max-resource", "9"],
         "`--max-resource` applies to --pruner asha|hyperband, "
         "but got --pruner median"),
        (["--warmup-steps", "3"],
         "`--warmup-steps` applies to --pruner median|percentile, "
         "but got --pruner (none given)"),
        (["--pruner", "asha", "--reduction-factor", "1"], "'--reduction-factor'"),
        (["--pruner", "percentile", "--percentile", "101"], "'--percentile'"),
        (["--pruner", "nope"], "'--pruner'"),
    ],
)  # fmt: skip
def test_bad_pruner_options_are_usage_errors(db_url, args, message):
    result = start(db_url, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    with open_store(db_url) as store:
        assert store.list_studies() == []


@pytest.mark.parametrize(
    ("args", "name", "settings"),
    [
        (["--pruner", "asha", "--max-resource", "27", "--reduction-factor", "4"],
         "asha", {"min_resource": 1, "max_resource": 27, "reduction_factor": 4,
          "min_early_stopping_rate": 0}),
        (["--pruner", "hyperband", "--min-resource", "2", "--max-resource", "18"],
         "hyperband", {"min_resource": 2, "max_resource": 18, "reduction_factor": 3}),
        (["--pruner", "percentile", "--percentile", "10", "--warmup-steps", "2",
          "--startup-trials", "1", "--interval-steps", "3"], "percentile",
         {"percentile": 10.0, "n_startup_trials": 1, "n_warmup_steps": 2,
          "interval_steps": 3, "n_min_trials": 1, "running_average": True}),
        ([], "none", {}),
    ],
)  # fmt: skip
def test_pruner_settings_are_stored(db_url, args, name, settings, monkeypatch):
    def no_trials(self):  # the study is created; do not drive it
        return StudyOutcome("max_evals", dict.fromkeys(TrialState, 0), None)

    monkeypatch.setattr(Driver, "run", no_trials)
    result = start(db_url, *args)
    assert result.exit_code == 1 and "no trial of study 's'" in result.output
    with open_store(db_url) as store:
        stored = store.get_study("s").settings
    assert (stored["pruner"], stored["pruner_settings"]) == (name, settings)


def test_another_pruner_on_resume_names_every_changed_setting(db_url):
    from hpo_service.algorithms.pruners import ASHAPruner
    from hpo_service.driver._study import open_study, space_settings
    from tests.e2e.objectives import curve_space

    asha = ASHAPruner(max_resource=9, min_early_stopping_rate=1)
    with open_store(db_url) as store:
        given = {"objective": "tests.e2e.objectives:curve", "max_evals": 1,
                 "pruner": "asha", "pruner_settings": asha.settings()}  # fmt: skip
        open_study(store, "s", {**given, **space_settings(curve_space)})
    changed = start(db_url, "--pruner", "asha", "--max-resource", "27",
                    "--early-stopping-rate", "2")  # fmt: skip
    assert changed.exit_code == 2
    message = " ".join(changed.output.split())  # click wraps long lines
    assert (
        "different pruner settings (pruner settings: stored -> given: max_resource "
        "9 -> 27, min_early_stopping_rate 1 -> 2); use another study name, or pass "
        "--override"
    ) in message
    other = start(db_url, "--pruner", "percentile", "--percentile", "10")
    message = " ".join(other.output.split())
    assert (
        "exists with a different pruner (pruner: stored asha(min_resource=1, "
        "max_resource=9, reduction_factor=2, min_early_stopping_rate=1), given "
        "percentile(percentile=10.0, n_startup_trials=5, n_warmup_steps=0, "
        "interval_steps=1, n_min_trials=1, running_average=True)); use"
    ) in message


def test_an_overridden_pruner_is_logged_once_with_both_sides(db_url, caplog):
    from hpo_service.algorithms.pruners import ASHAPruner, MedianPruner
    from hpo_service.driver._study import open_study, space_settings
    from tests.e2e.objectives import curve_space

    given = {"objective": "tests.e2e.objectives:curve", "max_evals": 1,
             **space_settings(curve_space)}  # fmt: skip
    asha = {"pruner": "asha", "pruner_settings": ASHAPruner(max_resource=9).settings()}
    median = {"pruner": "median", "pruner_settings": MedianPruner().settings()}
    with open_store(db_url) as store, caplog.at_level("WARNING"):
        open_study(store, "s", {**given, **asha})
        open_study(store, "s", {**given, **median}, override=True)
    assert [r.getMessage() for r in caplog.records] == [
        "study 's': overriding stored pruner (pruner: stored asha(min_resource=1, "
        "max_resource=9, reduction_factor=2, min_early_stopping_rate=0), given "
        "median(n_startup_trials=5, n_warmup_steps=0, interval_steps=1, "
        "n_min_trials=1, running_average=True))"
    ]


def test_pruner_options_without_pruner_on_resume_name_the_stored_pruner(
    db_url, monkeypatch
):
    def no_trials(self):  # the study is created or resumed; do not drive it
        self._release_driver_lease()
        return StudyOutcome("max_evals", dict.fromkeys(TrialState, 0), None)

    monkeypatch.setattr(Driver, "run", no_trials)
    start(db_url, "--pruner", "asha", "--max-resource", "27", "--min-resource", "3")
    changed = start(db_url, "--max-resource", "9")
    assert changed.exit_code == 2
    message = " ".join(changed.output.split())
    assert (
        "`--max-resource` needs --pruner: the study keeps its pruner asha("
        "min_resource=3, max_resource=27, reduction_factor=2, "
        "min_early_stopping_rate=0) unless --pruner and --override are given; to "
        "change its settings, pass --pruner asha --min-resource 3 --max-resource 9 "
        "--override"
    ) in message
    switch = start(db_url, "--percentile", "10")
    message = " ".join(switch.output.split())
    assert "to switch, pass --pruner percentile --percentile 10.0 --override" in message
    # the command the message gives does what it says
    done = start(db_url, "--pruner", "asha", "--min-resource", "3",
                 "--max-resource", "9", "--override")  # fmt: skip
    assert "no trial of study 's'" in done.output, done.output
    with open_store(db_url) as store:
        stored = store.get_study("s").settings["pruner_settings"]
    assert (stored["min_resource"], stored["max_resource"]) == (3, 9)


@pytest.mark.parametrize(
    ("args", "noted"),
    [
        (["--objectives", "error,size", "--pruner", "median"], True),
        (["--objectives", "error,size"], False),  # no pruner
        (["--objectives", "error", "--pruner", "median"], False),  # one objective
    ],
)
def test_a_pruner_of_several_objectives_says_what_it_compares(
    db_url, args, noted, monkeypatch
):
    """A new user could not tell from hpo-driver start's output whether pruning
    works with several objectives, nor on what: the driver says so when it starts
    (created or resumed)."""

    def no_trials(self):  # the study is created; do not drive it
        return StudyOutcome("max_evals", dict.fromkeys(TrialState, 0), None)

    monkeypatch.setattr(Driver, "run", no_trials)
    note = (
        "pruner median: each trial is judged by the one value its objective reports "
        "(report(value, step)), compared with the other trials' values at that "
        "step, not by the Pareto front"
    )
    output = " ".join(start(db_url, *args).output.split())
    assert (note in output) == noted, output


def test_a_stored_setting_the_pruner_no_longer_takes_is_not_kept():
    """Resuming with --pruner asha keeps the stored settings no flag gives, but
    only those ASHA takes: one it no longer takes (a study of an older version)
    stays a difference for the resume to name, not an error of the pruner's."""
    from hpo_service.driver._pruner_options import take_pruner

    stored = {"min_resource": 1, "max_resource": 9, "reduction_factor": 3,
              "min_early_stopping_rate": 0, "rung_cap": 4}  # fmt: skip
    given = {"pruner": "asha", **dict.fromkeys(_option_dests())}
    take_pruner(given, ("asha", stored))
    assert given["pruner_settings"] == {
        key: value for key, value in stored.items() if key != "rung_cap"
    }


def _option_dests() -> list[str]:
    from hpo_service.driver._pruner_options import _OPTIONS

    return list(_OPTIONS)
