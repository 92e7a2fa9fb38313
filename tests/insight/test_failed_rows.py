"""A done trial whose objective returned ``STATUS_FAIL`` has no loss; the
dashboard's trials table says so in its error column (``hpo-driver status`` counts
it as failed), as read in headless Chromium."""

from __future__ import annotations

from ._support import imported_study, start_dashboard, stop, table_cells


def test_a_status_fail_trial_is_marked_in_the_trials_table(tmp_path, browser):
    """Before, its row read 'done' with the loss and error cells blank, like a done
    trial whose loss went missing."""
    records = [
        {"tid": 0, "state": "done", "params": {"x": 0.5},
         "result": {"loss": 0.25, "status": "ok"}},
        {"tid": 1, "state": "done", "params": {"x": 0.7},
         "result": {"status": "fail"}},
    ]  # fmt: skip
    db = imported_study(tmp_path, records)
    server, port, _ = start_dashboard("--db", db, "--study", "s")
    try:
        table = table_cells(browser, server, port, 2)
        cells = {tid: (row[1], row[2], row[-1]) for tid, row in table.items()}
        assert cells == {"0": ("done", "0.25", ""),
                         "1": ("done", "", "status fail (no loss)")}  # fmt: skip
    finally:
        stop(server)
