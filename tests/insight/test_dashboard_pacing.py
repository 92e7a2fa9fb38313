"""The dashboard stays usable while a big study changes: redraws are paced by what
drawing costs in the browser, not only by the study's size."""

from __future__ import annotations

import threading

import numpy as np

from hpo_service import hp
from hpo_service.driver._study import space_settings
from hpo_service.space import compile_space, sample_params, space_eval
from hpo_service.store import FinishedTrial, open_store

from ._support import serving, start_dashboard, stop, wait_for

SPACE = {"x": hp.uniform("x", -5, 5), "y": hp.loguniform("y", -5, 0)}
DRAW_MS = 500  # what one Plotly.react costs in the browser below


def finish(store, rng, n):
    compiled = compile_space(SPACE)
    points = [sample_params(compiled, rng) for _ in range(n)]
    store.insert_finished("live", [
        FinishedTrial(p, space_eval(SPACE, p), {"loss": p["x"] ** 2, "status": "ok"})
        for p in points
    ])  # fmt: skip


SLOW_PLOTLY = f"""
window.__draws = 0; window.__drawMs = 0; window.__t0 = performance.now();
const react = Plotly.react;
Plotly.react = function (...args) {{
  const t = performance.now();
  while (performance.now() - t < {DRAW_MS}) {{}}  // a big figure on a slow machine
  window.__draws += 1; window.__drawMs += performance.now() - t;
  return react.apply(this, args);
}};
"""


def test_redraws_take_a_bounded_share_of_the_page_while_trials_arrive(
    tmp_path, browser
):
    """With every figure costing 500 ms to draw and trials finishing all the time,
    the page used to redraw its 3 cheap figures at every 1 s poll and so was
    always busy (clicks waited seconds); it now waits 4 times its last drawing
    time between two redraws of a group, so drawing takes at most about a fifth
    of the page's time."""
    db = f"sqlite:///{tmp_path / 'live.sqlite'}"
    rng = np.random.default_rng(0)
    with open_store(db) as store:
        store.create_study("live", {**space_settings(SPACE), "max_evals": 100000})
        finish(store, rng, 50)
    server, port, _ = start_dashboard("--db", db, "--study", "live")
    stop_writing = threading.Event()

    def keep_finishing():
        with open_store(db) as store:
            while not stop_writing.wait(0.3):
                finish(store, rng, 5)

    writer = threading.Thread(target=keep_finishing)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for(lambda: serving(server, url), what="dashboard up")
        browser.get(url + "#live")
        browser.execute_script(SLOW_PLOTLY)
        writer.start()
        wait_for(
            lambda: browser.execute_script(
                "return performance.now() - window.__t0 > 16000 && window.__draws >= 3"
            ),
            timeout=300,
            what="16 s of the page's time and 3 redraws",
        )
        draws, share = browser.execute_script(
            "return [window.__draws,"
            " window.__drawMs / (performance.now() - window.__t0)];"
        )
    finally:
        stop_writing.set()
        if writer.is_alive():
            writer.join()
        stop(server)
    assert share <= 0.35, (draws, share)
