"""``hpo-driver dashboard`` in headless Chromium (selenium) while a real study runs:
the page shows the study and updates as trials finish, without a reload."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from hpo_service.exceptions import StoreNotFoundError, StudyNotFoundError
from hpo_service.store import TrialState, open_store
from tests.e2e.conftest import REPO
from tests.helpers.terminal_signals import as_from_a_terminal

from ._support import (
    dump_dom,
    get,
    serving,
    start,
    start_dashboard,
    stop,
    table_cells,
    up,
    wait_for,
)

STUDY = ["--objective", "tests.insight.objectives:objective",
         "--space", "tests.insight.objectives:space"]  # fmt: skip
#: Where the README's screenshot is written when HPO_DASHBOARD_SCREENSHOT is set.
SCREENSHOT = REPO / "docs" / "dashboard.png"


def finished(db):
    with open_store(db) as store:
        try:
            counts = store.count_by_state("live")
        except StudyNotFoundError:
            return 0
    return counts[TrialState.DONE] + counts[TrialState.ERROR]


def study_exists(db):
    try:
        with open_store(db, create=False) as store:
            store.get_study("live")
    except (StoreNotFoundError, StudyNotFoundError):
        return False
    return True


def text(browser, element_id):
    return browser.find_element("id", element_id).text


def run_live_study(db, max_evals, sleep=0.0):
    """``hpo-driver start`` of study ``live`` up to ``max_evals`` (2 workers, each
    trial sleeping ``sleep`` seconds); a second call resumes the study with a larger
    budget."""
    return start("start", "--db", db, "--study", "live", *STUDY, "--seed", "1",
                 "--max-evals", str(max_evals), "--workers", "2", "--no-progress",
                 env={"HPO_TEST_SLEEP": str(sleep)})  # fmt: skip


def test_dashboard_follows_a_running_study(tmp_path, browser):
    """The page shows the first 30 trials; then the study resumes to 60 while the
    page is open, and the same page (no reload) follows it."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    study = run_live_study(db, 30)
    # the dashboard never creates a database: start it once the study has made one
    wait_for(lambda: study_exists(db), what="the study created")
    server, port, _ = start_dashboard("--db", db)
    try:
        assert study.wait(timeout=300) == 0, study.stderr.read()[-3000:]
        url = f"http://127.0.0.1:{port}/"
        wait_for(lambda: serving(server, url), what="dashboard up")
        browser.get(url)
        wait_for(lambda: text(browser, "study-name") == "live", what="study shown")
        wait_for(lambda: text(browser, "finished-count") == "30",
                 what="the first 30 trials shown")  # fmt: skip
        history = "#plot-history .main-svg"
        wait_for(lambda: browser.find_elements("css selector", history),
                 what="history plot")  # fmt: skip
        assert "trial number" in text(browser, "plot-history")
        page = browser.execute_script("return window.performance.timeOrigin")

        # more trials finish, one by one, while the page is open
        study = run_live_study(db, 60, sleep=0.15)
        assert study.wait(timeout=300) == 0, study.stderr.read()[-3000:]
        wait_for(lambda: int(text(browser, "finished-count")) == 60,
                 what="all 60 trials shown")  # fmt: skip
        wait_for(lambda: text(browser, "budget").strip() == "of 60",
                 what="the resumed study's budget shown")  # fmt: skip
        # the same page (no reload) updated, and shows what the store holds
        assert browser.execute_script("return window.performance.timeOrigin") == page
        assert finished(db) == 60
        points = wait_for(lambda: _history_points(browser) or None, what="points")
        with open_store(db) as store:
            done = store.count_by_state("live")[TrialState.DONE]
        wait_for(lambda: _history_points(browser) == done, what="history redrawn")
        assert points <= done
        if os.environ.get("HPO_DASHBOARD_SCREENSHOT"):
            # the study list polls every 5 s: the picture shows it caught up
            wait_for(lambda: "60/60" in text(browser, "studies"), what="list count")
            browser.execute_script("window.scrollTo(0, 0)")
            SCREENSHOT.parent.mkdir(exist_ok=True)
            browser.save_screenshot(str(SCREENSHOT))
        _check_table(browser)
        console = browser.get_log("browser")
        assert not [e for e in console if e["level"] == "SEVERE"], console
        studies = get(f"http://127.0.0.1:{port}/api/studies")["studies"]
        assert [(s["name"], s["finished"]) for s in studies] == [("live", 60)]
    finally:
        stop(study)
        stop(server)
    assert server.returncode in (0, -signal.SIGTERM), server.stderr.read()[-3000:]


