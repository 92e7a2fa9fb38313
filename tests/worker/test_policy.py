"""The store cannot make a worker run arbitrary code (real hpo-worker processes).

A study document is what anyone with write access to the store controls: here it
names ``builtins:exec`` and its trial's config is a code string that would leave a
file behind if it ran.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hpo_service.store import TrialState

from .conftest import OBJ, REPO, make_study


def _worker(db_url: str, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("HPO_DB", None)
    env.pop("HPO_WORKER_OBJECTIVES", None)
    return subprocess.run(
        [sys.executable, "-m", "hpo_service.worker", "--db", db_url, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _payload(tmp_path: Path) -> tuple[str, Path]:
    marker = tmp_path / "pwned"
    return f"open({str(marker)!r}, 'w').write('ran')", marker


@pytest.mark.parametrize(
    "flags",
    [[], ["--objective", "examples.quadratic:objective"], ["--allow-module", "tests"]],
    ids=["default", "objective", "allow-module"],
)
def test_an_injected_objective_never_runs_and_burns_no_trial(
    store, db_url, tmp_path, flags
):
    code, marker = _payload(tmp_path)
    make_study(store, "evil", "builtins:exec", [code])
    done = _worker(db_url, "--study", "evil", *flags)
    assert done.returncode == 3, done.stderr
    assert "refused study 'evil'" in done.stderr
    assert not marker.exists()
    trial = store.get_trial("evil", 0)
    assert (trial.state, trial.attempts) == (TrialState.NEW, 0)


def test_a_bounded_worker_refuses_other_objectives_of_its_study(store, db_url):
    make_study(store, "s", f"{OBJ}:quadratic", [{"x": 1.0}])
    done = _worker(
        db_url, "--study", "s", "--objective", "examples.quadratic:objective"
    )
    assert done.returncode == 3, done.stderr
    assert (
        f"objective '{OBJ}:quadratic' is not one this worker runs (it runs only "
        "--objective examples.quadratic:objective)"
    ) in done.stderr
    assert store.get_trial("s", 0).attempts == 0


def test_a_refusal_names_every_bound_the_worker_was_given(store, db_url):
    make_study(store, "b", f"{OBJ}:quadratic", [{"x": 1.0}])
    bounds = ["--objective", "examples.quadratic:objective",
              "--allow-module", "examples", "--allow-module", "benchmarks"]  # fmt: skip
    done = _worker(db_url, "--study", "b", *bounds)
    assert done.returncode == 3, done.stderr
    assert (
        "(it runs only --objective examples.quadratic:objective, --allow-module "
        "examples, --allow-module benchmarks)"
    ) in done.stderr
    assert " -)" not in done.stderr


def test_a_worker_of_any_study_skips_the_refused_one_and_serves_the_rest(
    store, db_url, tmp_path
):
    code, marker = _payload(tmp_path)
    make_study(store, "evil", "builtins:exec", [code, code])
    make_study(store, "good", f"{OBJ}:quadratic", [{"x": float(x)} for x in range(3)])
    done = _worker(db_url, "--idle-timeout", "0.5", "--allow-module", "tests.helpers")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("refused study 'evil'") == 1
    assert not marker.exists()
    assert store.count_by_state("good")[TrialState.DONE] == 3
    evil = store.get_trials("evil")
    assert [(t.state, t.attempts) for t in evil] == [(TrialState.NEW, 0)] * 2


def test_allowed_objectives_run(store, db_url):
    make_study(store, "s", f"{OBJ}:quadratic", [{"x": 1.0}, {"x": 2.0}])
    done = _worker(
        db_url, "--study", "s", "--idle-timeout", "0.5",
        "--objective", f"{OBJ}:quadratic",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert store.count_by_state("s")[TrialState.DONE] == 2


def test_a_standard_library_objective_is_refused_naming_both_ways_to_allow_it(
    store, db_url
):
    """hyperopt's tutorial objective, math.sin: the refusal named --objective only,
    while --allow-module=math (what the README shows) works too."""
    make_study(store, "tut", "math:sin", [0.5])
    refused = _worker(db_url, "--study", "tut")
    assert refused.returncode == 3, refused.stderr
    assert "--objective=math:sin" in refused.stderr
    assert "--allow-module=math" in refused.stderr
    assert store.get_trial("tut", 0).attempts == 0
    done = _worker(db_url, "--study", "tut", "--allow-module=math", "--max-trials", "1")
    assert done.returncode == 0, done.stderr
    assert store.get_trial("tut", 0).result["loss"] == pytest.approx(math.sin(0.5))
