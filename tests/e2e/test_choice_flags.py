"""Every option that takes one of a few words takes it in any letter case, and a
word that is none of them says which is closest (real ``hpo-driver`` processes on
SQLite).

Before, ``--pruner ASHA`` and ``--algo TPE`` were refused ("'ASHA' is not one of
'none', 'median', ...") although ``pruner="ASHA"`` works in Python.
"""

from __future__ import annotations

import json

import pytest

from hpo_service.store import open_store
from tests.worker.conftest import make_study

from .conftest import QUADRATIC

DRIVER = "hpo_service.driver.cli"


def _study_with_one_trial(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    with open_store(url) as store:
        make_study(store, "s", "tests.e2e.objectives:quadratic", [{"x": 0.5}])
    return url


def test_start_takes_algo_and_pruner_in_any_letter_case(procs, tmp_path):
    url = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    run = procs.run(
        DRIVER, "start", "--db", url, "--study", "s", *QUADRATIC,
        "--max-evals", "1", "--algo", "TPE", "--pruner", "ASHA", "--workers", "1",
        "--no-progress",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    with open_store(url) as store:
        settings = store.get_study("s").settings
    assert (settings["algorithm"], settings["pruner"]) == ("tpe", "asha"), settings


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--format", "JSON"), ("--state", "NEW"), ("--status", "OK")],
)
def test_trials_takes_its_words_in_any_letter_case(procs, tmp_path, flag, value):
    url = _study_with_one_trial(tmp_path)
    run = procs.run(DRIVER, "trials", "--db", url, "--study", "s", flag, value)
    assert run.returncode == 0, run.stderr
    if flag == "--format":
        assert [t["state"] for t in json.loads(run.stdout)] == ["new"], run.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["start", "--algo", "tp"],
         "Invalid value for '--algo': 'tp' is not one of 'tpe', 'rand', 'motpe', "
         "'anneal', 'grid', 'mix'; did you mean 'tpe'?"),
        (["start", "--pruner", "hyperbnd"], "did you mean 'hyperband'?"),
        (["trials", "--format", "jsn"], "did you mean 'json'?"),
        (["trials", "--state", "runing"], "did you mean 'running'?"),
        (["report", "--format", "sgv"], "did you mean 'svg'?"),
    ],
)  # fmt: skip
def test_a_word_that_is_none_of_the_choices_names_the_closest(procs, args, message):
    run = procs.run(DRIVER, *args, "--study", "s")
    assert run.returncode == 2, run.stderr
    assert message in " ".join(run.stderr.split()), run.stderr
