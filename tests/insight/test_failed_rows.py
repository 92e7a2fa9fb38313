"""A done trial whose objective returned ``STATUS_FAIL`` has no loss; the
dashboard's trials table says so in its error column (``hpo-driver status`` counts
it as failed), as read in headless Chromium."""

from __future__ import annotations

import json

from ._support import hpo_driver, serving, start_dashboard, stop, wait_for


def test_a_status_fail_trial_is_marked_in_the_trials_table(tmp_path, browser):
    """Before, its row read 'done' with the loss and error cells blank, like a done
    trial whose loss went missing."""
    records = [
        {"tid": 0, "state": "done", "params": {"x": 0.5},
         "result": {"loss": 0.25, "status": "ok"}},
        {"tid": 1, "state": "done", "params": {"x": 0.7},
         "result": {"status": "fail"}},
    ]  # fmt: skip
    export = tmp_path / "export.json"
    export.write_text(json.dumps(records))
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    run = hpo_driver("import", "--db", db, "--study", "s", "--create", str(export))
    assert run.returncode == 0, run.stderr[-3000:]
    server, port, _ = start_dashboard("--db", db, "--study", "s")
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for(lambda: serving(server, url), what="dashboard up")
        browser.get(url)
        rows = "#trials tbody tr"
        wait_for(lambda: len(browser.find_elements("css selector", rows)) == 2,
                 what="the 2 trials in the table")  # fmt: skip
        cells = {}
        for row in browser.find_elements("css selector", rows):
            texts = [c.get_attribute("textContent") for c in row.find_elements(
                "tag name", "td")]  # fmt: skip
            cells[texts[0]] = (texts[1], texts[2], texts[-1])
        assert cells == {"0": ("done", "0.250000", ""),
                         "1": ("done", "", "status fail (no loss)")}  # fmt: skip
    finally:
        stop(server)
