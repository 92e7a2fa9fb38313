"""One number format on every page: the dashboard's table and best line, and the
hover texts of the dashboard's and the report's plots, write a float as the CLI does
(Python's ``format(v, ".6g")``: 3.03973e-06), read in headless Chromium.

Before, the dashboard wrote a loss of 3.04e-06 as 0.00000303973 and 0.25 as
0.250000 (JavaScript's toPrecision(6)), and the plots' hovers (plotly's d3 ``.6g``)
wrote 0.00000303973 too, while `hpo-driver best` said 3.03973e-06.
"""

from __future__ import annotations

from ._support import (
    hpo_driver,
    imported_study,
    serving,
    start_dashboard,
    stop,
    wait_for,
)

LOSSES = [3.03973e-06, 0.25, 0.000123456789, 1234567.0, -0.5]
SHOWN = ["3.03973e-06", "0.25", "0.000123457", "1.23457e+06", "-0.5"]


def _imported_study(tmp_path) -> str:
    records = [
        {"tid": i, "state": "done", "params": {"x": 0.1 * (i + 1)},
         "result": {"loss": loss, "status": "ok"}}
        for i, loss in enumerate(LOSSES)
    ]  # fmt: skip
    return imported_study(tmp_path, records)


_HOVER_TEXTS = """
const plot = document.getElementById(arguments[0]);
const done = (plot && plot._fullData || []).find((t) => t.name === 'done');
return done ? Array.from(done.text) : null;
"""


def test_the_dashboard_writes_numbers_as_the_cli_does(tmp_path, browser):
    db = _imported_study(tmp_path)
    best = hpo_driver("best", "--db", db, "--study", "s")
    assert "loss -0.5" in best.stdout, best.stdout
    server, port, _ = start_dashboard("--db", db, "--study", "s")
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for(lambda: serving(server, url), what="dashboard up")
        browser.get(url)
        rows = "#trials tbody tr"
        wait_for(lambda: len(browser.find_elements("css selector", rows)) == 5,
                 what="the 5 trials in the table")  # fmt: skip
        losses = {}
        for row in browser.find_elements("css selector", rows):
            cells = row.find_elements("tag name", "td")
            tid, loss = (c.get_attribute("textContent") for c in cells[:3:2])
            losses[int(tid)] = loss
        assert [losses[i] for i in range(5)] == SHOWN, losses
        assert "best loss -0.5 (trial 4)" in browser.find_element("id", "best").text
        wait_for(lambda: browser.execute_script(_HOVER_TEXTS, "plot-history"),
                 what="the history plot drawn")  # fmt: skip
        hovers = browser.execute_script(_HOVER_TEXTS, "plot-history")
        assert hovers == SHOWN, hovers
    finally:
        stop(server)


def test_the_reports_plots_write_numbers_as_the_cli_does(tmp_path, browser):
    db = _imported_study(tmp_path)
    out = tmp_path / "report.html"
    run = hpo_driver("report", "--db", db, "--study", "s", "--out", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    browser.get(out.as_uri())
    assert "Best: loss -0.5 (trial 4)" in browser.page_source
    plots = browser.execute_script(
        "return Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".map((p) => p.id);"
    )
    texts = [browser.execute_script(_HOVER_TEXTS, plot) for plot in plots]
    assert SHOWN in texts, texts  # the history plot's done trials
