"""Which code ran each trial: workers with an edited objective module are told apart."""

from __future__ import annotations

import csv
import hashlib
import io
import json

from hpo_service.store import TrialState, open_store

from .conftest import REPO

DRIVER = "hpo_service.driver.cli"
WORKER = "hpo_service.worker"
VERSIONS = {
    "a": "def objective(config):\n    return (config['x'] - 1) ** 2\n",
    "b": "def objective(config):\n    return (config['x'] - 1) ** 2  # edited\n",
}


def test_a_study_run_by_two_versions_of_the_code_says_so(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    hashes = {}
    for name, source in VERSIONS.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "mymod.py").write_text(source)
        hashes[name] = hashlib.sha256(source.encode()).hexdigest()[:16]
    driver = procs.start(
        DRIVER, "start", "--db", db, "--study", "c", "--objective", "mymod:objective",
        "--space", "tests.e2e.objectives:space", "--max-evals", "8", "--no-progress",
        cwd=tmp_path / "a",
    )  # fmt: skip
    for name in ("a", "b"):  # four trials each, one checkout after the other
        run = procs.run_in(
            tmp_path / name, WORKER, "--db", db, "--study", "c", "--max-trials", "4"
        )
        assert run.returncode == 0, run.stderr
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 0, err
    assert "is run by 2 different versions of the objective's code" in err
    assert f"mymod sha256 {hashes['b']}: first in trial" in err

    with open_store(db) as store:
        trials = store.get_trials("c")
    assert [t.state for t in trials] == [TrialState.DONE] * 8
    seen = [t.code["sha256"] for t in trials]
    assert seen == [hashes["a"]] * 4 + [hashes["b"]] * 4
    assert {t.code["module"] for t in trials} == {"mymod"}

    status = procs.run(DRIVER, "status", "--db", db, "--study", "c")
    assert "WARNING: 2 different versions of the objective's code" in status.stdout
    assert f"mymod sha256 {hashes['a']}: 4 trials" in status.stdout
    exported = procs.run(
        DRIVER, "trials", "--db", db, "--study", "c", "--format", "json"
    )
    records = json.loads(exported.stdout)
    assert [r["code"]["sha256"] for r in records] == seen
    table = procs.run(DRIVER, "trials", "--db", db, "--study", "c")
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert [r["code.sha256"] for r in rows] == seen


def test_one_version_gives_no_warning(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    run = procs.run(
        DRIVER, "start", "--db", db, "--study", "one", "--objective",
        "tests.e2e.objectives:quadratic", "--space", "tests.e2e.objectives:space",
        "--max-evals", "4", "--workers", "2", "--no-progress",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "different versions" not in run.stderr
    source = REPO / "tests" / "e2e" / "objectives.py"
    expected = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    with open_store(db) as store:
        codes = {json.dumps(t.code, sort_keys=True) for t in store.get_trials("one")}
    assert codes == {
        json.dumps(
            {"module": "tests.e2e.objectives", "sha256": expected, "version": None},
            sort_keys=True,
        )
    }
