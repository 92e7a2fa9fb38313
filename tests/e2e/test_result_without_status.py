"""An objective's result dict without a ``status`` key counts as ``"ok"`` on every
path that runs an objective: ``fmin`` in process, ``fmin`` on a ``StoreTrials``
(its local ``hpo-worker``) and ``hpo-driver start`` with real ``hpo-worker``
processes, as README's hyperopt differences say; hyperopt itself raises
``KeyError: 'status'`` (checked side by side where it is installed). Real
processes on SQLite."""

from __future__ import annotations

import json

import pytest

from hpo_service import StoreTrials, Trials, fmin, rand
from tests.e2e import objectives

DRIVER = "hpo_service.driver.cli"


def assert_counted_ok(results: list[dict], configs: list[dict]) -> None:
    assert len(results) == 3
    for result, config in zip(results, configs, strict=True):
        assert result["status"] == "ok", result
        assert result["loss"] == objectives.quadratic(config)
        assert result["note"] == "no status"


def search(trials):
    fmin(objectives.without_status, objectives.space, algo=rand.suggest,
         max_evals=3, trials=trials, rstate=3, show_progressbar=False)  # fmt: skip
    configs = [{k: v[0] for k, v in t["misc"]["vals"].items()} for t in trials.trials]
    return trials.results, configs


def test_in_process_and_on_a_store_a_result_without_status_is_ok(tmp_path):
    assert_counted_ok(*search(Trials()))
    stored = StoreTrials(f"sqlite:///{tmp_path / 'h.sqlite'}", study="s", workers=1)
    try:
        assert_counted_ok(*search(stored))
    finally:
        stored.close()


def test_hpo_worker_counts_a_result_without_status_as_ok(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    run = procs.run(DRIVER, "start", "--db", db, "--study", "s",
                    "--objective", "tests.e2e.objectives:without_status",
                    "--space", "tests.e2e.objectives:space", "--max-evals", "3",
                    "--workers", "1", "--no-progress")  # fmt: skip
    assert run.returncode == 0, run.stderr
    listed = procs.run(DRIVER, "trials", "--db", db, "--study", "s",
                       "--format", "json")  # fmt: skip
    trials = json.loads(listed.stdout)
    assert [t["state"] for t in trials] == ["done"] * 3
    assert_counted_ok([t["result"] for t in trials], [t["config"] for t in trials])


def test_hyperopt_raises_on_a_result_without_status():
    hyperopt = pytest.importorskip("hyperopt")
    with pytest.raises(KeyError, match="status"):
        hyperopt.fmin(objectives.without_status,
                      {"x": hyperopt.hp.uniform("x", -5, 5),
                       "y": hyperopt.hp.uniform("y", -5, 5)},
                      algo=hyperopt.rand.suggest, max_evals=1,
                      show_progressbar=False)  # fmt: skip
