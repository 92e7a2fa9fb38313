"""The worker timeline of a study that was stopped and resumed a day later: the
trials on either side of the day keep readable bars in the report and on the
dashboard. Before, the day took the whole time axis and each 60 s trial was
drawn under a pixel wide."""

from __future__ import annotations

import re
import time
import types

import pytest

import hpo_service.store._sqlite as sqlite_store
from hpo_service.insight import StudyData, write_report
from hpo_service.store import NewTrial, open_store

from ._support import start_dashboard, stop, up, wait_drawn, wait_for

STUDY = "resumed"
START = 1_767_607_200.0  # 2026-01-05 10:00 UTC
RESUMED = START + 26 * 3600  # the next day, 12:00
TRIAL = 60.0  # seconds each trial runs


def write_study(url: str, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Two workers, 20 trials of 60 s at ``START``, 20 more at ``RESUMED``: each
    claimed and completed through the store while its clock reads the time the
    trial started, then ended. Returns each trial's start, by tid."""
    clock = {"now": START}
    shim = types.SimpleNamespace(**{n: getattr(time, n) for n in dir(time)
                                    if not n.startswith("_")})  # fmt: skip
    shim.time = lambda: clock["now"]
    monkeypatch.setattr(sqlite_store, "time", shim)
    starts = []
    with open_store(url) as store:
        store.create_study(STUDY, {})
        for session in (START, RESUMED):
            for i in range(20):
                (tid,) = store.insert_trials(STUDY, [NewTrial({"x": i}, {"x": i})])
                clock["now"] = session + (i // 2) * TRIAL
                trial = store.claim(f"w{i % 2}", 600.0, study=STUDY)
                assert trial is not None and trial.tid == tid
                clock["now"] += TRIAL
                result = {"loss": float(i), "status": "ok"}
                assert store.complete(STUDY, tid, trial.token, result)
                starts.append(session + (i // 2) * TRIAL)
    monkeypatch.undo()
    with open_store(url) as store:
        trials = store.get_trials(STUDY)
    assert [t.started_at for t in trials] == starts  # the store kept those times
    return starts


#: The timeline as drawn: its title, and per trace its name and the x extent of
#: each segment of its SVG path (one bar per segment), in pixels.
_DRAWN = """
const div = document.getElementById('plot-timeline');
if (!div || !div.querySelector('.gtitle')) return null;
const traces = [...div.querySelectorAll('.scatterlayer .trace')];
return [div.querySelector('.gtitle').textContent,
        traces.map((t, i) => [div._fullData[i].name,
                              [...t.querySelectorAll('path.js-line')]
                                .map((p) => p.getAttribute('d')).join('')])];
"""


def bars(path: str) -> list[tuple[float, float]]:
    """``(left, right)`` of each segment ``Mx,yLx,y...`` of an SVG path."""
    segments = [s for s in path.split("M") if s]
    xs = [[float(p.split(",")[0]) for p in re.split("L", s)] for s in segments]
    return [(min(x), max(x)) for x in xs]


def check_timeline(browser) -> None:
    title, traces = wait_for(
        lambda: browser.execute_script(_DRAWN), what="the timeline drawn"
    )
    assert "1 idle stretch" in title and "cut from the time axis" in title, title
    (done,) = [bars(path) for name, path in traces if name == "done"]
    assert len(done) == 40, traces
    widths = sorted(right - left for left, right in done)
    assert widths[0] >= 4, widths  # each 60 s trial a visible bar
    # bars are by worker, then start: w0's 10 and 10, then w1's; the day after
    # sits right of the first day, not over it
    first, second = done[0:10] + done[20:30], done[10:20] + done[30:40]
    assert min(left for left, _ in second) >= max(right for _, right in first) - 1


def test_a_resumed_studys_timeline_in_the_report(tmp_path, browser, monkeypatch):
    url = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    write_study(url, monkeypatch)
    with open_store(url) as store:
        data = StudyData.from_store(store, STUDY)
    out = tmp_path / "resumed.html"
    write_report(data, out)
    browser.get(out.as_uri())
    wait_drawn(browser, "timeline")
    check_timeline(browser)


def test_a_resumed_studys_timeline_on_the_dashboard(tmp_path, browser, monkeypatch):
    url = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    write_study(url, monkeypatch)
    server, port, _ = start_dashboard("--db", url, "--study", STUDY)
    try:
        page = f"http://127.0.0.1:{port}/"
        wait_for(lambda: up(page), what="dashboard up")
        browser.get(page)
        check_timeline(browser)
    finally:
        stop(server)
