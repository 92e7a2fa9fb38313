"""A label that several ``scope.switch`` calls share (hyperopt's ``hp.choice`` over
one ``hp.randint``, in several branches or side by side) is one parameter, the
option's index, with an option per switch: the trials CSV's ``param.<label>.value``
shows the option of the switch the trial reached (before: the first switch's, in
every branch), and the report's axes name every switch's option. Real
``hpo-driver`` and ``hpo-worker`` processes, on SQLite."""

from __future__ import annotations

import csv
import io
import json

from hpo_service.insight._params import params_from_space_document
from hpo_service.space import to_document
from tests.e2e.conftest import Processes
from tests.e2e.objectives import shared_switch_space

DRIVER = "hpo_service.driver.cli"
BRANCH_OPTIONS = (("sgd", "adam"), ("relu", "tanh"))  # k's, in branches 0 and 1 of m


def test_the_csv_shows_the_option_of_the_switch_each_trial_reached(
    procs: Processes, tmp_path
):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    run = procs.run(DRIVER, "start", "--db", db, "--study", "s", "--objective",
                    "tests.e2e.objectives:text_length", "--space",
                    "tests.e2e.objectives:shared_switch_space", "--max-evals", "12",
                    "--algo", "rand", "--seed", "3", "--workers", "1",
                    "--no-progress")  # fmt: skip
    assert run.returncode == 0, run.stderr
    listed = procs.run(DRIVER, "trials", "--db", db, "--study", "s")
    assert listed.returncode == 0, listed.stderr
    rows = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert len(rows) == 12
    for row in rows:
        m, k, j = int(row["param.m"]), int(row["param.k"]), int(row["param.j"])
        assert row["param.k.value"] == BRANCH_OPTIONS[m][k], row
        assert json.loads(row["param.m.value"]) == (
            {"opt": BRANCH_OPTIONS[0][k]} if m == 0 else {"act": BRANCH_OPTIONS[1][k]}
        )  # the config's own option, for comparison
        assert json.loads(row["param.j.value"]) == [["p", "q"][j], [10, 20][j]]
    reached = {(int(r["param.m"]), int(r["param.k"])) for r in rows}
    assert {m for m, _ in reached} == {0, 1}  # the first switch's options were
    # shown for branch 1 too: its rows fail on the old code


def test_the_report_axes_name_every_switch_option_of_a_shared_label():
    infos = {p.label: p for p in params_from_space_document(
        to_document(shared_switch_space))}  # fmt: skip
    assert infos["k"].choices == ("sgd / relu", "adam / tanh")
    assert infos["j"].choices == ("p / 10", "q / 20")
    assert infos["m"].type == "choice" and len(infos["m"].choices) == 2
