"""A real 2-objective study (``hpo-driver start --objectives error,cost`` with worker
processes) seen through ``hpo-driver report`` (in headless Chromium),
``hpo-driver importance`` and the dashboard's API: the objective names come from the
study's ``objective_names`` setting and the front is the one ``hpo-driver best``
computes."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from hpo_service.objective._result import pareto_front
from hpo_service.store import open_store
from tests.e2e.conftest import REPO

from ._support import dump_dom, free_port, get, plot_section, start, stop, up, wait_for

NAMES = ["error", "cost"]


def hpo_driver(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpo_service.driver.cli", *args],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A finished 2-objective study ``mo`` of 16 trials run by 2 worker processes."""
    url = f"sqlite:///{tmp_path_factory.mktemp('mo') / 'hpo.sqlite'}"
    run = hpo_driver(
        "start", "--db", url, "--study", "mo",
        "--objective", "tests.helpers.multi_objective:two_losses",
        "--space", "tests.helpers.multi_objective:space",
        "--objectives", ",".join(NAMES), "--max-evals", "16", "--workers", "2",
        "--seed", "2", "--no-progress",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return url


def driver_front(db: str) -> list[int]:
    """The tids on the front as the driver's own helper computes it."""
    with open_store(db) as store:
        trials = store.get_trials("mo")
    return [trials[i].tid for i in pareto_front([t.result for t in trials])]


def test_the_report_names_the_objectives_and_draws_the_drivers_front(db, tmp_path):
    out = tmp_path / "report.html"
    run = hpo_driver("report", "--db", db, "--study", "mo", "--out", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    front = driver_front(db)
    assert front
    dom = dump_dom(out.as_uri(), tmp_path)
    assert re.search(r'id="finished-count">16<', dom)
    assert f"Pareto front: {len(front)} trials (error, cost)" in dom
    pareto = plot_section(dom, "pareto")
    assert "main-svg" in pareto and "error" in pareto and "cost" in pareto
    assert f"Pareto front ({len(front)} trials)" in pareto
    history = plot_section(dom, "history")  # the first objective, by its name
    assert "main-svg" in history and "error" in history

    ranked = hpo_driver("importance", "--db", db, "--study", "mo", "--objective", "1",
                        "--json")  # fmt: skip
    assert ranked.returncode == 0, ranked.stderr[-3000:]
    assert {r["param"] for r in json.loads(ranked.stdout)} == {"x", "y"}
    beyond = hpo_driver("importance", "--db", db, "--study", "mo", "--objective", "2")
    assert beyond.returncode == 2 and "--objective" in beyond.stderr


def test_the_dashboard_shows_the_named_front(db):
    port = free_port()
    server = start("dashboard", "--db", db, "--port", str(port))
    base = f"http://127.0.0.1:{port}/api/studies/mo"
    try:
        wait_for(lambda: up(f"http://127.0.0.1:{port}/"), what="dashboard up")
        delta = get(f"{base}/changes?cursor=0")
        figures = get(f"{base}/figures?names=pareto,history")
    finally:
        stop(server)
    front = driver_front(db)
    assert delta["objectives"] == NAMES
    assert delta["front"] == len(front) and delta["best"] is None
    assert all(len(row["loss"]) == 2 for row in delta["rows"] if row["state"] == "done")
    layout = figures["pareto"]["layout"]
    assert (layout["xaxis"]["title"]["text"], layout["yaxis"]["title"]["text"]) == (
        "error",
        "cost",
    )
    (on_front,) = [t for t in figures["pareto"]["data"] if t["name"] == "Pareto front"]
    assert sorted(_values(on_front["customdata"])) == sorted(front)
    assert figures["history"]["layout"]["yaxis"]["title"]["text"] == "error"


def _values(array: object) -> list[int]:
    """A plotly JSON array: a list, or a typed array ``{"dtype", "bdata"}``."""
    if isinstance(array, list):
        return [int(v) for v in array]
    import base64

    import numpy as np

    raw = base64.b64decode(array["bdata"])  # type: ignore[index]
    return [int(v) for v in np.frombuffer(raw, dtype=array["dtype"])]  # type: ignore[index]