def _history_points(browser):
    """Points plotted as done trials in the history figure (plotly's full data)."""
    return browser.execute_script(
        "const d = document.getElementById('plot-history')._fullData || [];"
        "const t = d.find((t) => t.name === 'done');"
        "return t ? t._length : 0;"
    )


def _check_table(browser):
    rows = browser.find_elements("css selector", "#trials tbody tr")
    assert len(rows) == 60  # one page of 100 holds them all
    states = {r.find_elements("tag name", "td")[1].text for r in rows}
    assert states == {"done", "error"}  # the objective fails for |x| large
    from selenium.webdriver.support.ui import Select

    select = Select(browser.find_element("id", "state-filter"))
    select.select_by_value("error")
    errors = browser.find_elements("css selector", "#trials tbody tr")
    assert errors and all(r.find_elements("tag name", "td")[1].text == "error"
                          for r in errors)  # fmt: skip
    assert any("ValueError" in r.text or "KeyError" in r.text for r in errors)
    select.select_by_value("")
    loss_header = browser.find_element("css selector", "#trials th[data-key=loss]")
    loss_header.click()
    rows = browser.find_elements("css selector", "#trials tbody tr")
    losses = [r.find_elements("tag name", "td")[2].text for r in rows]
    numbers = [float(x) for x in losses if x]
    assert numbers == sorted(numbers) and numbers


