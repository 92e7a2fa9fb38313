"""Every key that ``status --json``, ``best --json``, ``trials --format json`` and
``importance --json`` print is documented in README's "Machine-readable output"
section, so the docs cannot drift from the commands."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest

from hpo_service._common.settings import StudySettings
from hpo_service.space._serialise import fingerprint, to_document
from hpo_service.store import open_store
from hpo_service.store._base import NewTrial
from tests.e2e.conftest import REPO, Processes
from tests.e2e.objectives import space

DRIVER = "hpo_service.driver.cli"
README = REPO / "README.md"
CODE = {"module": "tests.e2e.objectives", "sha256": "0123456789abcdef", "version": None}


def documented_section() -> str:
    text = README.read_text()
    match = re.search(r"^## Machine-readable output.*?(?=^## )", text, re.M | re.S)
    assert match, "README has no 'Machine-readable output' section"
    return match.group(0)


def keys_of(value: Any, path: str = "") -> set[tuple[str, str]]:
    """``(path, key)`` of every key of every object in ``value``, except the free
    ones: params, config, result, settings, intermediate and attachment names."""
    found: set[tuple[str, str]] = set()
    if isinstance(value, list):
        for item in value:
            found |= keys_of(item, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            found.add((path, key))
            if key not in {"params", "config", "result", "settings", "intermediate",
                           "attachments"}:  # fmt: skip
                found |= keys_of(item, f"{path}.{key}")
    return found


def segment(fingerprint: str, first_tid: int) -> dict[str, Any]:
    return {"fingerprint": fingerprint, "first_tid": first_tid, "kept": []}


def study_with_every_part(db: str) -> None:
    """Study ``s`` under ASHA: five done trials (one run by known code), one running
    trial with attachments, and a driver holding the lease; its best trial ran with
    the space before an ``--override``, which took the study back to the space of
    trial 1 (the mark's first tid is 3)."""
    settings = StudySettings(
        objective="tests.e2e.objectives:quadratic", space=to_document(space),
        space_fingerprint=fingerprint(space), max_evals=10, pruner="asha",
        pruner_settings={"max_resource": 9},
        space_mark={**segment(fingerprint(space), 3), "segments": [
            segment("another", 0), segment(fingerprint(space), 1),
            segment("another", 2), segment(fingerprint(space), 3)]},
    )  # fmt: skip
    points = [NewTrial({"x": float(i), "y": i / 2}, {}) for i in range(6)]
    with open_store(db) as store:
        store.create_study("s", settings.to_dict())
        store.insert_trials("s", points)
        for i in range(5):
            trial = store.claim("w", 60.0, study="s")
            store.report("s", trial.tid, trial.token, 1, float(i))
            store.put_attachments("s", trial.tid, trial.token, {"log": b"abc"})
            result = {"loss": float(i * i), "status": "ok"}
            store.complete("s", trial.tid, trial.token, result, code=CODE)
        store.claim("worker@elsewhere:1:ab", 60.0, study="s")
        assert store.acquire_driver_lease("s", "driver@elsewhere:1:ab", 60.0)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, Any]:
    db = f"sqlite:///{tmp_path_factory.mktemp('json') / 'hpo.sqlite'}"
    study_with_every_part(db)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("HPO_DB", None)
    procs = Processes(env)
    study = ["--db", db, "--study", "s"]
    commands = {
        "status": ["status", *study, "--json"],
        "best": ["best", *study, "--json"],
        "trials": ["trials", *study, "--format", "json"],
        "importance": ["importance", *study, "--json"],
    }
    # The four read-only commands run at once (each is mostly an interpreter start).
    started = {name: procs.start(DRIVER, *args) for name, args in commands.items()}
    printed = {}
    try:
        for name, proc in started.items():
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            printed[name] = json.loads(out)
    finally:
        procs.kill_all()  # what a failed assertion left running
    return printed


@pytest.mark.parametrize("command", ["status", "best", "trials", "importance"])
def test_every_printed_key_is_documented(outputs, command):
    if command == "importance":
        pytest.importorskip("sklearn")
    section = documented_section()
    printed = outputs[command]
    assert printed, f"{command} printed nothing to check"
    missing = sorted(
        f"{path}.{key}".lstrip(".")
        for path, key in keys_of(printed)
        if f"`{key}`" not in section
    )
    assert not missing, f"README does not document {missing}"


def test_the_study_shows_every_part_it_documents(outputs):
    """The keys above were checked on a study where nothing is empty."""
    status = outputs["status"]
    assert status["driver"] and status["workers"] and status["code"]
    before = {
        "first_tid": 3,
        "current_best": {"tid": 1, "loss": 1.0},
        "earlier_runs": [[1, 2]],
    }
    assert status["best"] == {
        "tid": 0, "loss": 0.0, "violation": 0.0, "before_override": before,
    }  # fmt: skip
    assert outputs["best"]["before_override"] == before
    assert outputs["trials"][0]["attachments"] == {"log": 3}
    assert isinstance(outputs["best"]["finished_at"], float)  # epoch seconds
