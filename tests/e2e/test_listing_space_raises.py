"""``hpo-driver trials`` of a study whose space, changed with ``--override``, raises on
an earlier trial's params (its own code, here a division by zero): that trial's
``param.<label>.value`` cell is empty, as for any point the space does not give (the
rule of ``driver._study.config_made``), and the listing goes on."""

from __future__ import annotations

import csv
import io

from hpo_service import hp
from hpo_service.driver._study import open_study, space_settings
from hpo_service.pyll import scope
from hpo_service.store import FinishedTrial, open_store
from tests.e2e.conftest import Processes

DRIVER = "hpo_service.driver.cli"
PLAIN = {"m": hp.choice("m", [{"v": hp.uniform("x", -1.0, 1.0)}, 2])}
#: 1 // int(x): raises for -1 < x < 1.
DIVIDING = {"m": hp.choice("m", [{"v": 1 // scope.int(hp.uniform("x", -1.0, 1.0))}, 2])}


def test_a_space_raising_on_an_earlier_trial_leaves_its_value_cell_empty(
    procs: Processes, tmp_path
) -> None:
    """Before, `hpo-driver trials` ended in a ZeroDivisionError traceback."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    ok = {"loss": 1.0, "status": "ok"}
    with open_store(db, create=True) as store:
        given = {"objective": "tests.e2e.objectives:quadratic", "max_evals": 9}
        open_study(store, "s", {**given, **space_settings(PLAIN)})
        store.insert_finished("s", [
            FinishedTrial({"m": 0, "x": 0.5}, {"m": {"v": 0.5}}, ok),
            FinishedTrial({"m": 0, "x": 1.0}, {"m": {"v": 1.0}}, ok),
            FinishedTrial({"m": 1}, {"m": 2}, ok),
        ])  # fmt: skip
        open_study(store, "s", {**given, **space_settings(DIVIDING)}, override=True)
    run = procs.run(DRIVER, "trials", "--db", db, "--study", "s", "--format", "csv")
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert [row["param.m.value"] for row in rows] == ["", '{"v": 1}', "2"]


def test_a_dict_options_value_cell_keeps_the_spaces_key_order(
    procs: Processes, tmp_path
) -> None:
    """The cell gave the option's keys sorted ({"depth": .., "n": .., "type": "rf"})
    where the trial's config, and the objective, have the space's order."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    svm = {"type": "svm", "c": hp.uniform("c", 0, 1)}
    space = {"clf": hp.choice("clf", [svm, {"type": "rf", "n": 10, "depth": 3}])}
    with open_store(db, create=True) as store:
        given = {"objective": "tests.e2e.objectives:quadratic", "max_evals": 9}
        open_study(store, "s", {**given, **space_settings(space)})
        store.insert_finished("s", [
            FinishedTrial({"clf": 1}, {"clf": {"type": "rf", "n": 10, "depth": 3}},
                          {"loss": 1.0, "status": "ok"}),
        ])  # fmt: skip
    run = procs.run(DRIVER, "trials", "--db", db, "--study", "s", "--format", "csv")
    assert run.returncode == 0, run.stderr
    (row,) = csv.DictReader(io.StringIO(run.stdout))
    assert row["param.clf.value"] == '{"type": "rf", "n": 10, "depth": 3}'