def test_the_tables_duration_is_the_objectives_call_as_hpo_driver_trials_says(
    tmp_path, browser
):
    """The table's "duration (s)" of each finished trial (done and error ones) is
    the `duration` of `hpo-driver trials`: the seconds the objective's call took.
    Before, it was the time from start to finish (with the worker's child process
    and the module's import: 1.24 s where the call took 1.1e-05 s), under the same
    name (newuser3's finding)."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    study = start("start", "--db", db, "--study", "live", *STUDY, "--seed", "3",
                  "--max-evals", "12", "--workers", "1", "--no-progress")  # fmt: skip
    assert study.wait(timeout=300) == 0, study.stderr.read()[-3000:]
    exported = start("trials", "--db", db, "--study", "live", "--format", "json")
    records = json.loads(exported.communicate(timeout=120)[0])
    calls = {r["tid"]: (r["result"] or r["error"])["duration"] for r in records}
    assert {r["state"] for r in records} == {"done", "error"}  # both kinds shown
    server, port, _ = start_dashboard("--db", db)
    try:
        table = table_cells(browser, server, port, 12)
        shown = {int(tid): float(cells[4]) for tid, cells in table.items()}
        assert shown == pytest.approx(calls, rel=1e-5)
    finally:
        stop(server)


def test_dashboard_started_before_its_study_warns_and_shows_it_once_created(
    tmp_path, browser
):
    """An operator starts the dashboard beside the driver, so ``--study later`` may
    not exist yet: the dashboard warns (naming the studies the store holds and the
    close ones, so a typo stays visible) and serves; the page shows the study once
    it exists. Before, the command exited 1."""
    path = tmp_path / "hpo.sqlite"
    db = f"sqlite:///{path}"
    with open_store(db) as store:
        store.create_study("mnist", {})
        store.create_study("latter", {})
    server, port, said = start_dashboard("--db", db, "--study", "later")
    try:
        assert said[0] == (
            f"warning: study 'later' not found in SQLite database {path} (it holds: "
            "mnist, latter; did you mean 'latter'?); pass --db (or set HPO_DB) to "
            "use another store. Serving anyway: the page shows 'later' once its "
            "driver creates it\n"
        )
        _banner_until_created(browser, server, db, f"http://127.0.0.1:{port}/")
        assert text(browser, "study-name") == "later"
    finally:
        stop(server)


def test_dashboard_started_before_its_database_serves_and_shows_the_study_once_made(
    tmp_path, browser
):
    """Started beside ``hpo-driver start`` (a script, a compose file), the dashboard
    may come before the driver has created the SQLite file: it warns, serves, and
    its page says why it shows nothing (a 503 with the reason, not logged per
    poll) until the driver creates the database, then shows the study; it creates
    no file itself. Before, the command exited 1 ("no SQLite database at ...")
    where the README says it serves."""
    path = tmp_path / "hpo.sqlite"
    db = f"sqlite:///{path}"
    server, port, said = start_dashboard("--db", db, "--study", "later")
    try:
        reason = f"no SQLite database at {path} (from '{path}')"
        assert said[0].startswith(f"warning: {reason}: start a study there"), said
        assert said[0].endswith(
            ". Serving anyway: the page shows the store's studies once a driver "
            "creates the database\n"
        )
        url = f"http://127.0.0.1:{port}/"
        wait_for(lambda: serving(server, url), what="dashboard up")
        with pytest.raises(urllib.error.HTTPError) as answer:
            get(url + "api/studies")
        assert answer.value.code == 503
        assert json.loads(answer.value.read())["error"].startswith(
            f"cannot read the store: {reason}"
        )
        browser.get(url)
        wait_for(lambda: reason in text(browser, "store-error"),
                 what="the page saying there is no database yet")  # fmt: skip
        assert not path.exists()  # the dashboard created nothing
        with open_store(db, create=True) as store:
            store.create_study("later", {})
        wait_for(lambda: text(browser, "store-error") == ""
                 and "later" in text(browser, "studies"),
                 what="the study listed once the database exists")  # fmt: skip
        assert text(browser, "study-name") == "later"
    finally:
        stop(server)
    logged = server.stderr.read()
    assert "cannot read the store" not in logged, logged


def test_figures_a_study_cannot_draw_yet_say_why_until_they_can(tmp_path, browser):
    """A study whose every trial failed: in the dashboard each figure that needs
    completed trials says why in its place, once for its pair (parallel and slice,
    importance and contour; they were empty framed boxes), and the report says the
    same in its notes; once the study resumes with trials that complete, the same
    page draws the figures in place of the notes."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    space = ["--space", "tests.e2e.objectives:space", "--seed", "1", "--workers", "1",
             "--no-progress", "--db", db, "--study", "live"]  # fmt: skip
    failing = start("start", *space, "--max-evals", "3",
                    "--objective", "tests.helpers.objectives:raises")  # fmt: skip
    assert failing.wait(timeout=300) == 1, failing.stderr.read()[-3000:]  # none ok
    why_parallel = (
        "No parallel coordinates or slices: they draw completed (done) "
        "trials, and the study has none yet (not used: 3 error)."
    )
    why_importance = ("No parameter importance or contour: they need at least 4 "
                      "completed (done) trials with distinct losses, and the study "
                      "has 0 done (not used: 3 error).")  # fmt: skip
    out = tmp_path / "report.html"
    run = subprocess.run(
        [sys.executable, "-m", "hpo_service.driver.cli", "report", "--db", db,
         "--study", "live", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    page = out.read_text()
    assert 'id="section-parallel"' not in page and 'id="section-slice"' not in page
    assert why_parallel in page and why_importance in page
    assert "Best: none: no trial of the 3 finished succeeded" in page  # not "yet"

    server, port, _ = start_dashboard("--db", db)
    resumed = None
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for(lambda: serving(server, url), what="dashboard up")
        browser.get(url + "#live")
        wait_for(lambda: text(browser, "plot-parallel") == why_parallel,
                 what="why no parallel coordinates")  # fmt: skip
        wait_for(lambda: text(browser, "plot-importance") == why_importance,
                 what="why no importance")  # fmt: skip
        assert text(browser, "best") == (
            "no best trial: none of the 3 finished succeeded"  # not "yet"
        )
        for name in ("slice", "contour"):  # the same note is not shown twice
            element = browser.find_element("id", f"plot-{name}")
            assert not element.is_displayed(), name
        resumed = start("start", *space, "--max-evals", "8", "--override",
                        "--objective", "tests.e2e.objectives:quadratic")  # fmt: skip
        assert resumed.wait(timeout=300) == 0, resumed.stderr.read()[-3000:]
        for name in ("parallel", "slice", "importance", "contour"):
            wait_for(lambda n=name: browser.find_elements(
                "css selector", f"#plot-{n}.plot:not(.note) .main-svg"),
                what=f"{name} drawn")  # fmt: skip
            assert "No " not in text(browser, f"plot-{name}")[:3], name
    finally:
        if resumed is not None:
            stop(resumed)
        stop(server)


def test_dashboard_warns_on_other_interfaces(tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    open_store(db).close()  # an empty store (read commands never create one)
    server, port, said = start_dashboard(
        "--db", db, "--host", "0.0.0.0", "--allow-host", "studies.lab"
    )
    try:
        line, address = said  # the warning, then an address a browser can open
        assert "warning" in line and "0.0.0.0" in line and f"port {port} " in line
        assert "http://0.0.0.0" not in address
        assert (
            f"dashboard listens on all interfaces (--host 0.0.0.0, port {port}): open "
            f"http://localhost:{port}/ on this machine, or http://studies.lab:{port}/"
        ) in address
        wait_for(lambda: up(f"http://localhost:{port}/"), what="dashboard up")
    finally:
        stop(server)


def test_studies_api_lists_nothing_for_an_empty_store(tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    open_store(db).close()  # read commands never create a store
    server, port, _ = start_dashboard("--db", db)
    try:
        wait_for(lambda: up(f"http://127.0.0.1:{port}/"), what="dashboard up")
        assert get(f"http://127.0.0.1:{port}/api/studies") == {"studies": []}
        with pytest.raises(urllib.error.HTTPError) as e:
            get(f"http://127.0.0.1:{port}/api/studies/nope/changes?cursor=0")
        assert e.value.code == 404
    finally:
        stop(server)


def test_a_store_that_fails_answers_503_and_the_page_says_why(tmp_path, browser):
    path = tmp_path / "hpo.sqlite"
    db = f"sqlite:///{path}"
    with open_store(db) as store:
        store.create_study("s", {})
    server, port, _ = start_dashboard("--db", db)
    base = f"http://127.0.0.1:{port}/api/studies"
    try:
        wait_for(lambda: serving(server, base), what="dashboard up")
        for suffix in ("-wal", "-shm", ""):  # the database is gone
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        for url in (base, f"{base}/s/changes?cursor=0"):
            with pytest.raises(urllib.error.HTTPError) as e:
                get(url)
            assert e.value.code == 503, url
            assert str(path) in json.loads(e.value.read())["error"], url
        shown = "!document.getElementById('store-error').hidden"
        dom = dump_dom(browser, f"http://127.0.0.1:{port}/", ready=shown)
    finally:
        stop(server)
    banner = re.search(r'<p id="store-error"[^>]*>(.*?)</p>', dom, re.S)
    assert banner and "cannot read the store" in banner.group(1), dom[:3000]
    assert "hidden" not in banner.group(0), banner.group(0)
    errors = server.stderr.read()
    assert "Traceback" not in errors and str(path) in errors, errors


def test_a_study_not_in_the_store_is_named_on_the_page_until_it_appears(
    tmp_path, browser
):
    """A link to a study the store does not hold (a typo, or a study its driver has
    not created yet) says so on the page instead of an empty study; once the study
    exists, the message goes and its trials show."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    with open_store(db) as store:
        store.create_study("other", {})
    server, port, _ = start_dashboard("--db", db)
    try:
        _banner_until_created(browser, server, db, f"http://127.0.0.1:{port}/#later")
    finally:
        stop(server)


def test_a_missing_study_is_asked_for_once_not_at_every_poll(tmp_path, browser):
    """The page of a study the store lacks asked for its changes every second: each
    answer a 404, which Chromium logs as an error, with a console warning beside
    it. It now asks once, and again only when the studies' list holds the study."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    with open_store(db) as store:
        store.create_study("other", {})
    server, port, _ = start_dashboard("--db", db)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: serving(server, f"{base}/api/studies"), what="dashboard up")
        dump_dom(browser, f"{base}/#later",
                 ready="!document.getElementById('study-error').hidden")  # fmt: skip
        asked = "return performance.getEntriesByType('resource').map((e) => e.name)"

        def fetched(path):
            return [u for u in browser.execute_script(asked) if u == base + path]

        # the studies' list is read every 5 s: 3 reads span 10 s, 10 polls of old
        wait_for(lambda: len(fetched("/api/studies")) >= 3, what="3 list reads")
        assert len(fetched("/api/studies/later/changes?cursor=0")) == 1
        logged = browser.get_log("browser")
        assert [e["source"] for e in logged] == ["network"], logged  # the one 404
        with open_store(db) as store:
            store.create_study("later", {})
        shown = "return !document.getElementById('study-error').hidden"
        wait_for(lambda: not browser.execute_script(shown), what="the message gone")
    finally:
        stop(server)


def _banner_until_created(browser, server, db, page):
    """Open ``page`` of the dashboard ``server`` (over store ``db``) for study
    'later', which the store lacks: the page names it as missing until it is
    created, then the message goes."""
    shown = "!document.getElementById('study-error').hidden"
    base = page.split("#")[0].rstrip("/")
    wait_for(lambda: serving(server, f"{base}/api/studies"), what="dashboard up")
    dom = dump_dom(browser, page, ready=shown)
    banner = re.search(r'<p id="study-error"[^>]*>(.*?)</p>', dom, re.S)
    assert banner and "no study named 'later' in this store" in banner.group(1)
    with open_store(db) as store:
        store.create_study("later", {})
    wait_for(lambda: browser.execute_script(f"return !({shown})"),
             what="the message gone once the study exists")  # fmt: skip
    assert text(browser, "study-error") == ""


def _status(port, host_header):
    """The status of ``GET /api/studies`` sent to 127.0.0.1 with this Host header."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("GET", "/api/studies", skip_host=True)
        conn.putheader("Host", host_header)
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("flags", "answered", "refused"),
    [
        ([], ["localhost", "127.0.0.1", "[::1]"], ["rebound.example", "10.0.0.5"]),
        (["--allow-host", "Studies.Lab", "--allow-host", "::2"],
         ["localhost", "studies.lab", "[::2]"], ["rebound.example"]),
        (["--allow-host", "*"], ["rebound.example", "localhost"], []),
    ],
)  # fmt: skip
def test_dashboard_answers_only_requests_that_name_an_allowed_host(
    tmp_path, flags, answered, refused
):
    """DNS rebinding: a page of another site that resolves its own name to
    127.0.0.1 sends that name as Host; the dashboard refuses it (400)."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    open_store(db).close()
    server, port, _ = start_dashboard("--db", db, *flags)
    try:
        wait_for(lambda: up(f"http://127.0.0.1:{port}/"), what="dashboard up")
        for name in answered:
            assert _status(port, f"{name}:{port}") == 200, name
        for name in refused:
            assert _status(port, f"{name}:{port}") == 400, name
            assert _status(port, name) == 400, name
    finally:
        stop(server)


def test_allow_host_with_a_port_is_a_clear_error(tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    open_store(db).close()
    run = subprocess.run(
        [sys.executable, "-m", "hpo_service.driver.cli", "dashboard", "--db", db,
         "--allow-host", "lab:8765", "--port", "0"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 2 and "--allow-host=lab:8765" in run.stderr


@pytest.mark.parametrize("case", ["port in use", "unknown host"])
def test_a_port_in_use_or_an_unknown_host_is_one_clear_line(tmp_path, case):
    """The dashboard says which --host/--port it cannot serve on, and why, in one
    line (exit 1), before announcing any URL or warning about exposure."""
    import socket

    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    open_store(db).close()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        host = "127.0.0.1" if case == "port in use" else "no-such-host.invalid"
        run = subprocess.run(
            [sys.executable, "-m", "hpo_service.driver.cli", "dashboard", "--db", db,
             "--host", host, "--port", str(port)],
            cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert run.returncode == 1, run.stderr
    error = [line for line in run.stderr.splitlines() if "rror" in line]
    assert len(error) == 1 and error[0].startswith("Error: "), run.stderr
    assert f"--host={host}" in error[0] and f"--port={port}" in error[0], error
    why = "already in use" if case == "port in use" else "not known"
    assert why in error[0], error
    assert "dashboard on http" not in run.stderr and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == error  # no exposure warning before it


def test_ctrl_c_stops_the_dashboard_saying_so(tmp_path):
    """Ctrl-C, the way the 'dashboard on' line says to stop it, ended with click's
    "Aborted!" and exit status 1 (uvicorn shuts down, then raises the signal again)."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    with open_store(db) as store:
        store.create_study("s", {})
    with as_from_a_terminal():  # SIGINT not ignored, even under `pytest &`
        server, port, _ = start_dashboard("--db", db)
    try:
        wait_for(lambda: serving(server, f"http://127.0.0.1:{port}/"), what="up")
        os.kill(server.pid, signal.SIGINT)
        server.wait(timeout=60)
        err = server.stderr.read()
    finally:
        stop(server)
    assert server.returncode == 128 + signal.SIGINT, err
    assert err.strip().splitlines()[-1] == "dashboard stopped (Ctrl-C)", err
    assert "Aborted!" not in err and "Traceback" not in err
