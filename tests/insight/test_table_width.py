"""The dashboard's trials table fits the window in headless Chromium: long cells
(parameters, worker names, error messages) are cut with an ellipsis, their whole
text in the cell's title, and the page never scrolls sideways. At a 1,400 px window
the table was wider than the page (a horizontal scrollbar)."""

from __future__ import annotations

import pytest

from hpo_service.store import NewTrial, open_store

from ._support import dump_dom, start_dashboard, stop, up, wait_for

#: Window widths: the browser fixture's, and a narrow laptop's.
WIDTHS = (1400, 1024)
_ERROR = "ValueError: " + "the objective could not read its configuration " * 4


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    """Study ``wide``: 12 trials with long parameter names and values, every third
    one failed with a long message, claimed by a worker with a long name."""
    url = f"sqlite:///{tmp_path_factory.mktemp('wide') / 'hpo.sqlite'}"
    with open_store(url) as store:
        store.create_study("wide", {"max_evals": 12})
        for i in range(12):
            params = {f"a_rather_long_parameter_name_{k}": i + k / 7 for k in range(6)}
            params["optimizer"] = "stochastic_gradient_descent_with_momentum"
            (tid,) = store.insert_trials("wide", [NewTrial(params, params)])
            trial = store.claim("worker-on-a-host-with-a-long-name-" + "x" * 30, 60.0,
                                study="wide")  # fmt: skip
            if i % 3 == 2:
                error = {"type": "ValueError", "message": _ERROR[12:]}
                store.fail("wide", tid, trial.token, error)
            else:
                store.complete("wide", tid, trial.token, {"loss": 1.0 / (i + 1),
                                                          "status": "ok"})  # fmt: skip
    return url


@pytest.fixture(scope="module")
def page(db):
    """The dashboard's page of study ``wide`` (one server for the module)."""
    server, port, _ = start_dashboard("--db", db, "--study", "wide")
    try:
        wait_for(lambda: up(f"http://127.0.0.1:{port}/"), what="dashboard up")
        yield f"http://127.0.0.1:{port}/#wide"
    finally:
        stop(server)


_FITS = """
const page = document.documentElement;
const box = document.querySelector('main').getBoundingClientRect();
const table = document.getElementById('trials').getBoundingClientRect();
const cut = [...document.querySelectorAll('#trials tbody td')]
  .filter((td) => td.scrollWidth > td.clientWidth);
return {scroll: page.scrollWidth, client: page.clientWidth,
        table_right: table.right, main_right: box.right,
        cut: cut.length, titled: cut.every((td) => td.title === td.textContent),
        error_cut: cut.some((td) => td.textContent.startsWith('ValueError: the'))};
"""


@pytest.mark.parametrize("width", WIDTHS)
def test_the_trials_table_fits_the_window(page, browser, width):
    browser.set_window_size(width, 1500)
    try:
        rows = "document.querySelectorAll('#trials tbody tr').length === 12"
        dump_dom(browser, page, ready=rows)
        fits = browser.execute_script(_FITS)
    finally:
        browser.set_window_size(1400, 1500)  # the session's size, for other tests
    assert fits["scroll"] <= fits["client"] == width, fits  # no sideways scroll
    assert fits["table_right"] <= fits["main_right"] + 0.5, fits
    # long cells are cut, and hovering one shows its whole text
    assert fits["cut"] and fits["error_cut"] and fits["titled"], fits
