"""The report's, the dashboard's and ``hpo-driver status``'s advice on a pruner
names what the user typed: ``hpo-driver start``'s flags for a study started from
the command line, ``fmin``'s keyword arguments for one started from Python (the
study records how its latest start was given). Both studies are run by real
processes: ``hpo-driver start`` and ``fmin`` with ``StoreTrials`` workers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hpo_service import fmin, rand
from hpo_service.driver._store_trials import StoreTrials
from hpo_service.insight import StudyData, write_report
from hpo_service.insight._live import LiveStore
from hpo_service.pruners import ASHAPruner
from hpo_service.store import open_store
from tests.e2e.objectives import curve, curve_space

from ._support import hpo_driver

#: The advice of an ASHA study that pruned trials, as each start names it (at eta 2,
#: the default and the smallest, only the first rung can move).
FLAGS = "to prune less: raise --min-resource (README"
KEYWORDS = "to prune less: raise min_resource (README"


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    """Study ``cli`` (``hpo-driver start``) and study ``py`` (``fmin``), each 12
    trials of a learning curve under ASHA (max_resource 9), one worker process."""
    url = f"sqlite:///{tmp_path_factory.mktemp('advice') / 'hpo.sqlite'}"
    run = hpo_driver("start", "--db", url, "--study", "cli", "--max-evals", "12",
                     "--objective", "tests.e2e.objectives:curve",
                     "--space", "tests.e2e.objectives:curve_space", "--seed", "3",
                     "--algo", "rand", "--pruner", "asha", "--max-resource", "9",
                     "--workers", "1", "--no-progress")  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    trials = StoreTrials(url, "py", workers=1, pruner=ASHAPruner(max_resource=9))
    try:
        fmin(curve, curve_space, algo=rand.suggest, max_evals=12, trials=trials,
             rstate=np.random.default_rng(3), show_progressbar=False)  # fmt: skip
    finally:
        trials.close()
    return url


def advice(db: str, study: str, tmp_path) -> dict[str, str]:
    """The pruning notes of the report (its HTML), the dashboard (its API's
    summary, which the page shows as it is) and ``hpo-driver status --json``."""
    out = tmp_path / f"{study}.html"
    with open_store(db) as store:
        write_report(StudyData.from_store(store, study), out)
        summary = LiveStore(store).changes(study, 0)
    status = hpo_driver("status", "--db", db, "--study", study, "--json")
    assert status.returncode == 0, status.stderr[-3000:]
    return {
        "report": out.read_text(),
        "dashboard": " ".join(summary["pruning"]["notes_text"]),
        "status": " ".join(json.loads(status.stdout)["pruning"]["notes"]),
    }


def test_a_study_started_by_hpo_driver_is_advised_in_flags(db, tmp_path):
    for where, text in advice(db, "cli", tmp_path).items():
        assert FLAGS in text, where


def test_a_study_started_by_fmin_is_advised_in_keyword_arguments(db, tmp_path):
    for where, text in advice(db, "py", tmp_path).items():
        assert KEYWORDS in text, where
        assert "--min-resource" not in text and "--reduction-factor" not in text, where
