"""Every command's JSON is standard JSON, whatever floats the trials hold: non-finite
numbers are written as the strings "Infinity", "-Infinity" and "NaN" (bare
``Infinity``/``NaN`` tokens are refused by jq and JavaScript's ``JSON.parse``)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from hpo_service._common.settings import StudySettings
from hpo_service.space import space_eval
from hpo_service.space._serialise import fingerprint, to_document
from hpo_service.store import TrialState, open_store
from hpo_service.store._base import NewTrial
from tests.e2e.objectives import space
from tests.insight._support import start_dashboard, stop, up, wait_for

DRIVER = "hpo_service.driver.cli"
LOSSES = [-math.inf, math.inf, 2.0]


def strict(text: str) -> Any:
    """``json.loads`` as jq and ``JSON.parse`` read: no NaN/Infinity tokens."""

    def refuse(token: str) -> None:
        pytest.fail(f"not standard JSON: bare {token} in {text[:300]}")

    return json.loads(text, parse_constant=refuse)


def study_with_non_finite_floats(db: str) -> None:
    """Study ``nf``: done trials with losses -inf, inf and 2.0, each result holding
    a NaN too (hyperopt keeps every key of a result)."""
    settings = StudySettings(
        objective="tests.e2e.objectives:quadratic", space=to_document(space),
        space_fingerprint=fingerprint(space), max_evals=5,
    )  # fmt: skip
    params = [{"x": float(i), "y": 0.0} for i in range(3)]
    points = [NewTrial(p, space_eval(space, p)) for p in params]
    with open_store(db) as store:
        store.create_study("nf", settings.to_dict())
        store.insert_trials("nf", points)
        for loss in LOSSES:
            trial = store.claim("w", 60.0, study="nf")
            result = {"loss": loss, "status": "ok", "spread": math.nan}
            assert store.complete("nf", trial.tid, trial.token, result)


def test_trials_best_and_status_write_standard_json(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    study_with_non_finite_floats(db)
    study = ["--db", db, "--study", "nf"]
    listed = procs.run(DRIVER, "trials", *study, "--format", "json")
    assert listed.returncode == 0, listed.stderr
    results = [r["result"] for r in strict(listed.stdout)]
    assert [r["loss"] for r in results] == ["-Infinity", "Infinity", 2.0]
    assert {r["spread"] for r in results} == {"NaN"}
    best = procs.run(DRIVER, "best", *study, "--json")
    assert best.returncode == 0, best.stderr
    assert strict(best.stdout)["result"]["loss"] == "-Infinity"  # -inf is the best
    status = procs.run(DRIVER, "status", *study, "--json")
    assert status.returncode == 0, status.stderr
    assert strict(status.stdout)["best"] == {
        "tid": 0, "loss": "-Infinity", "violation": 0.0, "before_override": None,
    }  # fmt: skip


def test_an_export_with_infinite_losses_imports_them_as_numbers(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    study_with_non_finite_floats(db)
    export = tmp_path / "nf.json"
    listed = procs.run(DRIVER, "trials", "--db", db, "--study", "nf", "--format",
                       "json")  # fmt: skip
    export.write_text(listed.stdout)
    other = tmp_path / "other.sqlite"
    study_with_non_finite_floats(f"sqlite:///{other}")
    with open_store(f"sqlite:///{other}") as store:
        store.create_study("copy", store.get_study("nf").settings)
    imported = procs.run(DRIVER, "import", "--db", f"sqlite:///{other}", "--study",
                         "copy", str(export))  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert "imported 3 finished trials" in imported.stdout
    with open_store(f"sqlite:///{other}") as store:
        done = store.get_trials("copy", [TrialState.DONE])
    assert [t.result["loss"] for t in done] == LOSSES


def test_the_dashboard_api_answers_standard_json(tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    study_with_non_finite_floats(db)
    server, port, _ = start_dashboard("--db", db)
    base = f"http://127.0.0.1:{port}/api/studies"
    try:
        wait_for(lambda: up(f"http://127.0.0.1:{port}/"), what="dashboard up")
        studies = strict(raw(base))["studies"]
        assert [s["name"] for s in studies] == ["nf"]
        changes = strict(raw(f"{base}/nf/changes?cursor=0"))
        assert [row["loss"] for row in changes["rows"]] == [
            "-Infinity", "Infinity", 2.0,
        ]  # fmt: skip
        assert changes["best"] == {"tid": 0, "loss": "-Infinity"}
        strict(raw(f"{base}/nf/figures"))
    finally:
        stop(server)


def raw(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=60) as answer:
        return answer.read().decode()


def test_best_text_shows_params_and_config_in_the_order_json_has_them(procs, tmp_path):
    # The space's order (ζeta before alpha), not sorted keys: as best --json, trials
    # and the objective have them (before, the text sorted them); a label as written,
    # not as JSON's \u escapes ("\u03b6eta", as --json has it).
    from hpo_service import hp

    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    ordered = {"ζeta": hp.uniform("ζeta", 0, 1), "alpha": hp.uniform("alpha", 0, 1)}
    settings = StudySettings(
        objective="tests.e2e.objectives:quadratic", space=to_document(ordered),
        space_fingerprint=fingerprint(ordered), max_evals=5,
    )  # fmt: skip
    point = {"ζeta": 0.5, "alpha": 0.25}
    with open_store(db) as store:
        store.create_study("order", settings.to_dict())
        store.insert_trials("order", [NewTrial(dict(point), dict(point))])
        trial = store.claim("w", 60.0, study="order")
        result = {"loss": 1.0, "status": "ok"}
        assert store.complete("order", trial.tid, trial.token, result)
    study = ["--db", db, "--study", "order"]
    as_json = procs.run(DRIVER, "best", *study, "--json")
    text = procs.run(DRIVER, "best", *study)
    assert as_json.returncode == 0 == text.returncode, as_json.stderr + text.stderr
    record = strict(as_json.stdout)
    assert list(record["params"]) == list(record["config"]) == ["ζeta", "alpha"]
    assert '"\\u03b6eta"' in as_json.stdout  # --json stays ASCII
    lines = text.stdout.splitlines()
    assert '  params: {"ζeta": 0.5, "alpha": 0.25}' in lines, lines
    assert '  config: {"ζeta": 0.5, "alpha": 0.25}' in lines, lines
