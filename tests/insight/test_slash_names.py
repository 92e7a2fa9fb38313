"""A study named with '/' (a hyperopt ``exp_key`` such as ``mnist/v2``) runs and
shows as any study: real hpo-driver processes on SQLite with local workers, and
the dashboard in headless Chromium, whose API paths carry the name percent-encoded
(``mnist%2Fv2``)."""

from __future__ import annotations

import json
import urllib.parse

from hpo_service.store import TrialState, open_store

from ._support import (
    get,
    hpo_driver,
    serving,
    start_dashboard,
    stop,
    wait_drawn,
    wait_for,
)

NAME = "mnist/v2"


def test_a_study_named_with_a_slash_runs_lists_and_shows_in_the_dashboard(
    tmp_path, browser
):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    run = hpo_driver(
        "start", "--db", db, "--study", NAME, "--seed", "5",
        "--objective", "tests.insight.objectives:objective",
        "--space", "tests.insight.objectives:space", "--max-evals", "6",
        "--workers", "1", "--no-progress",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"created study {NAME!r}" in run.stderr
    with open_store(db) as store:
        counts = store.count_by_state(NAME)
    finished = counts[TrialState.DONE] + counts[TrialState.ERROR]
    assert finished == 6
    listed = hpo_driver("trials", "--db", db, "--study", NAME, "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 6

    server, port, _ = start_dashboard("--db", db, "--study", NAME)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for(lambda: serving(server, url), what="dashboard up")
        quoted = urllib.parse.quote(NAME, safe="")
        changes = get(f"{url}api/studies/{quoted}/changes?cursor=0")
        assert changes["study"] == NAME and len(changes["rows"]) == 6
        browser.get(url)
        wait_for(
            lambda: browser.find_element("id", "study-name").text == NAME,
            what="the study shown",
        )
        wait_for(
            lambda: browser.find_element("id", "finished-count").text == "6",
            what="its 6 trials counted",
        )
        wait_drawn(browser, "history")
        console = browser.get_log("browser")
        assert not [e for e in console if e["level"] == "SEVERE"], console
    finally:
        stop(server)
