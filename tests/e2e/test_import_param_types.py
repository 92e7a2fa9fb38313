"""``hpo-driver import`` of an export keeps each param's type: a choice's option
index and a ``randint``'s value stay ints, a whole uniform value stays a float, in
the stored trial and so in what ``trials`` exports and what the space makes of
them; for a CSV export (whose cells are text) and a JSON one, into a study made by
the import (no space to check against) and into one with the space. Real
``hpo-driver`` processes, on SQLite and on the MongoDB-wire server."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from hpo_service.driver._study import open_study, space_settings
from hpo_service.store import NewTrial, open_store
from tests.e2e import objectives
from tests.e2e.conftest import Processes

DRIVER = "hpo_service.driver.cli"
SPACE = {"objective": "tests.e2e.objectives:indexed_loss", "max_evals": 2}
#: Two points: ``x`` 1.0 is a whole float, and must stay one.
POINTS = [{"c": 1, "n": 3, "x": 1.0}, {"c": 2, "n": 0, "x": 0.5}]


def new_study(db: str, name: str) -> None:
    with open_store(db) as store:
        open_study(store, name, {**SPACE, **space_settings(objectives.indexed_space)})


def source_study(db: str) -> None:
    """Study ``a`` of ``indexed_space``: the two points, done (as a worker ends
    them)."""
    new_study(db, "a")
    configs = [{"c": "abz"[p["c"]], "n": p["n"], "x": p["x"]} for p in POINTS]
    with open_store(db) as store:
        store.insert_trials(
            "a", [NewTrial(p, c) for p, c in zip(POINTS, configs, strict=True)]
        )
        for loss in (5.0, 2.5):
            trial = store.claim("w", 60.0, study="a")
            store.complete("a", trial.tid, trial.token, {"loss": loss, "status": "ok"})


def run(procs: Processes, *args: str) -> str:
    done = procs.run(DRIVER, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def stored_params(db: str, study: str) -> list[dict]:
    with open_store(db) as store:
        return [t.params for t in store.get_trials(study)]


def typed(params: list[dict]) -> list[dict]:
    return [{k: (type(v).__name__, v) for k, v in p.items()} for p in params]


@pytest.mark.parametrize("form", ["csv", "json"])
def test_imported_params_keep_their_types(procs, any_db, tmp_path: Path, form):
    """Fails before the fix for a CSV into a study the import makes: the cells were
    read as floats, so the trial held ``c`` 1.0 and ``n`` 3.0, which ``trials``
    exported as ``1.0`` and ``3.0``."""
    db = any_db
    source_study(db)
    path = tmp_path / f"a.{form}"
    path.write_text(run(procs, "trials", "--db", db, "--study", "a", "--format", form))
    run(procs, "import", "--db", db, "--study", "made", "--create", str(path))
    new_study(db, "given")
    run(procs, "import", "--db", db, "--study", "given", str(path))
    for study in ("made", "given"):
        assert typed(stored_params(db, study)) == typed(POINTS), study
    cells = csv.DictReader(io.StringIO(run(procs, "trials", "--db", db, "--study",
                                           "made", "--format", "csv")))  # fmt: skip
    assert [(r["param.c"], r["param.n"], r["param.x"]) for r in cells] == [
        ("1", "3", "1.0"),
        ("2", "0", "0.5"),
    ]
    exported = json.loads(run(procs, "trials", "--db", db, "--study", "made",
                              "--format", "json"))  # fmt: skip
    assert typed([r["params"] for r in exported]) == typed(POINTS)
    run(procs, "start", "--db", db, "--study", "made", "--objective",
        SPACE["objective"], "--space", "tests.e2e.objectives:indexed_space",
        "--max-evals", "2", "--no-progress")  # fmt: skip
    with open_store(db) as store:
        configs = [t.config for t in store.get_trials("made")]
    assert configs == [{"c": "b", "n": 3, "x": 1.0}, {"c": "z", "n": 0, "x": 0.5}]
    assert typed(stored_params(db, "made")) == typed(POINTS)


#: A CSV as pandas writes one (``DataFrame.to_csv``): every number of a float
#: column, whole ones too, as "1.0".
PANDAS = "tid,state,loss,param.c,param.n,param.u,param.q,param.x\n"


@pytest.mark.parametrize(
    ("cells", "refused"),
    [
        ("2.5,3.0,4.0,7.0", "params['c'] must be the index of an option of choice "
                            "'c', an integer from 0 to 2, but got 2.5"),
        ("1.0,2.5,4.0,7.0", "params['n'] must be an integer, but got 2.5"),
        ("1.0,3.0,4.5,7.0", "params['u'] must be an integer, but got 4.5"),
        ("1.0,3.0,4.0,7.5", "params['q'] must be a multiple of q=1, the only values "
                            "the space gives 'q', but got q=7.5"),
    ],
)  # fmt: skip
def test_whole_numbers_written_as_floats_import_as_ints(
    procs, tmp_path: Path, cells, refused
):
    """A CSV of another tool (pandas) writes the ints of a choice, a randint, a
    uniformint as "1.0": imported into a study whose space says int, each is
    stored as the int; a value that is not whole ("2.5") is refused naming the
    parameter and what it takes, and nothing is imported. (The rule held before
    this test; it pins it.)"""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    settings = space_settings(objectives.whole_space)
    with open_store(db, create=True) as store:
        open_study(store, "w", {**SPACE, **settings})
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(PANDAS + "0,done,1.5,1.0,3.0,4.0,7.0,1.0\n")
    bad.write_text(PANDAS + f"0,done,1.5,{cells},1.0\n")
    run(procs, "import", "--db", db, "--study", "w", str(good))
    assert typed(stored_params(db, "w")) == typed(
        [{"c": 1, "n": 3, "u": 4, "q": 7.0, "x": 1.0}]  # q: a quniform's float
    )
    with open_store(db) as store:
        assert store.get_trial("w", 0).config == {
            "c": "b", "n": 3, "u": 4, "q": 7, "x": 1.0,
        }  # fmt: skip
    done = procs.run(DRIVER, "import", "--db", db, "--study", "w", str(bad))
    assert done.returncode == 1, done.stdout
    said = " ".join(done.stderr.split())
    assert said == f"Error: bad.csv#0 does not fit the study's space: {refused}"
    assert len(stored_params(db, "w")) == 1


def test_a_start_gives_params_imported_without_a_space_the_space_types(
    procs, any_db: str, tmp_path: Path
):
    """A pandas CSV imported with ``--create`` (no space: nothing says "int") keeps
    ``n`` 3.0 (an ``hp.randint``); the start that gives the space wrote the
    trial's config but left its params, so the resumed study held ``n`` 3.0 beside
    the ints of the trials it ran (and ``c`` 1.0, ``u`` 4.0). Fails before the
    fix: the imported trial still held floats after the start."""
    db = any_db
    source = tmp_path / "pandas.csv"
    source.write_text(PANDAS + "0,done,1.5,1.0,3.0,4.0,7.0,1.0\n")
    run(procs, "import", "--db", db, "--study", "p", "--create", str(source))
    assert typed(stored_params(db, "p")) == typed(
        [{"c": 1.0, "n": 3.0, "u": 4.0, "q": 7.0, "x": 1.0}]  # no space: as read
    )
    run(procs, "start", "--db", db, "--study", "p", "--objective",
        "tests.e2e.objectives:whole_loss", "--space",
        "tests.e2e.objectives:whole_space", "--max-evals", "3", "--workers", "1",
        "--no-progress")  # fmt: skip
    params = stored_params(db, "p")
    assert len(params) == 3
    want = {"c": int, "n": int, "u": int, "q": float, "x": float}
    for p in params:
        assert {k: type(v) for k, v in p.items()} == want, params
    assert params[0] == {"c": 1, "n": 3, "u": 4, "q": 7.0, "x": 1.0}
    exported = json.loads(run(procs, "trials", "--db", db, "--study", "p",
                              "--format", "json"))  # fmt: skip
    assert typed([r["params"] for r in exported]) == typed(params)
