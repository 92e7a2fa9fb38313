"""The short commands start without the heavy libraries: ``hpo-driver status``,
``best``, ``trials --format json``, ``studies`` and ``--help`` (and ``hpo-worker
--help``) load no numpy, pandas, plotting, scikit-learn, web server, progress bar or
TPE, and pymongo only for a ``mongodb://`` store. ``start`` and the insight commands
import what they need when they run (CONTRIBUTING: keep the CLI's import cheap);
the test suite starts hundreds of these processes."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from hpo_service.store import FinishedTrial, TrialState, open_store

REPO = Path(__file__).resolve().parents[1]

#: Runs a command line as its console script does, then writes what it loaded.
_RUN = """
import json, sys
from hpo_service.{package}.cli import main
out, args = sys.argv[1], sys.argv[2:]
try:
    main(args, prog_name="hpo-{package}")
except SystemExit as e:
    code = e.code
with open(out, "w") as f:
    json.dump({{"code": code, "modules": sorted(sys.modules)}}, f)
"""

#: What a short command must not load (top-level packages, and our own modules).
HEAVY = (
    "numpy", "scipy", "pandas", "matplotlib", "plotly", "sklearn", "kaleido",
    "starlette", "uvicorn", "tqdm",
    "hpo_service.algorithms.tpe", "hpo_service.space", "hpo_service.trials",
    "hpo_service.driver._study_loop", "hpo_service.insight._figures",
)  # fmt: skip
MONGO = ("pymongo", "bson")


def loaded(tmp_path: Path, package: str, *args: str) -> tuple[str, list[str]]:
    """Run ``hpo-PACKAGE ARGS`` in a fresh interpreter: its output and modules."""
    out = tmp_path / f"modules-{uuid.uuid4().hex}.json"
    run = subprocess.run(
        [sys.executable, "-c", _RUN.format(package=package), str(out), *args],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    found = json.loads(out.read_text())
    assert found["code"] in (0, None), run.stdout + run.stderr
    return run.stdout, found["modules"]


def heavy_in(modules: list[str], heavy: tuple[str, ...]) -> list[str]:
    """The modules of ``modules`` that are, or are inside, one of ``heavy``."""
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in heavy)]


def a_study(db_url: str) -> None:
    """Study ``s``: two done trials, one of them failed."""
    trials = [
        FinishedTrial({"x": 0.5}, {"x": 0.5}, {"loss": 0.25, "status": "ok"}),
        FinishedTrial({"x": 2.0}, {"x": 2.0}, {"status": "fail"}),
    ]
    with open_store(db_url) as store:
        store.create_study("s", {"max_evals": 2})
        store.insert_finished("s", trials)


#: Each read command, and a line its output holds (it did its work).
READS = [
    (["status", "--study", "s"], "2 finished"),
    (["best", "--study", "s"], "0.25"),
    (["trials", "--study", "s", "--format", "json"], '"x": 2.0'),
    (["studies"], "s\t2/2 finished"),
]


@pytest.mark.parametrize(("args", "said"), READS)
def test_read_commands_on_sqlite_load_no_heavy_library(tmp_path, args, said):
    db_url = f"sqlite:///{tmp_path / 'study.sqlite'}"
    a_study(db_url)
    output, modules = loaded(tmp_path, "driver", *args, "--db", db_url)
    assert said in output
    assert "hpo_service.store._sqlite" in modules  # the check sees what ran
    assert heavy_in(modules, HEAVY + MONGO) == []


@pytest.mark.parametrize("command", ["best", "status"])
def test_the_note_on_a_best_trial_of_the_space_before_override_loads_no_space(
    tmp_path, command
):
    """The note reads the mark ``--override`` stored (the first tid of the new
    space), not the space: a7a9b4d compiled the stored space to tell, which
    loaded hpo_service.space and numpy into ``best``."""
    db_url = f"sqlite:///{tmp_path / 'study.sqlite'}"
    mark = {"fingerprint": "new", "first_tid": 1, "kept": []}
    with open_store(db_url) as store:
        store.create_study(
            "s", {"max_evals": 2, "space_fingerprint": "new", "space_mark": mark}
        )
        store.insert_finished("s", [
            FinishedTrial({"x": 0.5}, {"x": 0.5}, {"loss": 0.25, "status": "ok"}),
            FinishedTrial({"x": 1.0, "y": 1.0}, {"x": 1.0, "y": 1.0},
                          {"loss": 2.0, "status": "ok"}),
        ])  # fmt: skip
    output, modules = loaded(tmp_path, "driver", command, "--study", "s",
                             "--db", db_url)  # fmt: skip
    said = "(trial 0 ran with the space before --override; the best trial of the "
    assert said + "current space is trial 1: loss 2)" in output
    assert heavy_in(modules, HEAVY + MONGO) == []


@pytest.mark.parametrize(
    ("pruner", "settings", "said"),
    [
        ("median", {"n_startup_trials": 1}, "pruned at step 3: 1"),
        (
            "asha",
            {"max_resource": 9, "reduction_factor": 3},
            "   3        2        1       1",
        ),
    ],
)
def test_status_of_a_pruned_study_loads_no_heavy_library(
    tmp_path, pruner, settings, said
):
    """The pruning counts come from the stored reports, without numpy (which the
    median pruner itself loads). With a done trial: with none, status looks for a
    Pareto front, with numpy."""
    db_url = f"sqlite:///{tmp_path / 'study.sqlite'}"
    curve = {0: 1.0, 1: 0.9, 2: 0.8, 3: 0.7}
    pruned = FinishedTrial(
        {"x": 2.0}, {"x": 2.0}, {"status": "pruned", "loss": 0.7, "step": 3},
        state=TrialState.PRUNED, intermediate=curve,
    )  # fmt: skip
    with open_store(db_url) as store:
        store.create_study(
            "s", {"max_evals": 2, "pruner": pruner, "pruner_settings": settings}
        )
        done = FinishedTrial({"x": 0.5}, {"x": 0.5}, {"loss": 0.2, "status": "ok"},
                             intermediate={s: 0.2 for s in range(9)})  # fmt: skip
        store.insert_finished("s", [pruned, done])
    output, modules = loaded(tmp_path, "driver", "status", "--study", "s",
                             "--db", db_url)  # fmt: skip
    assert said in output
    assert heavy_in(modules, HEAVY + MONGO) == []


@pytest.mark.parametrize(
    ("package", "args"),
    [
        ("driver", ["--help"]),
        ("driver", ["start", "--help"]),
        ("driver", ["report", "--help"]),
        ("worker", ["--help"]),
        ("worker", ["--version"]),
    ],
)
def test_help_and_version_load_no_heavy_library_nor_a_store(tmp_path, package, args):
    output, modules = loaded(tmp_path, package, *args)
    assert output.startswith(f"Usage: hpo-{package}") or "version" in output
    assert "click" in modules
    stores = ("hpo_service.store._sqlite", "hpo_service.store._mongo", "sqlite3")
    assert heavy_in(modules, HEAVY + MONGO + stores) == []


def test_status_on_mongodb_loads_pymongo_but_no_heavy_library(tmp_path, mongo_url):
    """Every read command opens its store the same way: ``status`` stands for them."""
    import pymongo

    from tests.helpers.mongo_wire import with_database

    name = f"cli_imports_{uuid.uuid4().hex[:8]}"
    db_url = with_database(mongo_url, name)
    a_study(db_url)
    try:
        output, modules = loaded(
            tmp_path, "driver", "status", "--study", "s", "--db", db_url
        )
        assert "2 finished" in output
        assert "pymongo" in modules
        assert heavy_in(modules, HEAVY) == []
    finally:
        with pymongo.MongoClient(mongo_url) as client:
            client.drop_database(name)
